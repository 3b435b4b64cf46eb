"""Two engines over a lossy, reordering, duplicating simulated network.

Hypothesis drives arbitrary interleavings of sends, deliveries, drops,
duplicates and clock steps. Whatever happens, the engines raise only typed
errors, and once the network behaves again data flows both ways.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sswctl.protocol import ProtocolError, Transmit

from .util import A_ADDR, B_ADDR, ipv4_packet, pair

ACTIONS = st.lists(
    st.tuples(st.sampled_from(["send_a", "send_b", "deliver", "dup", "drop", "step", "tick"]),
              st.integers(0, 1000)),
    max_size=60,
)


class Net:
    def __init__(self, protocol: str, cipher: str) -> None:
        self.a, self.b = pair(protocol, cipher)
        self.now = 100.0
        self.flight: list[tuple[str, bytes]] = []  # (receiver, datagram)
        self.got = {"a": [], "b": []}

    def emit(self, sender: str, events) -> None:
        for e in events:
            if isinstance(e, Transmit):
                self.flight.append(("b" if sender == "a" else "a", bytes(e.data)))

    def deliver(self, i: int, keep: bool = False) -> None:
        if not self.flight:
            return
        to, data = self.flight[i % len(self.flight)] if keep else self.flight.pop(i % len(self.flight))
        eng, src = (self.a, B_ADDR) if to == "a" else (self.b, A_ADDR)
        try:
            r = eng.receive(data, src, self.now)
        except ProtocolError:
            return
        if r.kind == "data":
            self.got[to].append(r.packet)
        self.emit(to, r.events)

    def send(self, who: str, n: int) -> None:
        eng, other = (self.a, self.b) if who == "a" else (self.b, self.a)
        dg, events = eng.encrypt(other.public_key, ipv4_packet(n.to_bytes(2, "big")), self.now)
        if dg is not None:
            self.flight.append(("b" if who == "a" else "a", bytes(dg)))
        self.emit(who, events)

    def tick(self) -> None:
        self.emit("a", self.a.tick(self.now))
        self.emit("b", self.b.tick(self.now))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from([("wireguard", "chacha20-poly1305"), ("secureswift", "aes-256-gcm")]), ACTIONS)
def test_chaos_then_recovery(mode, actions):
    net = Net(*mode)
    for action, n in actions:
        if action == "send_a":
            net.send("a", n)
        elif action == "send_b":
            net.send("b", n)
        elif action == "deliver":
            net.deliver(n)
        elif action == "dup":
            net.deliver(n, keep=True)
        elif action == "drop" and net.flight:
            net.flight.pop(n % len(net.flight))
        elif action == "step":
            net.now += n / 20  # up to 50 s
        elif action == "tick":
            net.tick()
    # The network heals: every datagram is delivered at once, timers fire on
    # time (50 ms resolution), and each side sends a packet every second, half
    # a second apart. (Sending at the very same instants forever would keep the
    # two sides' initiations crossing, in WireGuard too: nothing breaks that tie.)
    net.flight.clear()
    for step in range(1200):
        net.now += 0.05
        if step % 20 == 0:
            net.got = {"a": [], "b": []}
            net.send("a", 1)
        if step % 20 == 10:
            net.send("b", 2)
        net.tick()
        while net.flight:
            net.deliver(0)
        if net.got["a"] and net.got["b"]:
            break
    assert net.got["a"] and net.got["b"], "no data flow after the network healed"
