"""`sswctl show` text helpers, pinned to wireguard-tools' show.c formats.

(The netns tests compare whole outputs with the real `wg`; these pin the
edge cases that a live daemon rarely reaches: years, TiB, clock skew.)
"""

from __future__ import annotations

import ipaddress

from sswctl.commands.show import ago, format_dump, format_field, human_bytes, pretty_time, sorted_peers
from sswctl.commands.showconf import format_showconf
from sswctl.commands.status import format_status
from sswctl.model import Device, DeviceStatus, Endpoint, Peer, PeerStatus, Protocol


def test_pretty_time_units_and_plurals():
    assert pretty_time(1) == "1 second"
    assert pretty_time(61) == "1 minute, 1 second"
    assert pretty_time(3600 * 25 + 2) == "1 day, 1 hour, 2 seconds"
    assert pretty_time(365 * 86400 * 2 + 120) == "2 years, 2 minutes"


def test_ago_now_future_and_past():
    assert ago(100, 100) == "Now"
    assert ago(101, 100) == "(System clock wound backward; connection problems may ensue.)"
    assert ago(40, 100) == "1 minute ago"


def test_human_bytes_thresholds():
    assert human_bytes(0) == "0 B"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(1024) == "1.00 KiB"
    assert human_bytes(1536 * 1024) == "1.50 MiB"
    assert human_bytes(5 * 1024**3) == "5.00 GiB"
    assert human_bytes(3 * 1024**4) == "3.00 TiB"


def _dev() -> Device:
    return Device(
        name="t0", private_key=b"\x01" * 32, public_key=b"\x02" * 32, listen_port=5, fwmark=255,
        protocol=Protocol.WIREGUARD,
        peers=[
            Peer(public_key=b"\x03" * 32, persistent_keepalive=0, status=PeerStatus(last_handshake=None)),
            Peer(public_key=b"\x04" * 32, preshared_key=b"\x05" * 32,
                 endpoint=Endpoint("fe80::1", 9), persistent_keepalive=25,
                 allowed_ips=[ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::/0")], name="four",
                 status=PeerStatus(last_handshake=50.5, rx_bytes=7, tx_bytes=8)),
            Peer(public_key=b"\x06" * 32, status=PeerStatus(last_handshake=60.0)),
        ],
        status=DeviceStatus(backend="userspace", drops={"junk": 1}),
    )


def test_pretty_order_newest_handshake_first_never_last():
    assert [p.public_key[0] for p in sorted_peers(_dev().peers)] == [6, 4, 3]


def test_dump_and_fields_match_wg_layout():
    dump = format_dump(_dev()).splitlines()
    assert dump[0].split("\t")[2:] == ["5", "0xff"]
    assert dump[2].split("\t")[1:] == ["BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=", "[fe80::1]:9", "10.0.0.0/8,::/0",
                                       "50", "7", "8", "25"]
    assert dump[1].split("\t")[1:] == ["(none)", "(none)", "(none)", "0", "0", "0", "off"]
    assert format_field(_dev(), "allowed-ips").splitlines()[1].endswith("\t10.0.0.0/8 ::/0")
    assert format_field(_dev(), "fwmark", with_interface=True) == "t0\t0xff\n"
    assert format_field(_dev(), "peers").count("\t") == 0


def test_showconf_keeps_extensions_and_names():
    text = format_showconf(_dev())
    assert text.startswith("[Interface]\nListenPort = 5\nFwMark = 0xff\nPrivateKey = ")
    assert "Protocol = wireguard\n" in text and "# Name = four\n" in text
    assert text.count("[Peer]") == 3 and not text.endswith("\n\n")
    # The running state is no part of a configuration.
    dev = _dev()
    conf = dev.replace(status=None, peers=[p.replace(status=None) for p in dev.peers])
    assert format_showconf(conf) == text


def test_status_counts_up_stale_never():
    assert "peers: 3 (2 up, 0 stale, 1 never)" in format_status(_dev(), now=200.0)
    text = format_status(_dev(), now=235.0)  # four: 184.5 s > 180 s; the other: 175 s
    assert "peers: 3 (1 up, 1 stale, 1 never)" in text
    assert "peer four: stale, 3 minutes, 5 seconds ago, [fe80::1]:9" in text
