"""The `sswctl` command line against the real module: every command a user runs on a
kernel interface, and the issue's full configuration sizes through setconf/showconf."""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import link_exists, load_module, run, unique

from sswctl import keys
from sswctl.config import SETCONF, parse_config, write_config
from sswctl.model import Cipher, Device, Endpoint, Peer, Protocol

SSWCTL = str(Path(sys.executable).with_name("sswctl"))
net = ipaddress.ip_network


def sswctl(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    cp = subprocess.run([SSWCTL, *args], capture_output=True, text=True, input=stdin)
    print(f"[sswctl {args[0]}: {time.monotonic() - t0:.1f} s]")
    if check and cp.returncode != 0:
        raise AssertionError(f"sswctl {' '.join(args)} exited {cp.returncode}: {cp.stderr.strip()}")
    return cp


@pytest.fixture
def iface():
    """A name for an interface `sswctl create` makes; deleted after the test if still there."""
    load_module()
    name = unique("sswc")
    yield name
    if link_exists(name):
        run("ip", "link", "del", name, check=False)


def canonical(text: str) -> tuple[dict, dict]:
    """A wg-format config as (interface fields, {public key: peer fields}), allowed IPs sorted.

    Plain text handling, not the config parser: the big round trips below compare 65,536
    allowed IPs, and parsing them twice more under emulation would dominate the suite.
    Unset and zero/off values are dropped, as showconf omits them.
    """
    sections: list[dict] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            sections.append({"": line})
            continue
        k, sep, v = line.partition(" = ")
        assert sep and sections, f"not a config line: {raw!r}"
        if v in ("0", "off"):
            continue
        sections[-1][k] = tuple(sorted(v.split(", "))) if k == "AllowedIPs" else v
    assert sections and sections[0][""] == "[Interface]"
    peers = {p["PublicKey"]: p for p in sections[1:]}
    assert len(peers) == len(sections) - 1, "duplicate peer"
    return sections[0], peers


def test_create_set_show_showconf_destroy_with_the_kernel_backend(iface, tmp_path):
    # Every sswctl start costs seconds under emulation: few calls, each checking a lot.
    sswctl("create", iface, "--backend", "kernel", "--protocol", "secureswift", "--cipher", "aes-256-gcm",
           "--listen-port", "51820")
    assert "secureswift" in run("ip", "-d", "link", "show", "dev", iface).stdout
    priv_key, psk_key = keys.generate_private_key(), os.urandom(32)
    priv = tmp_path / "priv"
    priv.write_text(keys.to_base64(priv_key) + "\n")
    psk = tmp_path / "psk"
    psk.write_text(keys.to_base64(psk_key) + "\n")
    peer_pub = keys.to_base64(keys.public_key(keys.generate_private_key()))
    our_pub = keys.to_base64(keys.public_key(keys.clamp(priv_key)))
    sswctl("set", iface, "private-key", str(priv), "fwmark", "0x42",
           "peer", peer_pub, "preshared-key", str(psk), "endpoint", "192.0.2.7:4500",
           "allowed-ips", "10.7.0.0/16,fd07::/48", "persistent-keepalive", "25")

    # wg show's dump format: interface line, then one line per peer
    iface_line, peer_line = sswctl("show", iface, "dump").stdout.splitlines()
    assert iface_line.split("\t") == [keys.to_base64(keys.clamp(priv_key)), our_pub, "51820", "0x42"]
    f = peer_line.split("\t")
    assert f[:4] == [peer_pub, keys.to_base64(psk_key), "192.0.2.7:4500", "10.7.0.0/16,fd07::/48"]
    assert f[4:] == ["0", "0", "0", "25"]  # no handshake, no transfer yet
    pretty = sswctl("show", iface).stdout
    assert f"interface: {iface}" in pretty and f"peer: {peer_pub}" in pretty
    assert "persistent keepalive: every 25 seconds" in pretty
    status = sswctl("status", iface).stdout
    assert "kernel" in status and "aes-256-gcm" in status

    d = parse_config(sswctl("showconf", iface).stdout, mode=SETCONF)
    assert d.private_key == keys.clamp(priv_key)
    assert (d.listen_port, d.fwmark, d.protocol, d.cipher) == (51820, 0x42, Protocol.SECURESWIFT,
                                                                Cipher.AES_256_GCM)
    (p,) = d.peers
    assert keys.to_base64(p.public_key) == peer_pub and p.preshared_key == psk_key
    assert p.endpoint == Endpoint("192.0.2.7", 4500) and p.persistent_keepalive == 25

    assert sswctl("set", iface, "listen-port", "70000", check=False).returncode == 2  # usage error
    sswctl("set", iface, "peer", peer_pub, "remove")
    (iface_line,) = sswctl("show", iface, "dump").stdout.splitlines()
    assert iface_line.split("\t")[2] == "51820"

    sswctl("destroy", iface)
    assert not link_exists(iface)
    assert sswctl("show", iface, check=False).returncode == 1


# --- the sizes, through the command line -------------------------------------------

def big_config(n_peers: int, n_aips: int, rng: random.Random) -> Device:
    d = Device(private_key=keys.clamp(rng.randbytes(32)), listen_port=51000, fwmark=0,
               protocol=Protocol.SECURESWIFT, cipher=Cipher.CHACHA20_POLY1305)
    for i in range(n_peers):
        aips = []
        for j in range(n_aips):
            if n_peers == 1 and j % 2:
                aips.append(net((0xFD00 << 112 | j << 64, 64)))
            elif j % 5 == 4:
                aips.append(net(f"fd00:{i:x}:{j:x}::/64"))
            else:
                aips.append(net((0x0A000000 + (i * n_aips + j) * 4, 30)))
        d.peers.append(Peer(public_key=rng.randbytes(32), preshared_key=rng.randbytes(32) if i % 2 else None,
                            endpoint=Endpoint(f"192.0.2.{i % 250 + 1}", 1000 + i),
                            persistent_keepalive=i % 30, allowed_ips=aips))
    return d


def setconf_showconf(iface: str, conf: Device, tmp_path) -> tuple[str, str, float, float]:
    path = tmp_path / "big.conf"
    text = write_config(conf)
    path.write_text(text)
    t0 = time.monotonic()
    sswctl("setconf", iface, str(path))
    t1 = time.monotonic()
    shown = sswctl("showconf", iface).stdout
    t2 = time.monotonic()
    return text, shown, t1 - t0, t2 - t1


@pytest.mark.parametrize("n_peers,n_aips", [(1000, 50), (1, 65536)], ids=["1000x50", "1x65536"])
def test_setconf_showconf_full_size_round_trip(iface, tmp_path, n_peers, n_aips):
    sswctl("create", iface, "--backend", "kernel")
    conf = big_config(n_peers, n_aips, random.Random(n_peers))
    text, shown, t_set, t_show = setconf_showconf(iface, conf, tmp_path)
    print(f"{n_peers}x{n_aips}: setconf {t_set:.1f} s, showconf {t_show:.1f} s")
    want, got = canonical(text), canonical(shown)
    assert got == want
    assert sum(len(p.get("AllowedIPs", ())) for p in got[1].values()) == n_peers * n_aips
    # The dump really was paged and the SET really was split: check the sizes involved.
    assert len(text) > 64 * 1024
    # Replacing it with an empty config (one more split SET with REPLACE_PEERS) empties it.
    (tmp_path / "empty.conf").write_text("[Interface]\n")
    sswctl("setconf", iface, str(tmp_path / "empty.conf"))
    assert sswctl("showconf", iface).stdout == "[Interface]\nProtocol = secureswift\nCipher = chacha20-poly1305\n\n"


# The server shape of bench/control.py (a key, a PSK, an IPv4 /32 and an IPv6 /128 each,
# every tenth with an endpoint). SSW_VM_SCALE_PEERS=100000 for the 100k round trip
# (docs/kernel-module.md, "Timings", has both); the suite runs 10,000.
SCALE_PEERS = int(os.environ.get("SSW_VM_SCALE_PEERS") or "10000")


def server_config(n: int, rng: random.Random) -> Device:
    d = Device(private_key=keys.clamp(rng.randbytes(32)), listen_port=51000, fwmark=0,
               protocol=Protocol.SECURESWIFT, cipher=Cipher.CHACHA20_POLY1305)
    for i in range(n):
        d.peers.append(Peer(
            public_key=rng.randbytes(32), preshared_key=rng.randbytes(32),
            endpoint=Endpoint(f"192.0.2.{i % 250 + 1}", 40000 + i % 20000) if i % 10 == 0 else None,
            persistent_keepalive=0,
            allowed_ips=[net((0x0A000000 + i, 32)), net((0xFD00 << 112 | i, 128))]))
    return d


def test_setconf_showconf_server_scale_round_trip(iface, tmp_path):
    sswctl("create", iface, "--backend", "kernel")
    conf = server_config(SCALE_PEERS, random.Random(SCALE_PEERS))
    text, shown, t_set, t_show = setconf_showconf(iface, conf, tmp_path)
    print(f"{SCALE_PEERS} peers: setconf {t_set:.1f} s, showconf {t_show:.1f} s")
    want, got = canonical(text), canonical(shown)
    assert got == want and len(got[1]) == SCALE_PEERS
    dump = sswctl("show", iface, "dump").stdout.splitlines()
    assert len(dump) == 1 + SCALE_PEERS
