"""Keys: byte-for-byte what wireguard-tools produces, checked against the real wg."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sswctl import keys
from sswctl.cli import cli
from sswctl.errors import KeyFormatError
from tests.conftest import need_binary

SSWCTL = [sys.executable, "-m", "sswctl"]


@pytest.fixture(scope="module")
def wg() -> str:
    return need_binary("wg")


def wg_pubkey(wg: str, private_b64: str) -> str:
    return subprocess.run(
        [wg, "pubkey"], input=private_b64 + "\n", capture_output=True, text=True, check=True
    ).stdout.strip()


def test_rfc7748_vector():
    # RFC 7748 section 6.1: Alice's private key and public key.
    priv = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    pub = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert keys.public_key(priv) == pub


def test_genkey_pubkey_matches_wg_for_100_keys(wg):
    runner = CliRunner()
    for _ in range(100):
        gen = runner.invoke(cli, ["genkey"])
        assert gen.exit_code == 0, gen.output
        private_b64 = gen.output.strip()
        ours = runner.invoke(cli, ["pubkey"], input=gen.output)
        assert ours.exit_code == 0, ours.output
        assert ours.output == wg_pubkey(wg, private_b64) + "\n"


def test_genkey_pipe_pubkey_as_real_processes(wg):
    for _ in range(3):
        gen = subprocess.run([*SSWCTL, "genkey"], capture_output=True, check=True)
        pub = subprocess.run([*SSWCTL, "pubkey"], input=gen.stdout, capture_output=True, check=True)
        assert pub.stdout.decode().strip() == wg_pubkey(wg, gen.stdout.decode().strip())
        assert pub.stderr == b""


def test_genkey_output_is_clamped_and_wg_genkey_output_is_accepted(wg):
    for _ in range(20):
        key = base64.b64decode(CliRunner().invoke(cli, ["genkey"]).output)
        assert len(key) == 32 and key[0] & 7 == 0 and key[31] & 0xC0 == 0x40
        theirs = subprocess.run([wg, "genkey"], capture_output=True, text=True, check=True).stdout
        ours = CliRunner().invoke(cli, ["pubkey"], input=theirs)
        assert ours.output.strip() == wg_pubkey(wg, theirs.strip())


def test_pubkey_of_unclamped_key_matches_wg(wg):
    # wg clamps inside pubkey too, so an unclamped 32-byte secret gives the same answer.
    raw = bytes([0xFF] * 32)
    b64 = base64.b64encode(raw).decode()
    assert CliRunner().invoke(cli, ["pubkey"], input=b64).output.strip() == wg_pubkey(wg, b64)


def test_genpsk_is_32_random_bytes():
    seen = {CliRunner().invoke(cli, ["genpsk"]).output for _ in range(50)}
    assert len(seen) == 50
    assert all(len(base64.b64decode(s.strip(), validate=True)) == 32 for s in seen)


def test_pubkey_reads_file_argument(tmp_path, wg):
    priv = keys.to_base64(keys.generate_private_key())
    path = tmp_path / "private.key"
    path.write_text(priv + "\n")
    result = subprocess.run([*SSWCTL, "pubkey", str(path)], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == wg_pubkey(wg, priv)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not a key",
        "AAAA",
        # 33 bytes of base64 (wrong length)
        base64.b64encode(bytes(33)).decode(),
        # 31 bytes
        base64.b64encode(bytes(31)).decode(),
        # right length, character outside the alphabet
        "!" + base64.b64encode(bytes(32)).decode()[1:],
        # trailing garbage after the key
        base64.b64encode(bytes(32)).decode() + " extra",
    ],
)
def test_invalid_key_input_exits_2_with_clear_message(bad):
    result = subprocess.run([*SSWCTL, "pubkey"], input=bad.encode(), capture_output=True)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.startswith("sswctl: ") and ("key" in err)
    assert result.stdout == b""
    if len(bad) > 8:
        assert bad not in err  # key material is never echoed


def test_pubkey_missing_file_exits_2(tmp_path):
    result = subprocess.run([*SSWCTL, "pubkey", str(tmp_path / "nope")], capture_output=True)
    assert result.returncode == 2


def test_from_base64_rejects_what_wg_rejects():
    good = keys.to_base64(bytes(range(32)))
    assert keys.from_base64(good) == bytes(range(32))
    non_canonical = good[:-2] + chr(ord(good[-2]) + 1) + "="  # stray low bits in the last character
    for bad in (good[:-1], good + "=", good[:-1] + "A", good.replace("=", ""), " " + good, non_canonical):
        with pytest.raises(KeyFormatError):
            keys.from_base64(bad)


@pytest.mark.parametrize("command", ["genkey", "genpsk"])
def test_world_accessible_warning_is_the_same_as_wg(tmp_path, wg, command):
    """Same stderr as wg when stdout is a file others can read, nothing when umask is 077."""

    def run(argv, umask):
        out = tmp_path / f"out-{umask:o}"
        out.unlink(missing_ok=True)
        with open(out, "wb") as f:  # created under the test's umask below
            os.chmod(out, 0o666 & ~umask)
            proc = subprocess.run(argv, stdout=f, stderr=subprocess.PIPE)
        assert proc.returncode == 0
        return proc.stderr.decode(), out.read_text().strip()

    ours, key = run([*SSWCTL, command], 0o022)
    theirs, _ = run([wg, command], 0o022)
    assert ours == theirs != ""
    assert len(base64.b64decode(key)) == 32
    assert run([*SSWCTL, command], 0o077)[0] == ""


def test_write_secret_file_is_0600_even_with_a_permissive_umask(tmp_path):
    path = tmp_path / "secret.key"
    old = os.umask(0)
    try:
        keys.write_secret_file(str(path), "abc\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        path.chmod(0o644)
        keys.write_secret_file(str(path), b"def\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b"def\n"


def test_read_key_file_empty_means_remove(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    assert keys.read_key_file(str(empty)) == bytes(32)
    assert keys.read_key_file("/dev/null") == bytes(32)
    full = tmp_path / "k"
    full.write_text(keys.to_base64(b"\x01" * 32) + "\n")
    assert keys.read_key_file(str(full)) == b"\x01" * 32
