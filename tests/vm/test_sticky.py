"""Sticky source address: the module answers a peer from the address of ours the peer
wrote to, as WireGuard does, with real `sswctl daemon`s on both sides.

Namespace B has two addresses on its veth, B1 (primary: what the routing table picks
as the source towards A) and B2 (secondary). A's peer B has endpoint B2, and an
nftables rule in A drops UDP from B1: only what B sends from B2 reaches A, as behind a
NAT or a firewall that accepts replies only from the address it wrote to. The
handshake response (the daemon's XMIT_HANDSHAKE with the upcall's LOCAL), the session's
data (INSTALL_KEYPAIR's LOCAL, then the address data arrives on) must all leave from B2.

When B2 is removed from B, B's sender gives the source up and the route picks B1
again: the firewall then counts B's datagrams from B1, and once the rule is lifted A
roams to B1 (its kernel saw an authentic packet from there).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import time
from pathlib import Path

import pytest
from conftest import in_netns, load_module, run, unique
from test_daemon import Daemon, ping, stop_all

from sswctl import keys
from sswctl.ipc import IPCError
from sswctl.ipc.genl import CMD, GenlBackend, encode, sockaddr
from sswctl.model import Device, Endpoint, Peer

# Per outer family: A, B1 (B's primary: the route's choice towards A), B2, the prefix.
OUTER = {
    4: ("192.168.246.1", "192.168.246.2", "192.168.246.12", 24),
    6: ("fd46::1", "fd46::2", "fd46::12", 64),
}
A_PORT, B_PORT = 52201, 52202
A_IN, B_IN = "10.246.0.1", "10.246.0.2"
TABLE = "ssw_sticky"


class TwoAddresses:
    """A (ns 0) and B (ns 1), a secureswift device and a real daemon each; B's veth has
    B1 then B2; A's peer B is at B2; B's peer A has no endpoint (B only answers)."""

    def __init__(self, netns, tmp_path: Path, family: int):
        load_module()
        self.family = family
        a_addr, self.b1, self.b2, plen = OUTER[family]
        self.a_addr, self.plen = a_addr, plen
        nodad = ("nodad",) if family == 6 else ()
        self.kb = GenlBackend()
        self.ns = (netns(), netns())
        self.dev = (unique("sta"), unique("stb"))
        priv = (keys.clamp(os.urandom(32)), keys.clamp(os.urandom(32)))
        self.pub = tuple(keys.public_key(k) for k in priv)
        va, vb = unique("va"), unique("vb")
        run("ip", "link", "add", va, "netns", self.ns[0], "type", "veth", "peer", "name", vb, "netns", self.ns[1])
        run("ip", "-n", self.ns[0], "addr", "add", f"{a_addr}/{plen}", "dev", va, *nodad)
        run("ip", "-n", self.ns[1], "addr", "add", f"{self.b1}/{plen}", "dev", vb, *nodad)
        # B2 is a secondary (v4); for v6, where both would tie in source selection,
        # deprecated (preferred_lft 0): still ours, but never the route's choice.
        run("ip", "-n", self.ns[1], "addr", "add", f"{self.b2}/{plen}", "dev", vb, *nodad,
            *(("preferred_lft", "0") if family == 6 else ()))
        self.vb = vb
        peers = (Peer(public_key=self.pub[1], endpoint=Endpoint(self.b2, B_PORT),
                      allowed_ips=[ipaddress.ip_network(f"{B_IN}/32")]),
                 Peer(public_key=self.pub[0], allowed_ips=[ipaddress.ip_network(f"{A_IN}/32")]))
        for i, (veth, port, inner) in enumerate(((va, A_PORT, A_IN), (vb, B_PORT, B_IN))):
            ns, dev = self.ns[i], self.dev[i]
            run("ip", "-n", ns, "link", "set", veth, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "link", "add", dev, "type", "secureswift")
            run("ip", "-n", ns, "addr", "add", f"{inner}/24", "dev", dev)
            with in_netns(ns):
                self.kb.set_device(Device(name=dev, private_key=priv[i], listen_port=port, peers=[peers[i]]))
            run("ip", "-n", ns, "link", "set", dev, "up")
        # A accepts nothing from B1's address: only B2 gets through.
        nft(self.ns[0], "add", "table", "inet", TABLE)
        nft(self.ns[0], "add", "chain", "inet", TABLE, "in", "{ type filter hook input priority 0 ; }")
        nft(self.ns[0], "add", "rule", "inet", TABLE, "in", "ip" if family == 4 else "ip6", "saddr", self.b1,
            "udp", "dport", str(A_PORT), "counter", "drop")
        self.daemons = [Daemon(self.ns[i], self.dev[i], tmp_path, "--backend", "kernel") for i in (0, 1)]

    def endpoint(self, i: int) -> Endpoint | None:
        """Side i's kernel endpoint for its peer, as GET_DEVICE reports it."""
        with in_netns(self.ns[i]):
            (peer,) = self.kb.get_device(self.dev[i]).peers
        return peer.endpoint

    def dropped_from_b1(self) -> int:
        """Packets A's firewall dropped because they came from B1."""
        listing = json.loads(nft(self.ns[0], "-j", "list", "table", "inet", TABLE).stdout)
        return sum(item["rule"]["expr"][-2]["counter"]["packets"] for item in listing["nftables"]
                   if "rule" in item)

    def remove_b2(self) -> None:
        run("ip", "-n", self.ns[1], "addr", "del", f"{self.b2}/{self.plen}", "dev", self.vb)

    def lift_firewall(self) -> None:
        nft(self.ns[0], "delete", "table", "inet", TABLE)

    def close(self) -> None:
        stop_all(self.daemons)


def nft(ns: str, *args: str):
    return run("nft", *args, netns=ns)


def b_plain_udp_leaves_from_b1_and_is_dropped(t: TwoAddresses) -> None:
    """The set-up's premise: a datagram B sends without a chosen source leaves from B1,
    and A's firewall drops it (so the tunnel can only work if B answers from B2)."""
    before = t.dropped_from_b1()
    with in_netns(t.ns[1]):
        s = socket.socket(socket.AF_INET if t.family == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
    with s:
        s.sendto(b"x", (t.a_addr, A_PORT))
    deadline = time.monotonic() + 60  # a poll: generous, ends as soon as it is counted
    while t.dropped_from_b1() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert t.dropped_from_b1() == before + 1


@pytest.mark.parametrize("family", [4, 6])
def test_answers_and_data_leave_from_the_address_the_peer_wrote_to(netns, tmp_path, family):
    t = TwoAddresses(netns, tmp_path, family)
    try:
        b_plain_udp_leaves_from_b1_and_is_dropped(t)
        dropped = t.dropped_from_b1()
        # A initiates to B2; B's response must come from B2 or A never completes.
        ping(t.ns[0], B_IN, count=3)
        ping(t.ns[1], A_IN, count=3)
        assert t.endpoint(0) == Endpoint(t.b2, B_PORT)  # never roamed to B1
        assert t.endpoint(1) == Endpoint(t.a_addr, A_PORT)
        assert t.dropped_from_b1() == dropped  # nothing of the tunnel's left B from B1
        for d in t.daemons:
            assert d.poll() is None, d.output()
        assert "new session with peer" in t.daemons[1].output()
    finally:
        t.close()


@pytest.mark.parametrize("family", [4, 6])
def test_the_source_removed_from_the_host_falls_back_to_a_routable_one(netns, tmp_path, family):
    t = TwoAddresses(netns, tmp_path, family)
    try:
        ping(t.ns[0], B_IN, count=2)
        assert t.endpoint(0) == Endpoint(t.b2, B_PORT)
        # B2 goes away while the session runs: B's sender gives the source up and the
        # route picks B1, which A's firewall drops (counted) ...
        t.remove_b2()
        cp = run("ping", "-c", "3", "-i", "0.3", "-W", "1", A_IN, check=False, netns=t.ns[1])
        assert cp.returncode != 0, cp.stdout
        deadline = time.monotonic() + 60  # a poll: generous, ends as soon as it is counted
        while t.dropped_from_b1() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert t.dropped_from_b1() > 0
        # ... and once the rule is lifted, A hears B from B1 and roams there.
        t.lift_firewall()
        ping(t.ns[1], A_IN, count=3)
        assert t.endpoint(0) == Endpoint(t.b1, B_PORT)
        ping(t.ns[0], B_IN, count=2)
        for d in t.daemons:
            assert d.poll() is None, d.output()
    finally:
        t.close()


def test_xmit_handshake_sends_from_the_local_address_given_while_it_is_ours(netns):
    """XMIT_HANDSHAKE's LOCAL, seen by the receiving socket; an address that is not ours
    falls back to the route's choice; LOCAL alone or of another family is refused."""
    load_module()
    ns, dev, kb = netns(), unique("stx"), GenlBackend()
    run("ip", "-n", ns, "link", "set", "lo", "up")
    run("ip", "-n", ns, "addr", "add", "127.0.0.2/8", "dev", "lo")  # ours, never the route's choice
    run("ip", "-n", ns, "link", "add", dev, "type", "secureswift")
    with in_netns(ns):
        kb.set_device(Device(name=dev, private_key=keys.clamp(os.urandom(32)), listen_port=52301))
        run("ip", "link", "set", dev, "up")
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with rx:
            rx.bind(("127.0.0.1", 52302))
            rx.settimeout(20)
            to = Endpoint("127.0.0.1", 52302)
            kb.xmit_handshake(dev, _initiation(b"sticky"), endpoint=to, local=Endpoint("127.0.0.2", 0))
            assert rx.recvfrom(2048) == (_initiation(b"sticky"), ("127.0.0.2", 52301))
            kb.xmit_handshake(dev, _initiation(b"gone"), endpoint=to, local=Endpoint("192.0.2.77", 0))
            assert rx.recvfrom(2048) == (_initiation(b"gone"), ("127.0.0.1", 52301))
            kb.xmit_handshake(dev, _initiation(b"plain"), endpoint=to)
            assert rx.recvfrom(2048) == (_initiation(b"plain"), ("127.0.0.1", 52301))
            base = (encode("handshake", "IFINDEX", socket.if_nametoindex(dev))
                    + encode("handshake", "PACKET", _initiation(b"x")))
            local4 = encode("handshake", "LOCAL", sockaddr(Endpoint("127.0.0.2", 0)))
            nobody = encode("handshake", "PEER_PUBLIC_KEY", os.urandom(32))  # alone: ENOENT
            for payload in (base + nobody + local4,  # LOCAL goes with an ENDPOINT only
                            base + encode("handshake", "ENDPOINT", sockaddr(Endpoint("::1", 52302))) + local4):
                with pytest.raises(IPCError) as e:
                    kb._request(CMD["XMIT_HANDSHAKE"], payload, 0)
                assert e.value.errno == errno.EINVAL
            assert _nothing_arrives(rx)


def _initiation(tag: bytes) -> bytes:
    """A message XMIT_HANDSHAKE sends: the type and size of a secureswift-mode initiation."""
    return (b"\x11\0\0\0" + tag).ljust(1332, b"\0")


def _nothing_arrives(s: socket.socket) -> bool:
    s.settimeout(1)
    try:
        s.recvfrom(2048)
    except TimeoutError:
        return True
    return False
