"""The daemon's rtnetlink reader (sswctl/daemon/net.py RtnlMonitor): which
messages mean a new link MTU and which a routing change. The messages are
built here byte by byte as linux/rtnetlink.h lays them out; the netns tests
(test_userspace_like_wireguard.py) run it against the real kernel."""

from __future__ import annotations

import struct

from sswctl.daemon import net


def _msg(kind: int, body: bytes) -> bytes:
    length = 16 + len(body)
    return struct.pack("=IHHII", length, kind, 0, 0, 0) + body + bytes(-length % 4)


def _attr(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + bytes(-length % 4)


def _link(kind: int, ifindex: int, mtu: int | None) -> bytes:
    body = struct.pack("=BxHiII", 0, 65534, ifindex, 0, 0) + _attr(3, b"tun0\0")  # IFLA_IFNAME first
    if mtu is not None:
        body += _attr(net.IFLA_MTU, struct.pack("=I", mtu))
    return _msg(kind, body)


def _events(buf: bytes, ifindex: int = 7) -> net.LinkEvents:
    monitor = net.RtnlMonitor.__new__(net.RtnlMonitor)  # the parser alone, no socket
    monitor.ifindex = ifindex
    ev = net.LinkEvents()
    monitor._parse(buf, ev)
    return ev


def test_our_links_new_mtu_is_read_and_another_links_is_not():
    ev = _events(_link(net.RTM_NEWLINK, 9, 9000) + _link(net.RTM_NEWLINK, 7, 1300))
    assert ev.mtu == 1300
    assert _events(_link(net.RTM_NEWLINK, 9, 9000)).mtu is None
    assert _events(_link(net.RTM_NEWLINK, 7, None)).mtu is None


def test_a_deleted_link_is_no_mtu_but_may_move_routes():
    ev = _events(_link(net.RTM_DELLINK, 7, 1300))
    assert ev.mtu is None and ev.routing


def test_address_and_route_changes_mean_routing_changed():
    for kind in (20, 21, 24, 25):  # RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE
        assert _events(_msg(kind, bytes(12))).routing
    assert not _events(_msg(3, bytes(4))).routing  # NLMSG_DONE


def test_truncated_or_lying_lengths_stop_the_parse_without_error():
    good = _link(net.RTM_NEWLINK, 7, 1400)
    assert _events(good[:-3]).mtu is None  # the message claims more than there is
    bad_attr = good[:32] + struct.pack("=HH", 2, 3) + good[36:]  # the first attribute, shorter than its header
    assert _events(bad_attr).mtu is None
    assert _events(struct.pack("=IHHII", 8, 16, 0, 0, 0)).mtu is None  # length below the header
