"""The kernel backend's daemon tells the module where an authenticated peer is, when a
handshake is retried and when it gave up (sswctl/daemon/kernel.py), and the genetlink
client encodes those requests by the schema (sswctl/ipc/genl.py). Real engines make the
handshakes; the kernel is replaced by a recorder of the calls the daemon makes (the VM
tests, tests/vm/test_endpoint.py, check what the module does with them)."""

from __future__ import annotations

import os
import socket

from sswctl import keys
from sswctl.daemon.kernel import KernelDaemon
from sswctl.ipc import genl_schema as S
from sswctl.ipc.genl import (
    CMD,
    GENL_HDR,
    NLMSG_HDR,
    GenlBackend,
    HandshakeUpcall,
    HandshakeUpcalls,
    decode,
    encode,
    endpoint_from,
    sockaddr,
)
from sswctl.model import Endpoint
from sswctl.protocol import Engine, Transmit

WALL = 1_700_000_000.0
A_ADDR, B_ADDR, ROAMED = Endpoint("192.0.2.1", 51820), Endpoint("192.0.2.2", 51820), Endpoint("198.51.100.9", 4000)
A_SECOND = Endpoint("192.0.2.101", 0)  # a second address of ours: where the peer wrote to


class KernelRecorder:
    def __init__(self):
        self.calls: list = []
        self.install_locals: list = []

    def install_keypair(self, name, peer, **kw):
        self.calls.append(("install", kw["initiator"], kw["endpoint"]))
        self.install_locals.append(kw.get("local"))

    def xmit_handshake(self, name, packet, **kw):
        self.calls.append(("xmit", packet, kw))

    def drop_staged(self, name, peer):
        self.calls.append(("drop_staged", peer))


def daemon_and_peer():
    ka, kb = keys.clamp(os.urandom(32)), keys.clamp(os.urandom(32))
    d = KernelDaemon("t0", genl=KernelRecorder())
    d.ifindex = 7
    d.engine = Engine(ka, "secureswift", wall_offset=WALL)
    other = Engine(kb, "secureswift", wall_offset=WALL)
    d.engine.add_peer(other.public_key, endpoint=(B_ADDR.host, B_ADDR.port))
    other.add_peer(d.engine.public_key, endpoint=(A_ADDR.host, A_ADDR.port))
    return d, other


def upcall(packet: bytes, source: Endpoint, local: Endpoint | None = None) -> HandshakeUpcall:
    return HandshakeUpcall(7, source, packet, local=local)


def first_transmit(events) -> bytes:
    return next(e for e in events if isinstance(e, Transmit)).data


def test_responder_install_carries_the_authenticated_initiations_source():
    d, other = daemon_and_peer()
    init = first_transmit(other.initiate(d.engine.public_key, 1.0))
    d._upcall(upcall(init, ROAMED), 1.0)
    install, xmit = d.kb.calls
    assert install == ("install", False, ROAMED)
    assert xmit[2]["endpoint"] == ROAMED and not xmit[2]["retransmit"]
    assert d._authenticated_from is None  # not left behind for a later install


def test_initiator_install_carries_the_responses_source():
    d, other = daemon_and_peer()
    d.need_handshake(other.public_key, 1.0)
    (xmit,) = d.kb.calls
    resp = first_transmit(other.receive(xmit[1], (A_ADDR.host, A_ADDR.port), 1.0).events)
    d._upcall(upcall(resp, ROAMED), 1.0)
    assert d.kb.calls[1] == ("install", True, ROAMED)


def test_responder_answers_and_installs_from_the_address_the_initiation_came_to():
    d, other = daemon_and_peer()
    init = first_transmit(other.initiate(d.engine.public_key, 1.0))
    d._upcall(upcall(init, ROAMED, A_SECOND), 1.0)
    install, xmit = d.kb.calls
    assert install == ("install", False, ROAMED) and d.kb.install_locals == [A_SECOND]
    assert xmit[2]["endpoint"] == ROAMED and xmit[2]["local"] == A_SECOND


def test_initiations_go_from_the_peers_last_local_address_but_retries_do_not():
    d, other = daemon_and_peer()
    # The peer once wrote to our second address from its configured endpoint.
    init = first_transmit(other.initiate(d.engine.public_key, 1.0))
    d._upcall(upcall(init, B_ADDR, A_SECOND), 1.0)
    d.kb.calls.clear()
    d.engine.forget_keypairs(other.public_key)
    d.need_handshake(other.public_key, 200.0)
    d.handle(d.engine.tick(206.0))  # unanswered: retried
    first, retry = (c[2] for c in d.kb.calls if c[0] == "xmit")
    assert first["endpoint"] == B_ADDR and first["local"] == A_SECOND and not first["retransmit"]
    assert retry["retransmit"] and retry["local"] is None


def test_an_upcall_without_local_address_leaves_the_source_to_the_kernel():
    d, other = daemon_and_peer()
    init = first_transmit(other.initiate(d.engine.public_key, 1.0))
    d._upcall(upcall(init, ROAMED), 1.0)  # a module older than sticky sources
    assert d.kb.install_locals == [None] and d.kb.calls[1][2]["local"] is None


def test_refused_messages_install_nothing_and_move_nothing():
    d, other = daemon_and_peer()
    init = first_transmit(other.initiate(d.engine.public_key, 1.0))
    d._upcall(upcall(init, A_ADDR), 1.0)
    n = len(d.kb.calls)
    d._upcall(upcall(init, ROAMED), 2.0)  # replayed from elsewhere
    stranger = Engine(keys.clamp(os.urandom(32)), "secureswift", wall_offset=WALL)
    stranger.add_peer(d.engine.public_key)
    d._upcall(upcall(first_transmit(stranger.initiate(d.engine.public_key, 2.0)), ROAMED), 2.0)
    assert len(d.kb.calls) == n
    assert sum(d.errors.values()) == 2


def test_retries_are_flagged_and_giving_up_drops_the_kernels_staged_packets():
    d, other = daemon_and_peer()
    d.need_handshake(other.public_key, 0.0)
    t = 0.0
    while not any(c[0] == "drop_staged" for c in d.kb.calls) and t < 200:
        t += 0.25
        d.handle(d.engine.tick(t))
    sends = [c[2] for c in d.kb.calls if c[0] == "xmit"]
    assert not sends[0]["retransmit"]
    assert len(sends) >= 18 and all(s["retransmit"] and s["peer_public_key"] == other.public_key
                                    for s in sends[1:])
    assert d.kb.calls[-1] == ("drop_staged", other.public_key)
    assert 90 <= t <= 120  # REKEY_ATTEMPT_TIME


def test_requests_encode_endpoint_flags_and_drop_staged_by_the_schema(monkeypatch):
    sent: list = []
    kb = GenlBackend()
    monkeypatch.setattr(kb, "_request", lambda cmd, payload, flags: sent.append((cmd, decode_for(cmd, payload))))
    peer = os.urandom(32)
    kb.install_keypair("lo", peer, local_index=1, remote_index=2, send_key=bytes(32), receive_key=bytes(32),
                       initiator=False, endpoint=ROAMED)
    kb.install_keypair("lo", peer, local_index=3, remote_index=4, send_key=bytes(32), receive_key=bytes(32),
                       initiator=True)
    kb.xmit_handshake("lo", b"\x11" * 8, peer_public_key=peer, retransmit=True)
    kb.xmit_handshake("lo", b"\x11" * 8, endpoint=ROAMED)
    kb.drop_staged("lo", peer)
    (c1, a1), (c2, a2), (c3, a3), (c4, a4), (c5, a5) = sent
    assert c1 == c2 == CMD["INSTALL_KEYPAIR"] and endpoint_from(a1["ENDPOINT"]) == ROAMED and "ENDPOINT" not in a2
    assert c3 == c4 == CMD["XMIT_HANDSHAKE"]
    assert a3["FLAGS"] == S.flagset("handshake").value("RETRANSMIT") and "FLAGS" not in a4
    assert c5 == CMD["DROP_STAGED"] and a5["PEER_PUBLIC_KEY"] == peer and a5["IFINDEX"] == 1


def test_local_address_encoding_both_ways(monkeypatch):
    sent: list = []
    kb = GenlBackend()
    monkeypatch.setattr(kb, "_request", lambda cmd, payload, flags: sent.append((cmd, decode_for(cmd, payload))))
    peer = os.urandom(32)
    v6_local = Endpoint("2001:db8::2%3", 0)  # an IPv6 local address carries the interface as its scope
    kb.install_keypair("lo", peer, local_index=1, remote_index=2, send_key=bytes(32), receive_key=bytes(32),
                       initiator=False, endpoint=ROAMED, local=A_SECOND)
    kb.xmit_handshake("lo", b"\x11" * 8, endpoint=Endpoint("2001:db8::9", 4000), local=v6_local)
    kb.xmit_handshake("lo", b"\x11" * 8, peer_public_key=peer, local=A_SECOND)  # no endpoint: not sent
    (_, a1), (_, a2), (_, a3) = sent
    assert len(a1["LOCAL"]) == 16 and endpoint_from(a1["LOCAL"]) == A_SECOND
    assert len(a2["LOCAL"]) == 28 and endpoint_from(a2["LOCAL"]) == v6_local
    assert "LOCAL" not in a3
    # The upcall as the module sends it: LOCAL decoded next to ENDPOINT.
    body = (encode("handshake", "IFINDEX", 7) + encode("handshake", "ENDPOINT", sockaddr(ROAMED))
            + encode("handshake", "LOCAL", sockaddr(A_SECOND)) + encode("handshake", "PACKET", b"\x11" * 8))
    hdr = GENL_HDR.pack(CMD["HANDSHAKE_UPCALL"], S.FAMILY_VERSION, 0)
    msg = NLMSG_HDR.pack(NLMSG_HDR.size + len(hdr) + len(body), 0x20, 0, 0, 0) + hdr + body
    ups = HandshakeUpcalls.__new__(HandshakeUpcalls)  # fed from a socketpair instead of the kernel
    ups.sock, feed = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with ups, feed:
        feed.send(msg)
        (up,) = ups.read()
    assert (up.kind, up.endpoint, up.local, up.packet) == ("handshake", ROAMED, A_SECOND, b"\x11" * 8)


def decode_for(cmd: int, payload: bytes) -> dict:
    return decode("keypair" if cmd == CMD["INSTALL_KEYPAIR"] else "handshake", payload)
