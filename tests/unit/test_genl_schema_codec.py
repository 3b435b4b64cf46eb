"""sswctl.ipc.genl's schema-driven codec: split SET messages and decode them back (no kernel)."""

from __future__ import annotations

import ipaddress
import os
import struct

from sswctl.ipc.genl import (
    DEV,
    F_DEV,
    F_PEER,
    MAX_SET_MSG,
    NLA_F_NESTED,
    GenlBackend,
    decode,
    encode,
    endpoint_from,
    nest,
    nla,
    set_messages,
    sockaddr,
)
from sswctl.model import Device, DeviceStatus, Endpoint, Peer, PeerStatus, Protocol


def _peers_of(payload: bytes) -> list[dict]:
    return [decode("peer", raw) for raw in decode("device", payload).get("PEERS", [])]


def test_large_config_is_split_and_nothing_is_lost():
    nets = [ipaddress.ip_network((0x0A000000 + i * 4, 30)) for i in range(20000)]
    peers = [Peer(public_key=os.urandom(32), replace_allowed_ips=True, allowed_ips=nets[i::4]) for i in range(4)]
    dev = Device(name="ssw0", private_key=os.urandom(32), replace_peers=True, protocol=Protocol.WIREGUARD,
                 peers=peers)
    msgs = set_messages(dev)
    assert len(msgs) > 10
    assert all(len(m) <= MAX_SET_MSG for m in msgs)
    first = decode("device", msgs[0])
    assert first["FLAGS"] == F_DEV["REPLACE_PEERS"] and "PRIVATE_KEY" in first
    for m in msgs[1:]:
        d = decode("device", m)
        assert d["IFNAME"] == "ssw0" and "FLAGS" not in d and "PRIVATE_KEY" not in d
    seen: dict[bytes, list] = {}
    for m in msgs:
        for p in _peers_of(m):
            pk = p["PUBLIC_KEY"]
            replace = bool(p.get("FLAGS", 0) & F_PEER["REPLACE_ALLOWEDIPS"])
            # only the first piece of a peer may replace, or later pieces would wipe earlier ones
            assert replace == (pk not in seen)
            got = [decode("allowedip", a) for a in p.get("ALLOWEDIPS", [])]
            seen.setdefault(pk, []).extend(ipaddress.ip_network((a["IPADDR"], a["CIDR_MASK"])) for a in got)
    assert {pk: sorted(v) for pk, v in seen.items()} == {p.public_key: sorted(p.allowed_ips) for p in peers}


def test_small_request_is_one_message_with_typed_attributes():
    dev = Device(name="ssw1", listen_port=51820, fwmark=7,
                 peers=[Peer(public_key=bytes(range(32)), persistent_keepalive=25, name="n",
                             endpoint=Endpoint("192.0.2.9", 4242), remove=False)])
    (msg,) = set_messages(dev)
    d = decode("device", msg)
    assert (d["IFNAME"], d["LISTEN_PORT"], d["FWMARK"]) == ("ssw1", 51820, 7)
    assert "PEERS" in d and DEV["PEERS"] == 8
    (p,) = _peers_of(msg)
    assert p["PERSISTENT_KEEPALIVE_INTERVAL"] == 25 and p["NAME"] == "n"
    assert endpoint_from(p["ENDPOINT"]) == Endpoint("192.0.2.9", 4242)


def test_a_get_reply_fills_the_device_status_and_every_peer_status():
    counted = (encode("peer", "PUBLIC_KEY", b"\x01" * 32)
               + encode("peer", "LAST_HANDSHAKE_TIME", struct.pack("=qq", 100, 500_000_000))
               + encode("peer", "RX_BYTES", 7) + encode("peer", "TX_BYTES", 8)
               + encode("peer", "RX_PACKETS", 1) + encode("peer", "TX_PACKETS", 2))
    quiet = encode("peer", "PUBLIC_KEY", b"\x02" * 32) + encode("peer", "LAST_HANDSHAKE_TIME", bytes(16))
    payload = (encode("device", "IFNAME", "ssw0") + encode("device", "LISTEN_PORT", 51820)
               + encode("device", "COOKIE_REPLIES_SENT", 3) + encode("device", "UNDER_LOAD", 0)
               + nest(DEV["PEERS"], nla(NLA_F_NESTED, counted) + nla(NLA_F_NESTED, quiet)))
    dev = GenlBackend()._device_from("ssw0", [payload])
    assert dev.status == DeviceStatus(backend="kernel", handshake={"cookie_replies_sent": 3, "under_load": 0})
    assert [p.status for p in dev.peers] == [
        PeerStatus(last_handshake=100.5, rx_bytes=7, tx_bytes=8, rx_packets=1, tx_packets=2), PeerStatus()]
    assert dev.peers[1].replace(status=None) == Peer(public_key=b"\x02" * 32, persistent_keepalive=0)


def test_sockaddr_round_trips_both_families():
    for ep in (Endpoint("198.51.100.7", 1), Endpoint("2001:db8::5", 65535)):
        raw = sockaddr(ep)
        assert len(raw) == (16 if ":" not in ep.host else 28)
        assert endpoint_from(raw) == ep


def test_fast_allowed_ip_codec_matches_the_schema_encoding():
    from sswctl.ipc.genl import AIP, F_AIP, NLA_F_NESTED, allowedip, allowedips_from, encode, nla

    for n, remove in ((ipaddress.ip_network("10.1.2.0/24"), False), (ipaddress.ip_network("fd00::/8"), True),
                      (ipaddress.ip_network("0.0.0.0/0"), True), (ipaddress.ip_network("::1/128"), False)):
        fam = 2 if n.version == 4 else 10
        body = (encode("allowedip", "FAMILY", fam) + encode("allowedip", "IPADDR", n.network_address.packed)
                + encode("allowedip", "CIDR_MASK", n.prefixlen))
        if remove:
            body += encode("allowedip", "FLAGS", F_AIP["REMOVE_ME"])
        assert allowedip(n, remove=remove) == nla(NLA_F_NESTED, body)
        assert decode("allowedip", allowedip(n, remove)[4:])["CIDR_MASK"] == n.prefixlen
    # The kernel writes CIDR_MASK, FAMILY, IPADDR (any order must decode).
    nets = [ipaddress.ip_network("192.0.2.0/25"), ipaddress.ip_network("2001:db8::/32")]
    dump = b"".join(
        nla(NLA_F_NESTED, nla(AIP["CIDR_MASK"], bytes([n.prefixlen]))
            + encode("allowedip", "FAMILY", 2 if n.version == 4 else 10)
            + nla(AIP["IPADDR"], n.network_address.packed))
        for n in nets)
    assert allowedips_from(dump) == nets
