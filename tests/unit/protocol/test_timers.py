"""Timers and cookies under a simulated clock (all times are engine seconds)."""

from __future__ import annotations

import pytest

from sswctl import keys
from sswctl.protocol import (
    COOKIE_SECRET_MAX_AGE,
    KEEPALIVE_TIMEOUT,
    MAX_TIMER_HANDSHAKES,
    REJECT_AFTER_TIME,
    REKEY_AFTER_TIME,
    REKEY_TIMEOUT,
    REKEY_TIMEOUT_JITTER_MAX,
    ZERO_KEYS_AFTER,
    ExpiredError,
    HandshakeGaveUp,
    KeysZeroed,
    RateLimitedError,
    ReplayError,
)
from sswctl.protocol.engine import PeerSession

from .util import A_ADDR, B_ADDR, handshake, ipv4_packet, pair, transmits

T0 = 1000.0


@pytest.fixture
def session():
    a, b = pair("secureswift", "chacha20-poly1305")
    handshake(a, b, T0)  # A is the initiator
    return a, b


def test_initiator_rekeys_when_sending_after_rekey_after_time(session):
    a, b = session
    dg, events = a.encrypt(b.public_key, ipv4_packet(), T0 + REKEY_AFTER_TIME - 0.01)
    assert dg is not None and events == []
    dg, events = a.encrypt(b.public_key, ipv4_packet(), T0 + REKEY_AFTER_TIME)
    assert dg is not None  # the old key still works meanwhile
    assert [t.kind for t in transmits(events)] == ["initiation"]


def test_responder_does_not_rekey_on_time_when_sending(session):
    a, b = session
    dg, events = b.encrypt(a.public_key, ipv4_packet(), T0 + REKEY_AFTER_TIME + 1)
    assert dg is not None and events == []


def test_initiator_rekeys_on_receive_shortly_before_rejection(session):
    a, b = session
    t = T0 + REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT
    dg, _ = b.encrypt(a.public_key, ipv4_packet(), t - 1)
    assert transmits(a.receive(dg, B_ADDR, t - 1).events) == []
    dg, _ = b.encrypt(a.public_key, ipv4_packet(), t)
    assert [x.kind for x in transmits(a.receive(dg, B_ADDR, t).events)] == ["initiation"]
    dg, _ = b.encrypt(a.public_key, ipv4_packet(), t + 6)  # only once ("last minute")
    assert transmits(a.receive(dg, B_ADDR, t + 6).events) == []


def test_keys_are_rejected_after_reject_after_time(session):
    a, b = session
    early, _ = a.encrypt(b.public_key, ipv4_packet(b"early"), T0 + 1)
    assert b.receive(bytes(early), A_ADDR, T0 + REJECT_AFTER_TIME - 0.01).kind == "data"
    late, _ = a.encrypt(b.public_key, ipv4_packet(b"late"), T0 + 2)
    with pytest.raises(ExpiredError):
        b.receive(late, A_ADDR, T0 + REJECT_AFTER_TIME)
    dg, events = a.encrypt(b.public_key, ipv4_packet(), T0 + REJECT_AFTER_TIME)
    assert dg is None  # staged; a fresh handshake is needed
    assert [t.kind for t in transmits(events)] == ["initiation"]


def test_retransmits_every_rekey_timeout_then_gives_up():
    a, b = pair("wireguard", "chacha20-poly1305")
    dg, events = a.encrypt(b.public_key, ipv4_packet(), T0)  # B never answers
    sent = [T0] if transmits(events, "initiation") else []
    gave_up = []
    t = T0
    while t < T0 + 200:
        t += 0.05
        for ev in a.tick(t):
            if getattr(ev, "kind", None) == "initiation":
                sent.append(t)
            elif isinstance(ev, HandshakeGaveUp):
                gave_up.append((t, ev.dropped_packets))
    gaps = [y - x for x, y in zip(sent, sent[1:], strict=False)]
    assert len(sent) == 1 + MAX_TIMER_HANDSHAKES + 1  # the first, then 19 retries
    assert all(REKEY_TIMEOUT <= g <= REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 0.06 for g in gaps)
    assert len({round(g, 2) for g in gaps}) > 1  # jittered
    assert len(gave_up) == 1 and gave_up[0][1] == 1  # the staged packet is dropped
    assert sent[-1] < gave_up[0][0] <= sent[-1] + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 0.06
    # Each retry was a fresh initiation that B would accept.
    assert b.receive(transmits(a.initiate(b.public_key, t + 1))[0].data, A_ADDR, t + 1).kind == "initiation"


def test_keepalive_after_keepalive_timeout_of_one_way_traffic(session):
    a, b = session
    t = T0 + 1
    assert a.tick(t) == [] and b.tick(t) == []
    dg, _ = a.encrypt(b.public_key, ipv4_packet(), t)
    assert b.receive(dg, A_ADDR, t).kind == "data"
    assert transmits(b.tick(t + KEEPALIVE_TIMEOUT - 0.01)) == []
    out = transmits(b.tick(t + KEEPALIVE_TIMEOUT))
    assert [x.kind for x in out] == ["keepalive"] and len(out[0].data) == 32
    assert a.receive(out[0].data, B_ADDR, t + KEEPALIVE_TIMEOUT).kind == "keepalive"
    # Nothing more while no data flows.
    assert transmits(b.tick(t + 5 * KEEPALIVE_TIMEOUT)) == []


def test_replying_with_data_cancels_the_keepalive(session):
    a, b = session
    t = T0 + 1
    dg, _ = a.encrypt(b.public_key, ipv4_packet(), t)
    b.receive(dg, A_ADDR, t)
    b.encrypt(a.public_key, ipv4_packet(), t + 1)
    assert transmits(b.tick(t + KEEPALIVE_TIMEOUT + 1)) == []


def test_new_handshake_when_data_sent_gets_no_answer(session):
    a, b = session
    t = T0 + 1
    a.encrypt(b.public_key, ipv4_packet(), t)
    assert transmits(a.tick(t + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT - 0.01)) == []
    out = transmits(a.tick(t + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX))
    assert [x.kind for x in out] == ["initiation"]


def test_persistent_keepalive():
    a, b = pair("wireguard", "chacha20-poly1305", keepalive=25)
    handshake(a, b, T0)
    assert transmits(a.tick(T0 + 24.9)) == []
    assert [x.kind for x in transmits(a.tick(T0 + 25))] == ["keepalive"]
    assert [x.kind for x in transmits(a.tick(T0 + 50))] == ["keepalive"]
    a.update_peer(b.public_key, persistent_keepalive=0)
    assert transmits(a.tick(T0 + 200)) == []


def test_keys_are_zeroed_after_three_reject_after_times(session):
    a, b = session
    kp = a.peer(b.public_key).current
    send_key = kp.send_key
    assert any(send_key)
    assert a.tick(T0 + ZERO_KEYS_AFTER - 0.01) == []
    events = a.tick(T0 + ZERO_KEYS_AFTER)
    assert any(isinstance(e, KeysZeroed) for e in events)
    assert send_key == bytearray(32) and kp.receive_key == bytearray(32) and not kp.valid
    assert a.keypairs(b.public_key) == {"current": None, "previous": None, "next": None}
    assert not any(a.peer(b.public_key).handshake.chaining_key)


def test_previous_keypair_still_decrypts_in_flight_packets_after_rekey(session):
    a, b = session
    in_flight, _ = a.encrypt(b.public_key, ipv4_packet(b"old"), T0 + 1)
    handshake(a, b, T0 + 130)
    pb = b.peer(a.public_key)
    assert pb.previous is not None and pb.current is not pb.previous
    assert b.receive(in_flight, A_ADDR, T0 + 131).packet.endswith(b"old")


def test_older_initiation_timestamp_is_a_replay_and_floods_are_refused():
    a, b = pair("wireguard", "chacha20-poly1305")
    first = transmits(a.initiate(b.public_key, 1.0))[0].data
    second = transmits(a.initiate(b.public_key, 7.0))[0].data
    assert b.receive(second, A_ADDR, 7.0).kind == "initiation"
    with pytest.raises(ReplayError):
        b.receive(first, A_ADDR, 8.0)
    a2, b2 = pair("wireguard", "chacha20-poly1305")
    first = transmits(a2.initiate(b2.public_key, 1.0))[0].data
    second = transmits(a2.initiate(b2.public_key, 7.0))[0].data
    assert b2.receive(first, A_ADDR, 1.0).kind == "initiation"
    with pytest.raises(RateLimitedError):  # newer timestamp, but 10 ms later
        b2.receive(second, A_ADDR, 1.01)


@pytest.mark.parametrize("protocol", ["wireguard", "secureswift"])
def test_under_load_a_cookie_reply_then_mac2_gets_through(protocol):
    a, b = pair(protocol, "chacha20-poly1305")
    b.under_load = True
    init = transmits(a.initiate(b.public_key, T0))[0].data
    r = b.receive(init, A_ADDR, T0)
    assert r.kind == "cookie_sent" and b.peer(a.public_key).next is None
    cookie = transmits(r.events, "cookie")[0]
    assert len(cookie.data) == 64 and cookie.dest == A_ADDR
    assert a.receive(cookie.data, B_ADDR, T0).kind == "cookie"
    # The retransmission carries mac2 and is processed despite the load.
    retry = transmits(a.tick(T0 + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX), "initiation")[0].data
    assert any(retry[-16:])
    assert b.receive(retry, A_ADDR, T0 + 6).kind == "initiation"
    # A cookie is bound to the source address: from elsewhere it is refused.
    a3, b3 = pair(protocol, "chacha20-poly1305")
    b3.under_load = True
    cookie = transmits(b3.receive(transmits(a3.initiate(b3.public_key, T0))[0].data, A_ADDR, T0).events)[0]
    a3.receive(cookie.data, B_ADDR, T0)
    retry = transmits(a3.tick(T0 + 6), "initiation")[0].data
    assert b3.receive(retry, ("10.9.9.9", 1), T0 + 6).kind == "cookie_sent"


def test_next_deadline_is_when_tick_has_work():
    a, b = pair("wireguard", "chacha20-poly1305", keepalive=25)
    assert a.next_deadline() is None
    handshake(a, b, T0)
    d = a.next_deadline()
    assert d == pytest.approx(T0 + 25)  # persistent keepalive is the earliest
    assert transmits(a.tick(d - 0.001)) == []
    assert [x.kind for x in transmits(a.tick(d))] == ["keepalive"]
    assert a.next_deadline() > d


def test_next_deadline_reads_the_heap_not_every_peer(monkeypatch):
    """A cancelled or postponed timer is skipped, a removed peer's entry too,
    and idle peers are never looked at."""
    a, b = pair("wireguard", "chacha20-poly1305", keepalive=25)
    idle = [keys.public_key(keys.generate_private_key()) for _ in range(300)]
    for pub in idle:
        a.add_peer(pub)
    handshake(a, b, T0)
    s = a._peer(b.public_key)
    d = a.next_deadline()
    assert d == pytest.approx(T0 + 25)
    looked = []
    real = PeerSession.deadlines
    monkeypatch.setattr(PeerSession, "deadlines", lambda self: looked.append(self) or real(self))
    s.t_persistent_keepalive = None  # cancelled: the next one is later
    later = a.next_deadline()
    assert later is None or later > d
    assert set(looked) <= {s}
    s.t_persistent_keepalive = T0 + 3  # earlier than any: a new heap entry
    assert a.next_deadline() == T0 + 3
    a.remove_peer(b.public_key)
    assert a.next_deadline() is None
    assert len(looked) <= 3


def test_cookie_secret_rotates_after_its_max_age():
    a, b = pair("secureswift", "chacha20-poly1305")
    b.under_load = True
    init = transmits(a.initiate(b.public_key, T0))[0].data
    cookie = transmits(b.receive(init, A_ADDR, T0).events)[0].data
    a.receive(cookie, B_ADDR, T0)
    # A's cookie is fresh for A (it keeps one for 120 - 5 s), but B replaced
    # its secret meanwhile, so the mac2 no longer verifies and B asks again.
    retry = transmits(a.initiate(b.public_key, T0 + 10), "initiation")[0].data
    assert b.receive(retry, A_ADDR, T0 + COOKIE_SECRET_MAX_AGE + 1).kind == "cookie_sent"
    # Within the secret's lifetime the same message gets through.
    a2, b2 = pair("secureswift", "chacha20-poly1305")
    b2.under_load = True
    init = transmits(a2.initiate(b2.public_key, T0))[0].data
    a2.receive(transmits(b2.receive(init, A_ADDR, T0).events)[0].data, B_ADDR, T0)
    retry = transmits(a2.initiate(b2.public_key, T0 + 10), "initiation")[0].data
    assert b2.receive(retry, A_ADDR, T0 + COOKIE_SECRET_MAX_AGE - 1).kind == "initiation"


def test_forget_keypairs_zeroes_every_slot_but_keeps_a_handshake_in_flight(session):
    a, b = session
    handshake(b, a, T0 + 1)  # B initiates too: A now has a current and a previous keypair
    pa = a.peer(b.public_key)
    slots = [kp for kp in (pa.current, pa.previous, pa.next) if kp is not None]
    assert len(slots) >= 2
    init = transmits(a.initiate(b.public_key, T0 + 10), "initiation")[0].data
    a.forget_keypairs(b.public_key)
    assert a.keypairs(b.public_key) == {"current": None, "previous": None, "next": None}
    for kp in slots:
        assert not kp.valid and kp.send_key == bytearray(32) and kp.receive_key == bytearray(32)
    assert pa.t_zero_keys is None  # nothing left for the zeroing timer
    # the initiation sent before still completes
    resp = transmits(b.receive(init, A_ADDR, T0 + 11).events, "response")[0].data
    a.receive(resp, B_ADDR, T0 + 11)
    assert a.peer(b.public_key).current is not None and a.peer(b.public_key).current.valid


def test_tick_visits_only_peers_with_a_timer_due():
    """tick() costs the peers whose timer is due: with 5,000 idle peers and one
    handshake in flight it looks at that one peer at each retry and at the
    give-up; the others are never visited."""
    from sswctl import keys
    from sswctl.protocol import Engine

    e = Engine(keys.generate_private_key(), "wireguard", wall_offset=0.0)
    idle = [keys.public_key(keys.generate_private_key()) for _ in range(5000)]
    for k in idle:
        e.add_peer(k)
    busy = keys.public_key(keys.generate_private_key())
    e.add_peer(busy, endpoint=("192.0.2.1", 51820))
    t = T0
    assert e.tick(t) == [] and e.timer_visits == 0
    assert transmits(e.initiate(busy, t), "initiation")
    retries = gave_up = zeroed = 0
    while t < T0 + 400:
        t += 0.25
        ev = e.tick(t)
        retries += len(transmits(ev, "initiation"))
        gave_up += sum(isinstance(x, HandshakeGaveUp) for x in ev)
        zeroed += sum(isinstance(x, KeysZeroed) for x in ev)
    # As the kernel: a retry while attempts <= MAX_TIMER_HANDSHAKES, then it gives up.
    assert retries == MAX_TIMER_HANDSHAKES + 1 and gave_up == 1 and zeroed == 0
    # One visit per retransmit timer and one for the give-up; none for 5,000 idle peers.
    assert e.timer_visits == retries + gave_up, e.timer_visits


def test_a_timer_set_earlier_than_the_pending_one_still_fires_on_time():
    """The heap keeps each peer's earliest deadline: a timer set below it (or
    left untouched below a later one set while firing) fires when due."""
    from sswctl import keys
    from sswctl.protocol import Engine

    e = Engine(keys.generate_private_key(), "wireguard", wall_offset=0.0)
    k = keys.public_key(keys.generate_private_key())
    e.add_peer(k, endpoint=("192.0.2.1", 51820))
    p = e.peer(k)
    p.t_zero_keys = T0 + 100
    p.t_zero_keys = T0 + 10  # earlier: must fire at +10, not +100
    assert e.tick(T0 + 9) == []
    assert any(isinstance(x, KeysZeroed) for x in e.tick(T0 + 10))
    p.t_zero_keys = T0 + 30
    p.t_retransmit = T0 + 20
    ev = e.tick(T0 + 20)  # fires the handshake; the zeroing at +30 stays due
    assert transmits(ev, "initiation")
    assert any(isinstance(x, KeysZeroed) for x in e.tick(T0 + 30))
