"""`set`-style argument lists: the same value rules as files, wg's grammar and flags."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sswctl import config, keys
from sswctl.errors import ConfigError
from sswctl.model import Cipher, Endpoint, Protocol

K1 = keys.to_base64(bytes(range(1, 33)))
K2 = keys.to_base64(bytes(range(2, 34)))


@pytest.fixture
def keyfile(tmp_path):
    def make(content: str) -> str:
        path = tmp_path / f"k{len(list(tmp_path.iterdir()))}"
        path.write_text(content)
        return str(path)

    return make


def test_device_and_peer_options(keyfile):
    priv = keyfile(keys.to_base64(b"\x07" * 32) + "\n")
    psk = keyfile(keys.to_base64(b"\x09" * 32))
    dev = config.parse_set_args(
        [
            "listen-port",
            "51820",
            "fwmark",
            "0x20",
            "private-key",
            priv,
            "protocol",
            "wireguard",
            "peer",
            K1,
            "preshared-key",
            psk,
            "endpoint",
            "[2001:db8::1]:51820",
            "persistent-keepalive",
            "25",
            "allowed-ips",
            "10.0.0.0/8,fd00::/64",
            "name",
            "office router",
            "peer",
            K2,
            "remove",
        ],
        "ssw0",
    )
    assert (dev.name, dev.listen_port, dev.fwmark, dev.private_key) == ("ssw0", 51820, 0x20, b"\x07" * 32)
    assert dev.protocol is Protocol.WIREGUARD and dev.cipher is None
    p1, p2 = dev.peers
    assert p1.public_key == bytes(range(1, 33)) and p1.preshared_key == b"\x09" * 32
    assert p1.endpoint == Endpoint("2001:db8::1", 51820) and p1.persistent_keepalive == 25
    assert p1.allowed_ips == [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/64")]
    assert p1.replace_allowed_ips and p1.name == "office router" and not p1.remove
    assert p2.remove and not p2.replace_allowed_ips and p2.allowed_ips == []


def test_only_given_fields_are_set():
    dev = config.parse_set_args(["peer", K1, "update-only"])
    assert dev.listen_port is None and dev.private_key is None and dev.fwmark is None
    (peer,) = dev.peers
    assert peer.update_only and peer.endpoint is None and peer.persistent_keepalive is None
    assert not peer.replace_allowed_ips


def test_empty_allowed_ips_clears_and_empty_key_file_removes(keyfile):
    dev = config.parse_set_args(
        ["private-key", "/dev/null", "peer", K1, "allowed-ips", "", "preshared-key", keyfile("")]
    )
    assert dev.private_key == bytes(32)
    assert dev.peers[0].allowed_ips == [] and dev.peers[0].replace_allowed_ips
    assert dev.peers[0].preshared_key == bytes(32)


@pytest.mark.parametrize(
    "args, position, message",
    [
        (["listen-port"], 1, "listen-port needs a value"),
        (["listen-port", "70000"], 1, "port 70000 out of range"),
        (["fwmark", "x"], 1, "FwMark must be"),
        (["peer", "nonsense"], 1, "peer public key: key is not"),
        (["peer", K1, "listen-port", "1"], 3, "invalid argument 'listen-port' after a peer"),
        (["bogus"], 1, "invalid argument 'bogus' before the first peer"),
        (["peer", K1, "allowed-ips", "10.0.0.0/33"], 3, "invalid prefix length"),
        (["peer", K1, "endpoint", "host"], 3, "endpoint has no port"),
        (["peer", K1, "peer", K1], 3, "duplicate peer: same key as argument 1"),
        (["private-key", "/nonexistent/key"], 1, "cannot read key file"),
        (["protocol", "wireguard", "cipher", "aes-256-gcm"], 3, "Cipher aes-256-gcm needs"),
        (["peer", K1, "name", " padded"], 3, "Name must be"),
        (["peer", K1, "persistent-keepalive", "-1"], 3, "PersistentKeepalive must"),
    ],
)
def test_bad_arguments_name_the_position(args, position, message):
    with pytest.raises(ConfigError) as e:
        config.parse_set_args(args)
    assert (e.value.file, e.value.line) == ("<args>", position)
    assert e.value.reason.startswith(message), e.value.reason


def test_bad_key_file_content_is_not_echoed(keyfile):
    secret = keys.to_base64(keys.generate_private_key())
    with pytest.raises(ConfigError) as e:
        config.parse_set_args(["private-key", keyfile(secret + " trailing")])
    assert secret[:8] not in str(e.value)


def test_set_args_and_files_agree_on_values():
    """Same value parsers: what a file accepts, argv accepts, with the same result."""
    file_dev = config.parse_config(
        f"[Interface]\nListenPort = 0\nFwMark = off\nCipher = aes-256-gcm\n[Peer]\nPublicKey = {K1}\n"
        "Endpoint = vpn.example.com:1\nPersistentKeepalive = off\nAllowedIPs = 10.1.2.3/8, ::1\n",
        mode=config.SETCONF,
    )
    args_dev = config.parse_set_args(
        [
            "listen-port",
            "0",
            "fwmark",
            "off",
            "cipher",
            "aes-256-gcm",
            "peer",
            K1,
            "endpoint",
            "vpn.example.com:1",
            "persistent-keepalive",
            "off",
            "allowed-ips",
            "10.1.2.3/8,::1",
        ]
    )
    assert args_dev.cipher is Cipher.AES_256_GCM
    assert args_dev.peers == file_dev.peers
    assert (args_dev.listen_port, args_dev.fwmark) == (file_dev.listen_port, file_dev.fwmark) == (0, 0)


WORDS = [
    "listen-port",
    "fwmark",
    "private-key",
    "protocol",
    "cipher",
    "peer",
    "remove",
    "update-only",
    "preshared-key",
    "endpoint",
    "persistent-keepalive",
    "allowed-ips",
    "name",
    K1,
    K2,
    "0",
    "51820",
    "65536",
    "off",
    "0x10",
    "wireguard",
    "aes-256-gcm",
    "10.0.0.0/8",
    "::/0,10.0.0.1",
    "",
    "[::1]:1",
    "h.example:2",
    "/dev/null",
    "/nonexistent/key",
    "/etc/hostname",
]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(WORDS) | st.text(max_size=12), max_size=14))
def test_fuzz_set_args_raise_only_config_error(args):
    try:
        device = config.parse_set_args(args, "ssw0")
    except ConfigError as e:
        assert e.file == "<args>" and 1 <= e.line <= max(len(args), 1)
        return
    assert device.name == "ssw0"
    assert len({p.public_key for p in device.peers}) == len(device.peers)
