"""The daemon's UDP sockets: IPv4 and IPv6 on one port, fwmark, endpoints."""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
import struct

from ..model import Endpoint

SO_MARK = 36  # linux/asm-generic/socket.h
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
SOCKET_BUFFER = 4 << 20
# UDP segmentation/receive offload (linux/udp.h), Linux >= 4.18 / 5.0.
SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
GSO_SIZE = struct.Struct("=H")
GSO_MAX_SEGMENTS = 64  # UDP_MAX_SEGMENTS
GSO_MAX_BYTES = 65507 - 8  # one UDP payload's limit, with some slack
RECV_BUFFER = 65536
# Sticky sources (linux/in.h, linux/in6.h): the local address a datagram
# arrived on comes with it, and a send may name the address it leaves from.
IP_PKTINFO = 8
IPV6_RECVPKTINFO, IPV6_PKTINFO = 49, 50
_IN_PKTINFO = struct.Struct("=I4s4s")  # ifindex, spec_dst (the source on send), addr
_IN6_PKTINFO = struct.Struct("=16sI")  # addr, ifindex
# recvmsg's ancillary space: a UDP_GRO segment size and an in6_pktinfo
RECV_CMSG_SPACE = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(_IN6_PKTINFO.size)
# A send whose source address is no longer ours fails with these: IPv6
# checks the IPV6_PKTINFO address (EINVAL), IPv4's route lookup finds no
# device that has it (ENETUNREACH). The send is repeated without it.
SOURCE_REFUSED = (errno.EINVAL, errno.ENETUNREACH)


class BindError(OSError):
    """The listen port could not be bound on every family."""


def _udp(family: int, port: int, fwmark: int) -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    try:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # As root, the *FORCE variants get past net.core.[rw]mem_max (often
        # ~200 KiB, a few dozen full-size datagrams): bursts must not drop here.
        for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
            for opt in (force, plain):
                try:
                    s.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
                    break
                except OSError:
                    continue
        if fwmark:
            s.setsockopt(socket.SOL_SOCKET, SO_MARK, fwmark)
        try:
            s.setsockopt(SOL_UDP, UDP_GRO, 1)
        except OSError:
            pass  # an old kernel: datagrams arrive one by one
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    except BaseException:
        s.close()
        raise
    return s


def gro_segment_size(ancdata: list) -> int:
    """The segment size of a UDP GRO batch from recvmsg's ancillary data, or 0."""
    for level, kind, data in ancdata:
        if level == SOL_UDP and kind == UDP_GRO and len(data) >= 4:
            return int.from_bytes(data[:4], "little")
    return 0


def local_address(ancdata: list) -> str | None:
    """The local address a datagram was sent to (IP_PKTINFO / IPV6_PKTINFO), or None."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _IN_PKTINFO.size:
            return socket.inet_ntop(socket.AF_INET, _IN_PKTINFO.unpack_from(data)[1])
        if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(data) >= _IN6_PKTINFO.size:
            return socket.inet_ntop(socket.AF_INET6, _IN6_PKTINFO.unpack_from(data)[0])
    return None


@functools.lru_cache(maxsize=256)
def source_cmsg(local: str) -> tuple:
    """The control message that makes a send leave from ``local`` (interface left to routing)."""
    if ":" in local:
        return (socket.IPPROTO_IPV6, IPV6_PKTINFO, _IN6_PKTINFO.pack(socket.inet_pton(socket.AF_INET6, local), 0))
    return (socket.IPPROTO_IP, IP_PKTINFO, _IN_PKTINFO.pack(0, socket.inet_aton(local), bytes(4)))


def _ipv6_available() -> bool:
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
    except OSError:
        return False
    return True


def bind_pair(port: int, fwmark: int = 0) -> tuple[socket.socket, socket.socket | None, int]:
    """(v4, v6 or None, port): both families on the same port (0 = random).

    With port 0 the kernel picks the v4 port and v6 must get the same one;
    if that is taken on v6 we retry with a fresh random port, like
    wireguard-go's bind does.
    """
    for _attempt in range(16):
        v4 = _udp(socket.AF_INET, port, fwmark)
        actual = v4.getsockname()[1]
        if not _ipv6_available():
            return v4, None, actual
        try:
            v6 = _udp(socket.AF_INET6, actual, fwmark)
        except OSError as e:
            v4.close()
            if port == 0 and e.errno == errno.EADDRINUSE:
                continue
            raise BindError(e.errno, f"cannot bind UDP port {actual} on IPv6: {e.strerror}") from None
        return v4, v6, actual
    raise BindError(errno.EADDRINUSE, "no free UDP port for both IPv4 and IPv6")


def resolve_endpoint(ep: Endpoint) -> tuple:
    """A socket address for an Endpoint (IP literal; a hostname is resolved once)."""
    host = ep.host
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        info = socket.getaddrinfo(host, ep.port, type=socket.SOCK_DGRAM)
        return info[0][4]
    if ":" in host:
        return socket.getaddrinfo(host, ep.port, socket.AF_INET6, socket.SOCK_DGRAM)[0][4]
    return (host, ep.port)


def endpoint_of(addr: tuple) -> Endpoint:
    """The Endpoint for a received socket address (v4-mapped v6 unmapped)."""
    host = addr[0]
    if len(addr) == 4:
        ip = ipaddress.IPv6Address(host.split("%", 1)[0])
        if ip.ipv4_mapped:
            return Endpoint(str(ip.ipv4_mapped), addr[1])
    return Endpoint(host, addr[1])
