"""parse_set_args() accepts and refuses what the real `wg set` does (same method
as test_config_matches_wg.py: both judge each argument list, verdicts must agree
except for the listed deliberate differences)."""

from __future__ import annotations

import pytest
from wgns import judge, namespace_fixture

from sswctl import config, keys

pytestmark = pytest.mark.root

K1 = keys.to_base64(keys.public_key(bytes(range(1, 33))))
K2 = keys.to_base64(keys.public_key(bytes(range(2, 34))))

# "{key}" is replaced by a file holding a valid key, "{empty}" by an empty file.
SAME = {
    "listen port": ["listen-port", "51820"],
    "listen port 0": ["listen-port", "0"],
    "listen port name": ["listen-port", "http"],
    "fwmark off": ["fwmark", "off"],
    "fwmark hex": ["fwmark", "0x1f"],
    "fwmark junk": ["fwmark", "12ab"],
    "private key file": ["private-key", "{key}"],
    "private key empty file": ["private-key", "{empty}"],
    "private key missing file": ["private-key", "/nonexistent/key"],
    "peer with everything": [
        "peer",
        K1,
        "preshared-key",
        "{key}",
        "endpoint",
        "192.0.2.1:51820",
        "persistent-keepalive",
        "25",
        "allowed-ips",
        "10.0.0.0/8,fd00::/64",
    ],
    "peer clear allowed ips": ["peer", K1, "allowed-ips", ""],
    "peer remove": ["peer", K1, "remove"],
    "two peers": ["peer", K1, "allowed-ips", "10.1.0.0/16", "peer", K2, "allowed-ips", "10.2.0.0/16"],
    "keepalive off": ["peer", K1, "persistent-keepalive", "off"],
    "keepalive too big": ["peer", K1, "persistent-keepalive", "65536"],
    "bad peer key": ["peer", "abc"],
    "bad allowed ip": ["peer", K1, "allowed-ips", "10.0.0.0/33"],
    "endpoint without port": ["peer", K1, "endpoint", "192.0.2.1"],
    "unknown argument": ["frobnicate", "1"],
    "unknown peer argument": ["peer", K1, "frobnicate"],
    "device option after a peer": ["peer", K1, "listen-port", "1"],
    "missing value": ["listen-port"],
    "peer without key": ["peer"],
}

# case: (args, wg accepts, we accept, why we differ)
DIFFERENT = {
    "listen port 65536": (["listen-port", "65536"], True, False, "wg wraps it to port 0; here it is out of range"),
    "duplicate peer": (["peer", K1, "peer", K1], True, False, "almost always a mistake; the config rule, too"),
    "protocol extension": (["protocol", "wireguard"], False, True, "SecureSwift's extension"),
    "name extension": (["peer", K1, "name", "laptop"], False, True, "SecureSwift's extension"),
}


wgns = namespace_fixture("sswset")


def verdicts(ns, tmp_path, args: list[str]) -> tuple[bool, bool]:
    key, empty = tmp_path / "key", tmp_path / "empty"
    key.write_text(keys.to_base64(keys.generate_private_key()) + "\n")
    empty.write_text("")
    args = [a.format(key=key, empty=empty) if "{" in a else a for a in args]
    return judge(ns, ["set", ns.iface, *args], lambda: config.parse_set_args(args, ns.iface))


@pytest.mark.parametrize("case", SAME, ids=list(SAME))
def test_same_verdict_as_wg_set(wgns, tmp_path, case):
    wg_ok, ours_ok = verdicts(wgns, tmp_path, SAME[case])
    assert ours_ok == wg_ok, f"wg {'accepts' if wg_ok else 'refuses'} {SAME[case]}, we do not agree"


@pytest.mark.parametrize("case", DIFFERENT, ids=list(DIFFERENT))
def test_deliberate_differences_from_wg_set(wgns, tmp_path, case):
    args, wg_expected, ours_expected, _why = DIFFERENT[case]
    assert verdicts(wgns, tmp_path, args) == (wg_expected, ours_expected)
