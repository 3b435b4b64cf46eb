"""A reference model, for tests only: TCP segmentation and coalescing for a
TUN device with IFF_VNET_HDR, as the native data plane does it in C
(sswctl/_datapath/offload.c); tests/unit/test_datapath.py checks the C
splitter and coalescer against it byte for byte.

With offloads on, the kernel hands the data plane TCP "super-packets" of up
to 64 KiB (one read instead of ~45) and accepts them back (one write instead
of ~45). On the wire nothing changes: every super-packet is cut into ordinary
MTU-sized packets before encryption (``segment``), and consecutive packets
of one TCP flow received in a batch are glued back together before they go
to the kernel (``coalesce``). This is what wireguard-go does in
tun/offload_linux.go; this is an independent implementation of the same idea
from the virtio-net header definition (linux/virtio_net.h).

Checksums use the fact that 2**16 == 1 (mod 0xFFFF): the 16-bit ones'
complement sum of a byte string is its big-endian integer value mod 0xFFFF,
which CPython computes in C.
"""

from __future__ import annotations

import struct

VNET_HDR = struct.Struct("<BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
VNET_HDR_LEN = VNET_HDR.size  # 10
F_NEEDS_CSUM = 1
F_DATA_VALID = 2
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_TCPV6 = 4
GSO_ECN = 0x80
PLAIN_HDR = VNET_HDR.pack(F_DATA_VALID, GSO_NONE, 0, 0, 0, 0)
MAX_COALESCED = 65535 - 40  # an IPv6 payload length must fit 16 bits

TCP_FIN, TCP_PSH, TCP_CWR = 0x01, 0x08, 0x80
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class OffloadError(ValueError):
    """A super-packet that cannot be segmented (the data plane drops and counts it)."""


def ones_sum(data) -> int:
    """16-bit ones' complement sum (not complemented), 0..0xFFFE."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    return int.from_bytes(data, "big") % 0xFFFF


def _fold(total: int) -> int:
    return total % 0xFFFF


def _pseudo(pkt, ip_len: int, l4_len: int) -> int:
    """Pseudo-header sum: addresses, protocol 6 (TCP) and the L4 length."""
    if pkt[0] >> 4 == 4:
        return ones_sum(pkt[12:20]) + 6 + l4_len
    return ones_sum(pkt[8:40]) + 6 + l4_len


def _ipv4_header_checksum(hdr: bytearray) -> None:
    """Recompute the checksum of the 20-byte IPv4 header at the start of ``hdr``."""
    hdr[10:12] = b"\0\0"
    hdr[10:12] = _U16.pack(~ones_sum(hdr[:20]) & 0xFFFF)


def segment(buf: bytes) -> list[bytes]:
    """Packets (without the virtio header) for one read from the TUN device."""
    flags, gso_type, _hdr_len, gso_size, csum_start, csum_offset = VNET_HDR.unpack_from(buf)
    pkt = memoryview(buf)[VNET_HDR_LEN:]
    gso = gso_type & ~GSO_ECN
    if gso == GSO_NONE:
        if not flags & F_NEEDS_CSUM:
            return [bytes(pkt)]
        # Finish a partial checksum: the field holds the pseudo-header sum.
        out = bytearray(pkt)
        if csum_start + csum_offset + 2 > len(out):
            raise OffloadError("checksum offset outside the packet")
        s = ones_sum(out[csum_start:])
        out[csum_start + csum_offset:csum_start + csum_offset + 2] = _U16.pack(~s & 0xFFFF or 0xFFFF)
        return [bytes(out)]
    if gso not in (GSO_TCPV4, GSO_TCPV6) or gso_size == 0:
        raise OffloadError(f"unsupported GSO type {gso_type}")
    ip_len = csum_start
    if len(pkt) < ip_len + 20:
        raise OffloadError("truncated TCP super-packet")
    tcp_len = (pkt[ip_len + 12] >> 4) * 4
    head_len = ip_len + tcp_len
    payload = pkt[head_len:]
    ip_hdr = bytearray(pkt[:ip_len])
    tcp_hdr = bytearray(pkt[ip_len:head_len])
    seq0 = _U32.unpack_from(tcp_hdr, 4)[0]
    flags0 = tcp_hdr[13]
    v4 = gso == GSO_TCPV4
    ip_id = _U16.unpack_from(ip_hdr, 4)[0] if v4 else 0
    # The TCP checksum of each segment, by parts: the pseudo-header addresses
    # and the header words that never change are summed once; per segment
    # only sequence number, flags, length and payload are added.
    tcp_hdr[4:8] = b"\0\0\0\0"
    tcp_hdr[13] = 0
    tcp_hdr[16:18] = b"\0\0"
    fixed = (ones_sum(ip_hdr[12:20]) if v4 else ones_sum(ip_hdr[8:40])) + 6 + tcp_len + ones_sum(tcp_hdr)
    hdr_byte12 = tcp_hdr[12] << 8  # data offset shares a 16-bit word with the flags
    fixed -= hdr_byte12  # added back with the flags below
    out = []
    n = len(payload)
    pack16, pack32 = _U16.pack_into, _U32.pack_into
    for i, off in enumerate(range(0, n, gso_size)):
        chunk = payload[off:off + gso_size]
        size = len(chunk)
        seq = (seq0 + off) & 0xFFFFFFFF
        f = flags0
        if off + gso_size < n:
            f &= ~(TCP_FIN | TCP_PSH)
        if i:
            f &= ~TCP_CWR
        if v4:
            pack16(ip_hdr, 2, head_len + size)
            pack16(ip_hdr, 4, (ip_id + i) & 0xFFFF)
            _ipv4_header_checksum(ip_hdr)
        else:
            pack16(ip_hdr, 4, ip_len - 40 + tcp_len + size)
        total = fixed + size + (seq >> 16) + (seq & 0xFFFF) + hdr_byte12 + f + ones_sum(chunk)
        pack32(tcp_hdr, 4, seq)
        tcp_hdr[13] = f
        pack16(tcp_hdr, 16, ~(total % 0xFFFF) & 0xFFFF or 0xFFFF)
        out.append(b"".join((ip_hdr, tcp_hdr, chunk)))
    return out


def _tcp_key(pkt: bytes):
    """(flow key, ip_len, tcp_len, seq, payload_len, flags) of a plain TCP packet, or None."""
    n = len(pkt)
    if n < 40:
        return None
    v = pkt[0] >> 4
    if v == 4:
        ihl = (pkt[0] & 15) * 4
        # No options, not a fragment, TCP.
        if ihl != 20 or pkt[9] != 6 or (_U16.unpack_from(pkt, 6)[0] & 0x3FFF):
            return None
        ip_len = 20
        if _U16.unpack_from(pkt, 2)[0] != n:
            return None
        # Everything but total length, id and checksum must match to merge.
        ip_static = pkt[0:2] + pkt[6:10] + pkt[12:20]
    elif v == 6:
        if pkt[6] != 6 or n < 60 or _U16.unpack_from(pkt, 4)[0] + 40 != n:
            return None
        ip_len = 40
        ip_static = pkt[0:4] + pkt[6:40]
    else:
        return None
    tcp_len = (pkt[ip_len + 12] >> 4) * 4
    if tcp_len < 20 or ip_len + tcp_len > n:
        return None
    flags = pkt[ip_len + 13]
    # Merge only plain data segments: ACK, optionally PSH (on the last one).
    if flags & ~(0x10 | TCP_PSH) or not flags & 0x10:
        return None
    tcp = pkt[ip_len:ip_len + tcp_len]
    # Ports, ack, window, urgent pointer and options must match.
    key = (ip_static, tcp[0:4] + tcp[8:13] + tcp[14:16] + tcp[18:])
    return key, ip_len, tcp_len, _U32.unpack_from(tcp, 4)[0], n - ip_len - tcp_len, flags


def coalesce(packets: list[bytes]) -> list[bytes]:
    """Virtio-framed buffers for the TUN device: runs of one TCP flow merged.

    A run continues while the next packet of the same flow starts where the
    previous ended, carries as much payload as the first (the last may carry
    less, and ends the run), has no PSH before the end, and the total stays
    under 64 KiB. Everything else goes out alone, marked checksum-valid (the
    AEAD already authenticated it; the kernel's WireGuard does the same).
    """
    out: list[bytes] = []
    i, n = 0, len(packets)
    while i < n:
        first = packets[i]
        info = _tcp_key(first)
        j = i + 1
        if info is not None and info[4] > 0 and not info[5] & TCP_PSH:
            key, ip_len, tcp_len, seq, size, _ = info
            total = size
            nxt = (seq + size) & 0xFFFFFFFF
            while j < n:
                other = _tcp_key(packets[j])
                if (other is None or other[0] != key or other[3] != nxt or other[4] == 0
                        or other[4] > size or total + other[4] > MAX_COALESCED - ip_len - tcp_len):
                    break
                total += other[4]
                nxt = (nxt + other[4]) & 0xFFFFFFFF
                j += 1
                if other[4] < size or other[5] & TCP_PSH:
                    break
        if j - i == 1:
            out.append(PLAIN_HDR + first)
        else:
            out.append(_merge(packets[i:j], ip_len, tcp_len, size))
        i = j
    return out


def _merge(run: list[bytes], ip_len: int, tcp_len: int, seg: int) -> bytes:
    head = bytearray(run[0][:ip_len + tcp_len])
    body = b"".join(p[ip_len + tcp_len:] for p in run)
    last = run[-1]
    head[ip_len + 13] = last[ip_len + 13]  # PSH of the last segment
    l4 = tcp_len + len(body)
    if ip_len == 20:
        head[2:4] = _U16.pack(ip_len + l4)
        _ipv4_header_checksum(head)
        gso = GSO_TCPV4
    else:
        head[4:6] = _U16.pack(l4)
        gso = GSO_TCPV6
    # CHECKSUM_PARTIAL: the field holds the pseudo-header sum; the kernel
    # (or whoever segments this) adds the rest.
    head[ip_len + 16:ip_len + 18] = _U16.pack(_fold(_pseudo(head, ip_len, l4)))
    vnet = VNET_HDR.pack(F_NEEDS_CSUM, gso, ip_len + tcp_len, seg, ip_len, 16)
    return vnet + bytes(head) + body
