"""The daemon's UDP sockets: IPv4 and IPv6 on one port, fwmark, endpoints."""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
import struct
import sys

from ..model import Endpoint

SO_MARK = 36  # linux/asm-generic/socket.h
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
SOCKET_BUFFER = 4 << 20
# Sticky sources (linux/in.h, linux/in6.h): the local address a datagram
# arrived on comes with it, and a send may name the address it leaves from.
IP_PKTINFO = 8
IPV6_RECVPKTINFO, IPV6_PKTINFO = 49, 50
_IN_PKTINFO = struct.Struct("=I4s4s")  # ifindex, spec_dst (the source on send), addr
_IN6_PKTINFO = struct.Struct("=16sI")  # addr, ifindex
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
        # UDP GRO is the data plane's to turn on (it splits the batches).
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    except BaseException:
        s.close()
        raise
    return s


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


# --- rtnetlink: what changes under the daemon (linux/rtnetlink.h) ---------------------

NETLINK_ROUTE = 0
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE = 0x1, 0x10, 0x40
RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE = 0x100, 0x400
RTM_NEWLINK, RTM_DELLINK = 16, 17
ROUTING_CHANGES = frozenset((20, 21, 24, 25))  # RTM_NEW/DELADDR, RTM_NEW/DELROUTE
IFLA_MTU = 4
SIOCGIFMTU = 0x8921
_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_RTATTR = struct.Struct("=HH")


class LinkEvents:
    """What one drain of the rtnetlink socket said: our link's new MTU, and
    whether addresses or routes changed. (Its deletion is not read here: a
    link moved to another namespace is "deleted" here too and keeps working;
    the TUN descriptor itself says when the device is gone.)"""

    __slots__ = ("mtu", "overrun", "routing")

    def __init__(self) -> None:
        self.mtu: int | None = None
        self.routing = False
        self.overrun = False  # messages were lost (ENOBUFS): assume everything changed


class RtnlMonitor:
    """A non-blocking rtnetlink socket subscribed to link, address and route
    changes in the daemon's namespace: the TUN link's MTU (``ip link set
    mtu``) and the routing changes after which sticky sources
    are checked again. Nothing is read per packet; the daemon's selector
    watches ``fileno()``."""

    GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE

    def __init__(self, ifindex: int) -> None:
        self.ifindex = ifindex
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                                  NETLINK_ROUTE)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self.sock.bind((0, self.GROUPS))
        except BaseException:
            self.sock.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def drain(self) -> LinkEvents:
        ev = LinkEvents()
        while True:
            try:
                buf = self.sock.recv(1 << 16)
            except BlockingIOError:
                return ev
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                ev.overrun = ev.routing = True
                continue
            self._parse(buf, ev)

    def _parse(self, buf: bytes, ev: LinkEvents) -> None:
        off = 0
        while off + _NLMSGHDR.size <= len(buf):
            length, kind = _NLMSGHDR.unpack_from(buf, off)[:2]
            if length < _NLMSGHDR.size or off + length > len(buf):
                return
            body = off + _NLMSGHDR.size
            if kind in ROUTING_CHANGES:
                ev.routing = True
            elif kind in (RTM_NEWLINK, RTM_DELLINK) and length >= _NLMSGHDR.size + _IFINFOMSG.size:
                if kind == RTM_NEWLINK and _IFINFOMSG.unpack_from(buf, body)[2] == self.ifindex:
                    mtu = _link_mtu(buf, body + _IFINFOMSG.size, off + length)
                    ev.mtu = mtu if mtu is not None else ev.mtu
                ev.routing = True  # a link going up or down moves routes too
            off += (length + 3) & ~3


def _link_mtu(buf: bytes, off: int, end: int) -> int | None:
    while off + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(buf, off)
        if length < _RTATTR.size:
            return None
        if kind == IFLA_MTU and length >= _RTATTR.size + 4:
            return int.from_bytes(buf[off + 4:off + 8], sys.byteorder)
        off += (length + 3) & ~3
    return None


def link_mtu(name: str) -> int | None:
    """The MTU of link ``name`` in our namespace (SIOCGIFMTU), or None."""
    import fcntl

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifr = fcntl.ioctl(s, SIOCGIFMTU, struct.pack("16si12x", name.encode(), 0))
    except OSError:
        return None
    return struct.unpack_from("i", ifr, 16)[0]


def route_oif(dest: tuple, source: str) -> int | None:
    """The interface routing sends a datagram to ``dest`` from our address
    ``source`` out of (the kernel's own lookup, RTM_GETROUTE), or None if it
    refuses (``source`` is no longer ours, or no route)."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    host = dest[0].split("%", 1)[0]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with IPRoute() as ipr:
            msgs = ipr.route("get", family=family, dst=host, src=source)
    except (NetlinkError, OSError):
        return None
    for msg in msgs:
        oif = msg.get_attr("RTA_OIF")
        if oif is not None:
            return oif
    return None
