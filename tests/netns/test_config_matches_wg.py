"""Our setconf-mode parser accepts and refuses what the real `wg setconf` does.

Each case goes to both: `wg setconf` on a wireguard-go interface in a throwaway
namespace, and config.parse_config(..., SETCONF). The verdicts must agree,
except for the deliberate differences in DIFFERENT, each with its reason (the
test pins those too, so a change on either side is noticed).
"""

from __future__ import annotations

import pytest
from wgns import judge, namespace_fixture

from sswctl import config, keys

pytestmark = pytest.mark.root

P = keys.to_base64(bytes([0x40] * 32))
K1 = keys.to_base64(keys.public_key(bytes(range(1, 33))))
K2 = keys.to_base64(keys.public_key(bytes(range(2, 34))))
PEER = f"[Peer]\nPublicKey = {K1}\n"

SAME = {
    "lowercase names": f"[interface]\nprivatekey={P}\n",
    "spaces inside header": f"[ Interface ]\nPrivateKey = {P}\n",
    "space inside key name": f"[Interface]\nPrivate Key = {P}\n",
    "CRLF and tabs": f"[Interface]\r\n\tPrivateKey\t=\t{P}\r\n",
    "comments": f"# c\n[Interface] # c\nPrivateKey = {P} # c\n",
    "empty file": "",
    "two interface sections": "[Interface]\nListenPort=1\n[Interface]\nListenPort=2\n",
    "listen port 0": "[Interface]\nListenPort = 0\n",
    "listen port name": "[Interface]\nListenPort = http\n",
    "fwmark off": "[Interface]\nFwMark = off\n",
    "fwmark hex": "[Interface]\nFwMark = 0xca6c\n",
    "fwmark 0X": "[Interface]\nFwMark = 0X10\n",
    "fwmark bare 0x": "[Interface]\nFwMark = 0x\n",
    "fwmark over 32 bits": "[Interface]\nFwMark = 0x100000000\n",
    "keepalive off": PEER + "PersistentKeepalive = off\n",
    "keepalive +5": PEER + "PersistentKeepalive = +5\n",
    "keepalive 65536": PEER + "PersistentKeepalive = 65536\n",
    "allowed ips empty": PEER + "AllowedIPs =\n",
    "allowed ips host bits": PEER + "AllowedIPs = 10.1.2.3/8, ::1\n",
    "allowed ips trailing comma": PEER + "AllowedIPs = 10.0.0.0/8,\n",
    "allowed ips /33": PEER + "AllowedIPs = 10.0.0.0/33\n",
    "allowed ips /08": PEER + "AllowedIPs = 10.0.0.0/08\n",
    "allowed ips octet 010": PEER + "AllowedIPs = 010.0.0.0/8\n",
    "endpoint [v6]:port": PEER + "Endpoint = [2001:db8::1]:1\n",
    "endpoint bare v6:port": PEER + "Endpoint = 2001:db8::1:51820\n",
    "endpoint scoped v6": PEER + "Endpoint = [fe80::1%lo]:1\n",
    "endpoint no port": PEER + "Endpoint = 192.0.2.1\n",
    "endpoint empty": PEER + "Endpoint =\n",
    "peer without key": "[Peer]\nAllowedIPs = 10.0.0.0/8\n",
    "public key given twice": PEER + f"PublicKey = {K2}\n",
    "key outside a section": "ListenPort = 1\n",
    "unknown key": "[Interface]\nFoo = 1\n",
    "unknown section": "[Foo]\n",
    "wg-quick key": "[Interface]\nTable = off\n",
    "bad preshared key": PEER + "PresharedKey = abc\n",
    "non-canonical key": f"[Peer]\nPublicKey = {K1[:-2]}{chr(ord(K1[-2]) ^ 1)}=\n",
    "empty private key": "[Interface]\nPrivateKey =\n",
    "value starting with =": "[Interface]\nListenPort = =1\n",
    "no equals sign": "[Interface]\nListenPort\n",
}

# case: (wg accepts, we accept, why we differ)
DIFFERENT = {
    "listen port 65536": (
        "[Interface]\nListenPort = 65536\n",
        True,
        False,
        "wg passes it to getaddrinfo, which wraps it to port 0; out of range is an error here",
    ),
    "listen port +5": ("[Interface]\nListenPort = +5\n", True, False, "ports are plain decimal digits here"),
    "endpoint port 0": (PEER + "Endpoint = 192.0.2.1:0\n", True, False, "nothing can be reached at port 0"),
    "duplicate peer": (PEER + PEER, True, False, "wg merges the two silently; the issue asks for an error"),
    "NUL byte": (
        "[Interface]\nListenPort = 1\x00junk\n",
        True,
        False,
        "wg's C strings end at the NUL and ignore the rest of the line silently",
    ),
    "Protocol extension": (
        "[Interface]\nProtocol = wireguard\n",
        False,
        True,
        "SecureSwift's extension key; sswctl strip drops it for wg",
    ),
}


wgns = namespace_fixture("sswdiff")


def verdicts(ns, tmp_path, text: str) -> tuple[bool, bool]:
    path = tmp_path / "case.conf"
    path.write_bytes(text.encode())
    return judge(ns, ["setconf", ns.iface, str(path)], lambda: config.parse_config(text, "case.conf", config.SETCONF))


@pytest.mark.parametrize("case", SAME, ids=list(SAME))
def test_same_verdict_as_wg_setconf(wgns, tmp_path, case):
    wg_ok, ours_ok = verdicts(wgns, tmp_path, SAME[case])
    assert ours_ok == wg_ok, f"wg {'accepts' if wg_ok else 'refuses'} it, we do not agree"


@pytest.mark.parametrize("case", DIFFERENT, ids=list(DIFFERENT))
def test_deliberate_differences_from_wg(wgns, tmp_path, case):
    text, wg_expected, ours_expected, _why = DIFFERENT[case]
    assert verdicts(wgns, tmp_path, text) == (wg_expected, ours_expected)
