"""Handshake timestamps follow the real-time clock, never go back per peer,
and (with the daemon's state file) survive a restart on both sides; a
refused initiation (here: a bad ML-KEM key) changes nothing."""

from __future__ import annotations

import os
import stat

import pytest

from sswctl.daemon.stamps import MAGIC, TimestampFile
from sswctl.paths import stamps_path
from sswctl.protocol import DecryptError, Engine, ReplayError
from sswctl.protocol import noise as noise_mod
from sswctl.protocol.constants import REKEY_TIMEOUT
from sswctl.protocol.engine import Timestamps
from sswctl.protocol.primitives import tai64n, tai64n_after

from .util import A_ADDR, B_ADDR, seeded_rng, transmits

REAL = 1_780_000_000.0  # "today", once NTP has synced
BOOT = 86_400.0  # an RTC-less router's clock at boot (1970-01-02)


class Clock:
    """An injected real-time clock a test can step, as NTP does."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def engines(clock_a: Clock, clock_b: Clock, *, store_a=None, store_b=None, mode="secureswift", seed=7):
    rng_a, rng_b = seeded_rng(seed), seeded_rng(seed + 1000)
    ka, kb = rng_a(32), rng_b(32)
    a = Engine(ka, mode, wall_clock=clock_a, timestamps=store_a, rng=rng_a)
    b = Engine(kb, mode, wall_clock=clock_b, timestamps=store_b, rng=rng_b)
    a.add_peer(b.public_key, endpoint=B_ADDR)
    b.add_peer(a.public_key, endpoint=A_ADDR)
    return a, b


def restart(old: Engine, clock: Clock, store, peer_pub: bytes) -> Engine:
    """A new engine with the same key, as a restarted daemon builds."""
    e = Engine(bytes(old.identity.private), old.protocol, wall_clock=clock, timestamps=store)
    e.add_peer(peer_pub, endpoint=A_ADDR)
    return e


def initiation(a: Engine, peer: bytes, now: float) -> bytes:
    return transmits(a.initiate(peer, now), "initiation")[0].data


def test_initiation_reads_the_clock_each_time_so_an_ntp_step_is_followed():
    ca, cb = Clock(BOOT), Clock(REAL)
    a, b = engines(ca, cb)
    # Before this boot, B accepted an initiation stamped with the real time.
    b.peer(a.public_key).handshake.latest_timestamp = tai64n(REAL - 60)
    with pytest.raises(ReplayError):  # clock still at 1970: refused, as WireGuard does
        b.receive(initiation(a, b.public_key, 1.0), A_ADDR, 1.0)
    ca.t = REAL  # NTP steps the clock; the monotonic clock runs on
    r = b.receive(initiation(a, b.public_key, 1.0 + REKEY_TIMEOUT), A_ADDR, 2.0 + REKEY_TIMEOUT)
    assert r.kind == "initiation"
    assert b.peer(a.public_key).handshake.latest_timestamp == tai64n(REAL)


def test_a_clock_stepped_back_never_yields_an_older_timestamp():
    ca, cb = Clock(REAL), Clock(REAL)
    a, b = engines(ca, cb)
    now, seen = 1.0, []
    for step_back in (0, 3600, 0, 1e-3):
        ca.t -= step_back
        r = b.receive(initiation(a, b.public_key, now), A_ADDR, now)  # B refuses a non-newer one
        assert r.kind == "initiation"
        seen.append(b.peer(a.public_key).handshake.latest_timestamp)
        now += REKEY_TIMEOUT
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[1] == tai64n_after(seen[0])  # one rounding step above the last one sent


def test_tai64n_after_carries_into_the_seconds():
    last = tai64n(REAL + 0.999)
    nxt = tai64n_after(last)
    assert nxt > last and nxt == tai64n(REAL + 1)


def test_restarted_initiator_is_accepted_although_its_clock_went_back(tmp_path):
    ca, cb = Clock(REAL), Clock(REAL)
    a, b = engines(ca, cb, store_a=TimestampFile(str(tmp_path), "ssw0"))
    b.receive(initiation(a, b.public_key, 1.0), A_ADDR, 1.0)
    a.timestamps.close()
    ca.t = REAL - 600  # the daemon restarts on a clock that stepped back
    a2 = restart(a, ca, TimestampFile(str(tmp_path), "ssw0"), b.public_key)
    r = b.receive(initiation(a2, b.public_key, 100.0), A_ADDR, 100.0)
    assert r.kind == "initiation"


def test_without_the_state_file_the_restarted_initiator_is_refused(tmp_path):
    # The control for the test above: what a daemon that forgets would meet.
    ca, cb = Clock(REAL), Clock(REAL)
    a, b = engines(ca, cb)
    b.receive(initiation(a, b.public_key, 1.0), A_ADDR, 1.0)
    ca.t = REAL - 600
    a2 = restart(a, ca, None, b.public_key)
    with pytest.raises(ReplayError):
        b.receive(initiation(a2, b.public_key, 100.0), A_ADDR, 100.0)


def test_restarted_responder_refuses_a_recorded_initiation(tmp_path):
    ca, cb = Clock(REAL), Clock(REAL)
    a, b = engines(ca, cb, store_b=TimestampFile(str(tmp_path), "ssw0"))
    recorded = initiation(a, b.public_key, 1.0)
    assert b.receive(recorded, A_ADDR, 1.0).kind == "initiation"
    b.timestamps.close()
    b2 = restart(b, cb, TimestampFile(str(tmp_path), "ssw0"), a.public_key)
    with pytest.raises(ReplayError):
        b2.receive(recorded, ("192.0.2.66", 4444), 50.0)
    assert b2.peer(a.public_key).endpoint == A_ADDR  # the replay moved nothing
    # A's next initiation still gets through.
    assert b2.receive(initiation(a, b.public_key, 1.0 + REKEY_TIMEOUT), A_ADDR, 60.0).kind == "initiation"


def test_state_file_is_private_and_refuses_links(tmp_path):
    store = TimestampFile(str(tmp_path), "ssw0")
    store.record(b"k" * 32, tai64n(REAL), bytes(12))
    st = os.stat(store.path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 2 * len(MAGIC)
    store.close()
    target = tmp_path / "target"
    target.write_bytes(b"precious")
    os.unlink(store.path)
    os.symlink(target, store.path)
    with pytest.raises(Exception, match="symbolic link"):
        TimestampFile(str(tmp_path), "ssw0")
    assert target.read_bytes() == b"precious"


def test_state_file_of_another_kind_is_refused(tmp_path):
    path = stamps_path("ssw0", str(tmp_path))
    with open(path, "wb") as f:
        f.write(b"not ours")
    os.chmod(path, 0o600)
    with pytest.raises(Exception, match="not a SecureSwift timestamp file"):
        TimestampFile(str(tmp_path), "ssw0")


@pytest.mark.parametrize("mode", ["secureswift"])
def test_initiation_with_a_bad_mlkem_key_changes_no_state(monkeypatch, mode):
    ca, cb = Clock(REAL), Clock(REAL)
    recorded = []

    class Spy(Timestamps):
        def record(self, peer, sent, accepted):
            recorded.append((sent, accepted))
            super().record(peer, sent, accepted)

    a, b = engines(ca, cb, store_b=Spy(), mode=mode)
    real_generate = noise_mod.mlkem_generate

    def bad_key(rng):
        sk, _pub = real_generate(rng)
        return sk, b"\xff" * len(_pub)  # every coefficient 4095 >= q: fails the modulus check

    monkeypatch.setattr(noise_mod, "mlkem_generate", bad_key)
    bad = initiation(a, b.public_key, 1.0)
    monkeypatch.setattr(noise_mod, "mlkem_generate", real_generate)
    hs = b.peer(a.public_key).handshake
    before = (hs.latest_timestamp, hs.last_initiation_consumption, hs.state, dict(b._index))
    with pytest.raises(DecryptError, match="ML-KEM"):
        b.receive(bad, A_ADDR, 1.0)
    assert (hs.latest_timestamp, hs.last_initiation_consumption, hs.state, dict(b._index)) == before
    assert recorded == [] and b.peer(a.public_key).endpoint == A_ADDR
    # The good initiation sent right after (same clock reading) is accepted:
    # the bad one burned neither the timestamp nor the rate limit.
    good = initiation(a, b.public_key, 1.0 + REKEY_TIMEOUT)
    assert b.receive(good, A_ADDR, 1.0).kind == "initiation"


@pytest.mark.parametrize("mode", ["wireguard", "secureswift"])
def test_a_response_that_fails_to_decrypt_changes_no_state(mode):
    a, b = engines(Clock(REAL), Clock(REAL), mode=mode)
    init = initiation(a, b.public_key, 1.0)
    resp = bytearray(transmits(b.receive(init, A_ADDR, 1.0).events, "response")[0].data)
    resp[-33] ^= 1  # inside the encrypted empty payload; macs made again so mac1 holds
    forged = b.peer(a.public_key).cookie.add_macs(bytearray(resp), 1.0)
    hs = a.peer(b.public_key).handshake
    before = (hs.state, hs.local_index, bytes(hs.chaining_key), hs.hash, dict(a._index))
    with pytest.raises(DecryptError):
        a.receive(forged, B_ADDR, 1.0)
    assert (hs.state, hs.local_index, bytes(hs.chaining_key), hs.hash, dict(a._index)) == before
    assert a.peer(b.public_key).current is None
    resp[-33] ^= 1
    genuine = b.peer(a.public_key).cookie.add_macs(resp, 1.0)
    assert a.receive(genuine, B_ADDR, 1.0).kind == "response"


def test_a_cookie_reply_that_fails_to_decrypt_changes_no_state():
    a, b = engines(Clock(REAL), Clock(REAL))
    b.under_load = True
    cookie = transmits(b.receive(initiation(a, b.public_key, 1.0), A_ADDR, 1.0).events, "cookie")[0].data
    maker = a.peer(b.public_key).cookie
    forged = bytearray(cookie)
    forged[-1] ^= 1
    with pytest.raises(DecryptError):
        a.receive(bytes(forged), B_ADDR, 1.0)
    assert not maker.has_valid_cookie(1.0)
    assert a.receive(cookie, B_ADDR, 1.0).kind == "cookie"  # still awaited: the forgery took nothing
    assert maker.has_valid_cookie(1.0)
