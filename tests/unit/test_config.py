"""Config parser: wg/wg-quick syntax rules, the corpus, and malformed input."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from sswctl import config, keys
from sswctl.errors import ConfigError
from sswctl.model import Cipher, Endpoint, Protocol
from tests.conftest import DATA, REPO

CORPUS = sorted((DATA / "configs").glob("*.conf"))
EXAMPLES = sorted((REPO / "conf").glob("*.conf"))
K1 = keys.to_base64(bytes(range(1, 33)))
K2 = keys.to_base64(bytes(range(2, 34)))
K3 = keys.to_base64(bytes(range(3, 35)))


def net(text):
    return ipaddress.ip_network(text)


def parse(text, mode=config.QUICK):
    return config.parse_config(text, "test.conf", mode)


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 20
    raw = b"".join(p.read_bytes() for p in CORPUS)
    assert b"\r\n" in raw and b"\t" in raw and b"[2001:db8" in raw and b".example.com:" in raw


@pytest.mark.parametrize("path", CORPUS + EXAMPLES, ids=lambda p: p.name)
def test_every_corpus_and_example_config_parses_and_round_trips(path: Path):
    device, quick = config.load_quick(str(path))
    assert device.peers, "every config in the corpus has at least one peer"
    for peer in device.peers:
        assert len(peer.public_key) == 32 and peer.replace_allowed_ips
    assert config.parse_quick(config.write_config(device, quick), "written.conf") == (device, quick)
    assert config.load_config(str(path)) == device  # the wg part alone


def test_crlf_and_tabs_parse_like_plain_text():
    text = (DATA / "configs" / "23-crlf-tabs-windows-client.conf").read_bytes().decode()
    device, quick = config.parse_quick(text)
    assert (device, quick) == config.parse_quick(text.replace("\r\n", "\n").replace("\t", "    "))
    assert device.peers[0].name == "windows-exported"
    assert device.peers[0].endpoint == Endpoint("wg.example.co.uk", 51820)
    assert [str(a) for a in quick.addresses] == ["10.13.0.2/32", "fd13::2/128"]


def test_multi_value_keys_accumulate_in_order():
    device, quick = config.load_quick(str(DATA / "configs" / "06-multi-value-lines.conf"))
    assert [str(n) for n in device.peers[0].allowed_ips] == [
        "10.10.0.0/24",
        "10.20.0.0/16",
        "10.30.0.0/16",
        "fd10::/64",
    ]
    assert quick.dns == ["10.10.0.1", "fd10::1", "corp.example.com", "lab.example.com"]
    assert [str(a) for a in quick.addresses] == ["10.10.0.2/24", "fd10::2/64"]


def test_full_interface_and_peer():
    device, quick = config.parse_quick(f"""
[Interface]
PrivateKey = {K1}
ListenPort = 51820
FwMark = 0x10
Address = 10.0.0.1/24, fd00::1/64
Address = 10.1.0.1
DNS = 1.1.1.1, example.com
MTU = 1380
Table = off
PreUp = echo pre up
PostUp = iptables -A FORWARD -i %i -j ACCEPT; echo   two spaces
PreDown = echo pre down
PostDown = echo post down
SaveConfig = true
Protocol = WireGuard
Cipher = chacha20-poly1305

[Peer]
# Name = my laptop
PublicKey = {K2}
PresharedKey = {K3}
AllowedIPs = 10.0.0.2/32, fd00::2/128
Endpoint = host.example.com:51820
PersistentKeepalive = 25
""")
    assert device.private_key == bytes(range(1, 33))
    assert (device.listen_port, device.fwmark, quick.mtu, quick.table) == (51820, 16, 1380, "off")
    assert device.protocol is Protocol.WIREGUARD and device.cipher is Cipher.CHACHA20_POLY1305
    assert quick.post_up == ["iptables -A FORWARD -i %i -j ACCEPT; echo   two spaces"]
    assert quick.pre_up == ["echo pre up"] and quick.pre_down == ["echo pre down"]
    assert quick.post_down == ["echo post down"] and quick.save_config is True
    assert [str(a) for a in quick.addresses] == ["10.0.0.1/24", "fd00::1/64", "10.1.0.1/32"]
    (peer,) = device.peers
    assert peer.name == "my laptop" and peer.public_key == bytes(range(2, 34))
    assert peer.preshared_key == bytes(range(3, 35))
    assert peer.endpoint == Endpoint("host.example.com", 51820)  # hostname kept unresolved
    assert peer.persistent_keepalive == 25


def test_case_and_whitespace_rules_follow_wg():
    # wg deletes every whitespace character before matching keys and headers.
    device = parse(
        f"[ interface ]\nprivate key = {K1[:10]} {K1[10:]}\nLISTENPORT=1\n[PEER]\n"
        f"PublicKey\t=\t{K2}\nallowed ips = 10.0.0.0 / 8 , ::/0\n"
    )
    assert device.private_key == bytes(range(1, 33)) and device.listen_port == 1
    assert device.peers[0].allowed_ips == [net("10.0.0.0/8"), net("::/0")]


def test_comments_anywhere_and_name_convention():
    device = parse(f"""# leading comment
[Interface] # trailing
PrivateKey = {K1} # trailing
[Peer]
#Name=first
PublicKey = {K2}
[Peer]
  #   name   =   second peer  \r
PublicKey = {K3}
# Name = not-a-name-because-not-in-a-peer-section-after-this? no: still in [Peer]
""")
    assert [p.name for p in device.peers] == [
        "first",
        "not-a-name-because-not-in-a-peer-section-after-this? no: still in [Peer]",
    ]


def test_name_comment_outside_peer_is_an_ordinary_comment():
    device = parse(f"# Name = whole file\n[Interface]\n# Name = iface\nPrivateKey = {K1}\n")
    assert device.private_key is not None and device.peers == []


def test_host_bits_are_cleared_and_bare_addresses_are_host_routes():
    peer = parse(f"[Peer]\nPublicKey={K1}\nAllowedIPs=10.1.2.3/8, 192.0.2.1, 2001:db8::1/32, ::1\n").peers[0]
    assert peer.allowed_ips == [net("10.0.0.0/8"), net("192.0.2.1/32"), net("2001:db8::/32"), net("::1/128")]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1.2.3.4:51820", Endpoint("1.2.3.4", 51820)),
        ("[2001:db8::1]:443", Endpoint("2001:db8::1", 443)),
        ("[2001:0db8:0::1]:443", Endpoint("2001:db8::1", 443)),  # canonical form, as wg shows
        ("2001:db8::1:51820", Endpoint("2001:db8::1", 51820)),  # unbracketed: wg splits at the last colon
        ("vpn.example.com:51820", Endpoint("vpn.example.com", 51820)),
        ("my-host:1", Endpoint("my-host", 1)),
    ],
)
def test_endpoint_forms(value, expected):
    assert config.parse_endpoint(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [("off", 0), ("OFF", 0), ("0", 0), ("51820", 51820), ("0xca6c", 0xCA6C), ("0xFFFFFFFF", 0xFFFFFFFF)],
)
def test_fwmark_forms(value, expected):
    assert config.parse_fwmark(value) == expected


def test_keepalive_off_and_number():
    assert config.parse_keepalive("off") == 0
    assert config.parse_keepalive("25") == 25
    assert config.parse_keepalive("65535") == 65535


def test_table_values():
    assert [config.parse_table(v) for v in ("auto", "off", "1234", "main")] == ["auto", "off", "1234", "main"]


def test_empty_config_and_peers_only_config():
    assert parse("") == parse("\n# nothing\n\n")
    device = parse(f"[Peer]\nPublicKey={K1}\n", mode=config.SETCONF)
    assert device.private_key is None and len(device.peers) == 1


def test_repeated_single_value_key_keeps_last_as_wg():
    assert parse("[Interface]\nListenPort=1\nListenPort=2\n").listen_port == 2


def test_setconf_mode_refuses_wg_quick_keys():
    with pytest.raises(ConfigError) as e:
        parse(f"[Interface]\nPrivateKey={K1}\nAddress = 10.0.0.1/24\n", mode=config.SETCONF)
    assert e.value.line == 3 and e.value.reason.startswith("Address is a wg-quick key")


def test_wg_quick_keys_are_not_peer_keys():
    with pytest.raises(ConfigError, match=r"test.conf:3: unknown key 'DNS' in \[Peer\]"):
        parse(f"[Peer]\nPublicKey={K1}\nDNS = 1.1.1.1\n")


def test_wg_quick_key_with_inner_space_is_not_recognised_as_wg_quick_does():
    with pytest.raises(ConfigError, match="unknown key 'Post Up'"):
        parse("[Interface]\nPost Up = echo\n")


# --- malformed configs: one error, naming the line ------------------------------------

BAD = {
    "bad base64": (f"[Interface]\nPrivateKey = {'!' * 43}=\n", 2, "PrivateKey: key is not the correct length"),
    "wrong key length": (f"[Peer]\nPublicKey = {keys.to_base64(bytes(32))[:-2]}=\n", 2, "PublicKey: key is not"),
    "33-byte key": ("[Peer]\nPublicKey = " + "A" * 44 + "=\n", 2, "PublicKey: key is not"),
    "bad CIDR": (f"[Peer]\nPublicKey={K1}\n\nAllowedIPs = 10.0.0.0/33\n", 4, "invalid prefix length"),
    "bad IP": (f"[Peer]\nPublicKey={K1}\nAllowedIPs = 10.0.0.256/8\n", 3, "invalid IP address"),
    "trailing comma": (f"[Peer]\nPublicKey={K1}\nAllowedIPs = 10.0.0.0/8,\n", 3, "empty entry"),
    "port out of range": ("[Interface]\nListenPort = 65536\n", 2, "port 65536 out of range"),
    "port not a number": ("[Interface]\nListenPort = http\n", 2, "port must be a number"),
    "endpoint port 0": (f"[Peer]\nPublicKey={K1}\nEndpoint = 1.2.3.4:0\n", 3, "port 0 out of range"),
    "endpoint without port": (f"[Peer]\nPublicKey={K1}\nEndpoint = 1.2.3.4\n", 3, "endpoint has no port"),
    "endpoint bad brackets": (f"[Peer]\nPublicKey={K1}\nEndpoint = [::1:51820\n", 3, "endpoint has no matching ']'"),
    "endpoint bad host": (f"[Peer]\nPublicKey={K1}\nEndpoint = bad_host!:1\n", 3, "invalid host name"),
    "unknown key": ("[Interface]\nListenPort = 1\nColour = blue\n", 3, "unknown key 'Colour' in [Interface]"),
    "unknown peer key": (f"[Peer]\nPublicKey={K1}\nPrivateKey={K2}\n", 3, "unknown key 'PrivateKey' in [Peer]"),
    "key outside a section": ("# top\nListenPort = 1\n", 2, "key 'ListenPort' outside a section"),
    "unknown section": ("[Interfaces]\n", 1, "unknown section 'Interfaces'"),
    "duplicate peer": (
        f"[Peer]\nPublicKey={K1}\n[Peer]\n\nPublicKey={K1}\n",
        5,
        "duplicate peer: same PublicKey as the peer at line 2",
    ),
    "peer without key": (
        f"[Interface]\nListenPort=1\n[Peer]\nAllowedIPs=10.0.0.0/8\n[Peer]\nPublicKey={K1}\n",
        3,
        "[Peer] section has no PublicKey",
    ),
    "no equals sign": ("[Interface]\nListenPort 51820\n", 2, "expected 'Key = Value'"),
    "fwmark garbage": ("[Interface]\nFwMark = 0xZZ\n", 2, "FwMark must be"),
    "fwmark too big": ("[Interface]\nFwMark = 0x100000000\n", 2, "FwMark does not fit"),
    "keepalive too big": (f"[Peer]\nPublicKey={K1}\nPersistentKeepalive = 65536\n", 3, "PersistentKeepalive must"),
    "bad protocol": ("[Interface]\nProtocol = ipsec\n", 2, "Protocol must be one of secureswift, wireguard"),
    "bad cipher": ("[Interface]\nCipher = rot13\n", 2, "Cipher must be one of"),
    "aes in wireguard mode": (
        "[Interface]\nCipher = aes-256-gcm\n\nProtocol = wireguard\n",
        2,
        "Cipher aes-256-gcm needs Protocol = secureswift",
    ),
    "bad mtu": ("[Interface]\nMTU = 20\n", 2, "MTU must be"),
    "bad table": ("[Interface]\nTable = 1 2\n", 2, "Table must be"),
    "bad savecfg": ("[Interface]\nSaveConfig = yes\n", 2, "SaveConfig must be true or false"),
    "bad address": ("[Interface]\nAddress = 10.0.0.1/24, nonsense\n", 2, "invalid IP address"),
    "bad dns": ("[Interface]\nDNS = 1.1.1.1, bad..domain\n", 2, "invalid host name"),
    "empty command": ("[Interface]\nPostUp =\n", 2, "empty command"),
    "CR inside a command": ("[Interface]\nPostUp = echo a\rb\n", 2, "command contains control characters"),
    "control char in name": (f"[Peer]\n# Name = a\x01b\nPublicKey={K1}\n", 2, "Name must be"),
    "empty endpoint": (f"[Peer]\nPublicKey={K1}\nEndpoint =\n", 3, "empty value"),
    "empty AllowedIPs (as wg)": (f"[Peer]\nPublicKey={K1}\nAllowedIPs =\n", 3, "empty value"),
    "non-canonical key (as wg)": (f"[Peer]\nPublicKey={K1[:-2]}B=\n", 2, "PublicKey: key is not canonical"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_malformed_config_names_the_line(case):
    text, line, message = BAD[case]
    with pytest.raises(ConfigError) as e:
        parse(text)
    assert e.value.file == "test.conf" and e.value.line == line
    assert e.value.reason.startswith(message), e.value.reason
    assert str(e.value) == f"test.conf:{line}: {e.value.reason}"


def test_errors_never_show_key_material():
    secret = keys.to_base64(keys.generate_private_key())
    cases = [
        f"[Interface]\n{secret}\n",  # a pasted key: no '=' separator... but it ends in '='
        f"[Interface]\nPrivatKey = {secret}\n",  # misspelt key
        f"[Interface]\nPrivateKey = {secret[:-2]}!=\n",  # one character wrong
        f"{secret}\n",
        f"[Interface]\nPrivateKey = {secret} {secret}\n",
        f"[{secret}]\n",
    ]
    for text in cases:
        with pytest.raises(ConfigError) as e:
            parse(text)
        assert secret[:8] not in str(e.value), str(e.value)


def test_invalid_utf8_is_a_config_error_at_its_line():
    with pytest.raises(ConfigError) as e:
        config.decode_config(b"[Interface]\nListenPort = 1\n# caf\xe9\n", "x.conf")
    assert (e.value.file, e.value.line) == ("x.conf", 3)
