#!/usr/bin/env python3
"""Handshakes per second per core, both protocol modes (a benchmark, not a test).

One full handshake = initiator creates message 1, responder consumes it and
creates message 2, initiator consumes message 2 and derives keys; all on one
core in one process, so the rate is the single-core cost of both sides, with
the engine the daemons run (sswctl.protocol). Also times sealing a 1400-byte
packet with the tests' Python reference transport (tests/transport_oracle.py):
no product data plane runs it (the kernel module and the C plane carry the
packets), so that column is what the oracle costs, not a VPN's speed.

Rates are per CPU-second of this process (time.process_time), i.e. per
core, so other load on a shared machine affects them less than wall-clock
rates; the cases are also interleaved in short rounds and the best round per
case is reported.

Usage: python bench/handshake.py [--seconds 3] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sswctl.protocol import Engine, Transmit  # noqa: E402
from tests.transport_oracle import TransportEngine  # noqa: E402

CASES = [
    ("wireguard", "chacha20-poly1305"),
    ("secureswift", "chacha20-poly1305"),
    ("secureswift", "aes-256-gcm"),
]


def _first(events, kind):
    return next(e.data for e in events if isinstance(e, Transmit) and e.kind == kind)


def handshakes_per_second(protocol: str, cipher: str, seconds: float) -> float:
    a = Engine(os.urandom(32), protocol, cipher, wall_offset=0.0)
    b = Engine(os.urandom(32), protocol, cipher, wall_offset=0.0)
    a.add_peer(b.public_key)
    b.add_peer(a.public_key)
    addr = ("127.0.0.1", 1)
    now, n = 1000.0, 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        now += 6.0  # past REKEY_TIMEOUT and the initiation flood limit
        init = _first(a.initiate(b.public_key, now), "initiation")
        resp = _first(b.receive(init, addr, now).events, "response")
        a.receive(resp, addr, now)
        n += 1
    return n / (time.process_time() - start)


def transport_mb_per_second(protocol: str, cipher: str, seconds: float) -> float:
    a = TransportEngine(os.urandom(32), protocol, cipher, wall_offset=0.0)
    b = TransportEngine(os.urandom(32), protocol, cipher, wall_offset=0.0)
    a.add_peer(b.public_key)
    b.add_peer(a.public_key)
    init = _first(a.initiate(b.public_key, 1.0), "initiation")
    a.receive(_first(b.receive(init, None, 1.0).events, "response"), None, 1.0)
    kp = a.peer(b.public_key).current
    packet = bytes(1400)
    n = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for _ in range(1000):
            kp.encrypt(packet)
        n += 1000
    return n * len(packet) / (time.process_time() - start) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the best is kept")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_args()
    slice_s = args.seconds / args.rounds
    best = {case: [0.0, 0.0] for case in CASES}
    for _ in range(args.rounds):
        for case in CASES:
            best[case][0] = max(best[case][0], handshakes_per_second(*case, slice_s))
            best[case][1] = max(best[case][1], transport_mb_per_second(*case, slice_s))
    rows = [{"protocol": p, "cipher": c, "handshakes_per_second": round(best[(p, c)][0], 1),
             "encrypt_1400B_MB_per_second": round(best[(p, c)][1], 1)} for p, c in CASES]
    if args.json:
        print(json.dumps({"python": platform.python_version(), "machine": platform.machine(), "results": rows},
                         indent=2))
        return
    base = rows[0]["handshakes_per_second"]
    print(f"{'mode':<12} {'cipher':<18} {'handshakes/s':>13} {'vs wireguard':>13} {'encrypt MB/s':>13}")
    for r in rows:
        print(f"{r['protocol']:<12} {r['cipher']:<18} {r['handshakes_per_second']:>13.1f} "
              f"{r['handshakes_per_second'] / base:>12.2f}x {r['encrypt_1400B_MB_per_second']:>13.1f}")


if __name__ == "__main__":
    main()
