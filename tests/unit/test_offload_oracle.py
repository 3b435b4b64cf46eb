"""The offload reference model (tests/offload_oracle.py) that the native data
plane's TCP segmentation/coalescing is checked against (tests/unit/test_datapath.py).

Checked against independent references: a plain 16-bit-word checksum loop,
and the property that segment() then coalesce() gives the original stream.
"""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import offload_oracle as O


def ref_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def tcp_ok(pkt: bytes) -> bool:
    v4 = pkt[0] >> 4 == 4
    ip_len = 20 if v4 else 40
    l4 = pkt[ip_len:]
    pseudo = (pkt[12:20] if v4 else pkt[8:40]) + struct.pack("!HH", 6, len(l4))
    return ref_sum(pseudo + l4) == 0xFFFF


def ip_ok(pkt: bytes) -> bool:
    if pkt[0] >> 4 == 6:
        return struct.unpack_from("!H", pkt, 4)[0] + 40 == len(pkt)
    return ref_sum(pkt[:20]) == 0xFFFF and struct.unpack_from("!H", pkt, 2)[0] == len(pkt)


def super_packet(v6: bool, mss: int, payload: bytes, flags: int = 0x18, seq: int = 1000) -> bytes:
    tcp = bytearray(32)
    struct.pack_into("!HHII", tcp, 0, 40000, 5201, seq, 77)
    tcp[12], tcp[13] = 8 << 4, flags
    struct.pack_into("!H", tcp, 14, 512)
    if v6:
        ip = bytearray(40)
        ip[0] = 0x60
        struct.pack_into("!H", ip, 4, 32 + len(payload))
        ip[6], ip[7] = 6, 64
        ip[8:24], ip[24:40] = os.urandom(16), os.urandom(16)
    else:
        ip = bytearray(20)
        ip[0], ip[8], ip[9] = 0x45, 64, 6
        struct.pack_into("!HH", ip, 2, 20 + 32 + len(payload), 4242)
        ip[12:20] = os.urandom(8)
    ip_len = len(ip)
    # As the kernel hands it over: CHECKSUM_PARTIAL, pseudo-header sum in the field.
    gso = O.GSO_TCPV6 if v6 else O.GSO_TCPV4
    hdr = O.VNET_HDR.pack(O.F_NEEDS_CSUM, gso, ip_len + 32, mss, ip_len, 16)
    return hdr + bytes(ip) + bytes(tcp) + payload


@settings(max_examples=150, deadline=None)
@given(st.booleans(), st.integers(1, 1400), st.integers(1, 20_000), st.booleans())
def test_segments_are_valid_packets_that_coalesce_back(v6, mss, size, psh):
    payload = os.urandom(size)
    buf = super_packet(v6, mss, payload, flags=0x18 if psh else 0x10)
    segs = O.segment(buf)
    assert len(segs) == -(-size // mss)
    seqs = []
    for i, s in enumerate(segs):
        assert ip_ok(s) and tcp_ok(s)
        ip_len = 40 if v6 else 20
        assert len(s) - ip_len - 32 == min(mss, size - i * mss)
        seqs.append(struct.unpack_from("!I", s, ip_len + 4)[0])
        flags = s[ip_len + 13]
        assert flags & O.TCP_PSH == (O.TCP_PSH if psh and i == len(segs) - 1 else 0)
    assert seqs == [1000 + i * mss for i in range(len(segs))]
    merged = O.coalesce(segs)
    rebuilt = b"".join(m[O.VNET_HDR_LEN + (40 if v6 else 20) + 32:] for m in merged)
    assert rebuilt == payload
    if len(segs) > 1 and len(payload) + 32 <= O.MAX_COALESCED - 40:
        assert len(merged) == 1  # one flow, contiguous: one write to the device
        flags0, gso, _, gso_size, _, csum_off = O.VNET_HDR.unpack_from(merged[0])
        assert gso == (O.GSO_TCPV6 if v6 else O.GSO_TCPV4)
        assert flags0 == O.F_NEEDS_CSUM and gso_size == mss and csum_off == 16
        assert ip_ok(merged[0][O.VNET_HDR_LEN:])


def test_non_gso_partial_checksum_is_completed():
    payload = os.urandom(333)
    buf = bytearray(super_packet(False, 1400, payload))
    buf[1] = O.GSO_NONE  # a single packet with CHECKSUM_PARTIAL
    pkt = bytes(buf[O.VNET_HDR_LEN:])
    # Put the pseudo-header sum in the field, as the kernel does.
    pseudo = pkt[12:20] + struct.pack("!HH", 6, len(pkt) - 20)
    field = struct.pack("!H", ref_sum(pseudo))
    buf[O.VNET_HDR_LEN + 36:O.VNET_HDR_LEN + 38] = field
    (out,) = O.segment(bytes(buf))
    assert tcp_ok(out)


def test_other_flows_and_control_segments_are_not_merged():
    a = O.segment(super_packet(False, 100, os.urandom(300), flags=0x10))
    b = O.segment(super_packet(False, 100, os.urandom(300), flags=0x10, seq=5000))  # other addresses
    syn = bytearray(a[0])
    syn[33] = 0x02  # SYN
    out = O.coalesce([a[0], bytes(syn), a[1], a[2], b[0], b[1]])
    assert len(out) == 4  # a0 | syn | a1+a2 | b0+b1
    assert O.VNET_HDR.unpack_from(out[0])[1] == O.GSO_NONE
    assert O.VNET_HDR.unpack_from(out[2])[1] == O.GSO_TCPV4


def test_garbage_from_the_device_is_a_typed_error():
    with pytest.raises(O.OffloadError):
        O.segment(O.VNET_HDR.pack(0, 3, 0, 100, 20, 6) + bytes(60))  # UDP GSO, not offered
    with pytest.raises(O.OffloadError):
        O.segment(O.VNET_HDR.pack(0, O.GSO_TCPV4, 0, 100, 20, 16) + bytes(30))
