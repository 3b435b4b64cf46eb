"""The daemon's sticky-source socket helpers (sswctl/daemon/net.py) on real
loopback sockets, no root: every 127/8 address is local, so a wildcard-bound
socket can be written to on 127.0.0.7 and answer from it."""

from __future__ import annotations

import errno
import socket

import pytest

from sswctl.daemon import net

# recvmsg's ancillary space for one in6_pktinfo (the larger of the two)
CMSG_SPACE = socket.CMSG_SPACE(net._IN6_PKTINFO.size)


def local_address(ancdata: list) -> str | None:
    """The local address a datagram was sent to, from IP_PKTINFO / IPV6_PKTINFO
    (the native data plane reads the same control messages in C)."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == net.IP_PKTINFO:
            return socket.inet_ntop(socket.AF_INET, net._IN_PKTINFO.unpack_from(data)[1])
        if level == socket.IPPROTO_IPV6 and kind == net.IPV6_PKTINFO:
            return socket.inet_ntop(socket.AF_INET6, net._IN6_PKTINFO.unpack_from(data)[0])
    return None


@pytest.fixture
def pair():
    """The daemon's own IPv4 socket (wildcard, random port) and a peer on 127.0.0.1."""
    v4, v6, port = net.bind_pair(0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    v4.setblocking(True)
    v4.settimeout(5)
    yield v4, port, peer
    for s in (v4, v6, peer):
        if s is not None:
            s.close()


def test_the_local_address_comes_with_each_datagram(pair):
    ours, port, peer = pair
    for local in ("127.0.0.7", "127.0.0.1"):
        peer.sendto(b"hello", (local, port))
        data, ancdata, _flags, src = ours.recvmsg(64, CMSG_SPACE)
        assert (data, src) == (b"hello", peer.getsockname())
        assert local_address(ancdata) == local


def test_a_send_with_a_source_leaves_from_it(pair):
    ours, _port, peer = pair
    ours.sendmsg([b"reply"], [net.source_cmsg("127.0.0.7")], 0, peer.getsockname())
    assert peer.recvfrom(64) == (b"reply", ("127.0.0.7", ours.getsockname()[1]))
    ours.sendto(b"routed", peer.getsockname())  # without: what routing picks
    assert peer.recvfrom(64)[1][0] == "127.0.0.1"


def test_a_source_that_is_not_ours_is_refused_as_the_daemon_expects(pair):
    ours, _port, peer = pair
    with pytest.raises(OSError) as e:
        ours.sendmsg([b"x"], [net.source_cmsg("192.0.2.7")], 0, peer.getsockname())
    assert e.value.errno in net.SOURCE_REFUSED
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        with pytest.raises(OSError) as e:
            v6.sendmsg([b"x"], [net.source_cmsg("2001:db8::7")], 0, ("::1", 9))
        assert e.value.errno == errno.EINVAL
    finally:
        v6.close()
