"""The engine-event driver both daemon backends share (sswctl/daemon/driver.py), driven by
real handshakes of the protocol engine; the hooks record what a backend would do."""

from __future__ import annotations

import os

from sswctl import keys
from sswctl.daemon.driver import EngineDriver
from sswctl.protocol import Engine, Transmit

WALL = 1_700_000_000.0
A_ADDR, B_ADDR = ("192.0.2.1", 51820), ("192.0.2.2", 51820)


class Recorder(EngineDriver):
    def __init__(self, engine: Engine):
        self.name = "t0"
        self.engine = engine
        self.done: list = []

    def transmit(self, ev: Transmit) -> None:
        self.done.append(("send", ev.kind, ev.data))

    def install_keypair(self, peer, keypair) -> None:
        self.done.append(("install", keypair.is_initiator, keypair.local_index))

    def gave_up(self, peer, dropped) -> None:
        self.done.append(("gave_up", peer))


def engines(protocol: str = "secureswift"):
    ka, kb = keys.clamp(os.urandom(32)), keys.clamp(os.urandom(32))
    a = Engine(ka, protocol, wall_offset=WALL)
    b = Engine(kb, protocol, wall_offset=WALL)
    a.add_peer(b.public_key, endpoint=B_ADDR)
    b.add_peer(a.public_key, endpoint=A_ADDR)
    return a, b


def test_responder_installs_keys_before_sending_its_response():
    a, b = engines()
    da, db = Recorder(a), Recorder(b)
    da.need_handshake(b.public_key, 1.0)
    (init,) = da.done
    assert init[:2] == ("send", "initiation")
    db.handle(b.receive(init[2], A_ADDR, 1.0).events)
    assert [d[:2] for d in db.done] == [("install", False), ("send", "response")]
    da.handle(a.receive(db.done[1][2], B_ADDR, 1.0).events)
    assert [d[:2] for d in da.done[1:]] == [("install", True)]  # the kernel sends the confirmation
    # the two installed keypairs are the two ends of one session
    assert a.keypairs(b.public_key)["current"].remote_index == db.done[0][2]


def test_need_handshake_for_an_unknown_peer_is_ignored_and_retries_are_rate_limited():
    a, b = engines("wireguard")
    da = Recorder(a)
    da.need_handshake(os.urandom(32), 1.0)
    assert da.done == []
    da.need_handshake(b.public_key, 1.0)
    da.need_handshake(b.public_key, 2.0)  # within REKEY_TIMEOUT: no second initiation
    assert [d[:2] for d in da.done] == [("send", "initiation")]


def test_unanswered_handshake_gives_up_through_the_hook():
    a, b = engines()
    da = Recorder(a)
    da.need_handshake(b.public_key, 0.0)
    t = 0.0
    while not any(d[0] == "gave_up" for d in da.done) and t < 200:
        t += 0.25
        da.handle(a.tick(t))
    assert ("gave_up", b.public_key) in da.done
    assert 90 <= t <= 120  # REKEY_ATTEMPT_TIME
    assert sum(1 for d in da.done if d[:2] == ("send", "initiation")) >= 18


def test_drop_engine_overwrites_session_keys():
    a, b = engines()
    da, db = Recorder(a), Recorder(b)
    da.need_handshake(b.public_key, 1.0)
    db.handle(b.receive(da.done[0][2], A_ADDR, 1.0).events)
    da.handle(a.receive(db.done[1][2], B_ADDR, 1.0).events)
    kp = a.keypairs(b.public_key)["current"]
    assert any(kp.send_key)
    da.drop_engine()
    assert da.engine is None and not any(kp.send_key) and not any(kp.receive_key)
