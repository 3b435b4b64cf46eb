"""`sswctl strip`: only what `wg setconf` understands; errors exit 2 and print nothing on stdout."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from sswctl import config
from sswctl.cli import cli
from sswctl.errors import UsageError
from sswctl.paths import config_file
from tests.conftest import DATA, REPO
from tests.unit.test_config import BAD

WG_KEYS = {
    "privatekey",
    "listenport",
    "fwmark",
    "publickey",
    "presharedkey",
    "allowedips",
    "endpoint",
    "persistentkeepalive",
}


def keys_in(text: str) -> set[str]:
    found = set()
    for line in text.splitlines():
        content = line.split("#", 1)[0].strip()
        if content and not content.startswith("["):
            found.add(content.split("=", 1)[0].strip().lower())
    return found


def test_strip_leaves_only_wg_keys_and_keeps_names_as_comments():
    path = REPO / "conf" / "server.conf"
    result = CliRunner().invoke(cli, ["strip", str(path)])
    assert result.exit_code == 0, result.output
    assert keys_in(result.output) <= WG_KEYS
    assert "# Name = example-client" in result.output
    assert "Address" not in result.output and "Protocol" not in result.output
    # Nothing lost that wg setconf would use:
    full = config.load_config(str(path))
    stripped = config.parse_config(result.output, "stripped", config.SETCONF)
    assert stripped.peers == full.peers and stripped.private_key == full.private_key


def test_strip_extensions_keeps_protocol_and_cipher():
    path = DATA / "configs" / "17-secureswift-extensions.conf"
    out = CliRunner().invoke(cli, ["strip", "--extensions", str(path)]).output
    assert "Protocol = secureswift" in out and "Cipher = aes-256-gcm" in out
    assert "Address" not in out


def test_strip_bad_config_exits_2_with_file_line_message_and_no_output(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("[Interface]\nListenPort = 51820\nAddress = 10.0.0.1/24\nListenPort = 99999\n")
    proc = subprocess.run([sys.executable, "-m", "sswctl", "strip", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == f"{bad}:4: port 99999 out of range (0-65535)\n"
    assert proc.stdout == ""


def test_strip_missing_file_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["strip", str(tmp_path / "missing.conf")])
    assert result.exit_code == 2


def test_interface_name_means_the_config_directory(tmp_path, monkeypatch):
    assert config_file("ssw0") == "/etc/secureswift/ssw0.conf"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ssw0").write_text("")
    assert config_file("ssw0") == "ssw0"  # an existing file wins, as in wg-quick
    assert config_file("./x/y.conf") == "./x/y.conf"


def test_unreadable_paths_are_usage_errors():
    for bad in ("nul\x00in-path", "/"):
        with pytest.raises(UsageError):
            config.load_config(bad)


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_every_malformed_config_exits_2_naming_file_and_line(tmp_path, case):
    text, line, message = BAD[case]
    path = tmp_path / "bad.conf"
    path.write_bytes(text.encode())
    result = CliRunner().invoke(cli, ["strip", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"{path}:{line}: {message}"), result.output
    assert result.output.count("\n") == 1  # the one error line and nothing on stdout
