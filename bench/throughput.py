#!/usr/bin/env python3
"""Throughput and latency: our userspace tunnel vs wireguard-go, same veth, one run.

Run as root (``make bench``). Two network namespaces joined by one veth pair;
for each variant a tunnel is brought up between them, then iperf3 TCP for
DURATION seconds in each direction and ping RTT (PINGS pings) are measured
through it, and it is torn down; variants run interleaved ROUNDS times and
the medians are reported (the machine is shared, single runs are noisy).
Variants: the raw veth (ceiling), the newest wireguard-go on both ends (the
reference; bench/fetch-wireguard-go.sh), Debian 12's older build, and our
daemon on both ends in each protocol mode and suite. Writes the "Throughput
(userspace backend)" section of docs/performance.md (replacing an earlier
one) and prints the table.

This is a benchmark, not a test: numbers vary with the machine and its load.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "netns"))  # the namespace helpers the netns tests use
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from nslab import Lab, Side, iperf, make_lab, ping  # noqa: E402
from report import WG_GO_DEBIAN12, fmt, go_version, newest_wireguard_go, ratio_table, write_section  # noqa: E402

from sswctl import datapath, keys  # noqa: E402

DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
# Variants run interleaved, ROUNDS times; the table shows each one's median.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PINGS = 50
DOC = REPO / "docs" / "performance.md"
SECTION = "## Throughput (userspace backend)"


def rtt_ms(side: Side, target: str) -> float:
    """Median ping RTT (the median, because scheduling spikes on a shared
    machine swamp an average)."""
    r = side.run("ping", "-c", str(PINGS), "-i", "0.02", target, timeout=60)
    times = sorted(float(m) for m in re.findall(r"time=([\d.]+)", r.stdout))
    return statistics.median(times)


def measure(lab: Lab, addr_b: str) -> dict:
    assert ping(lab.a, addr_b).returncode == 0, f"no connectivity to {addr_b}"
    fwd = _iperf_to(lab, addr_b, reverse=False)
    rev = _iperf_to(lab, addr_b, reverse=True)
    return {"a_to_b": fwd, "b_to_a": rev, "rtt_ms": rtt_ms(lab.a, addr_b)}


def _iperf_to(lab: Lab, addr: str, reverse: bool) -> float:
    return iperf(lab, lab.a, lab.b, seconds=DURATION, reverse=reverse, addr=addr)


def variant_raw(lab: Lab) -> dict:
    return measure(lab, lab.b.underlay4)


def variant_ours(protocol: str, cipher: str, *extra: str):
    def run(lab: Lab) -> dict:
        lab.start_daemon(lab.a, "--log-level", "warning", *extra)
        lab.start_daemon(lab.b, "--log-level", "warning", *extra)
        lab.configure_pair(protocol=protocol, cipher=cipher)
        try:
            return measure(lab, lab.b.tun4)
        finally:
            for side in (lab.a, lab.b):
                lab.stop_daemon(side)
    return run


WG_GO = newest_wireguard_go()
REFERENCE = f"wireguard-go {go_version(WG_GO)} (newest release)"


def variant_wireguard_go(binary: str):
    return lambda lab: run_wireguard_go(lab, binary)


def run_wireguard_go(lab: Lab, binary: str) -> dict:
    procs = []
    for side, other in ((lab.a, lab.b), (lab.b, lab.a)):
        name = f"wg{side.iface}"[:15]
        p = lab.popen(side, "env", "LOG_LEVEL=error", binary, "-f", name,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        deadline = time.monotonic() + 20
        while not os.path.exists(f"/var/run/wireguard/{name}.sock"):
            if time.monotonic() > deadline:
                raise RuntimeError("wireguard-go did not start")
            time.sleep(0.05)
        keyfile = f"/tmp/{name}.benchkey"
        with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(keys.to_base64(side.private_key))
        subprocess.run(["wg", "set", name, "private-key", keyfile, "listen-port", str(51900 + side.index),
                        "peer", keys.to_base64(other.public_key),
                        "endpoint", f"{other.underlay4}:{51900 + other.index}",
                        "allowed-ips", f"{other.tun4}/32"], check=True)
        os.unlink(keyfile)
        side.run("ip", "addr", "add", f"{side.tun4}/24", "dev", name)
        side.run("ip", "link", "set", name, "up")
    try:
        return measure(lab, lab.b.tun4)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


VARIANTS = [
    ("raw veth (no tunnel)", variant_raw),
    (REFERENCE, variant_wireguard_go(WG_GO)),
    (f"wireguard-go {go_version(WG_GO_DEBIAN12)} (Debian 12's build)", variant_wireguard_go(WG_GO_DEBIAN12)),
    ("sswctl daemon, wireguard mode", variant_ours("wireguard", "chacha20-poly1305")),
    ("sswctl daemon, secureswift + ChaCha20-Poly1305", variant_ours("secureswift", "chacha20-poly1305")),
    ("sswctl daemon, secureswift + AES-256-GCM", variant_ours("secureswift", "aes-256-gcm")),
]


def write_doc(results: list[tuple[str, dict]], load: tuple[float, float]) -> str:
    lines = [
        SECTION,
        "",
        f"`bench/throughput.py`, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"kernel {platform.release()}. iperf3 TCP {DURATION} s per direction and the median RTT of "
        f"{PINGS} pings through each tunnel, between two network namespaces joined by one veth pair, "
        "all variants in the same run. "
        f"Every variant ran {ROUNDS} times, interleaved; the table shows medians. "
        "Data plane of the `sswctl daemon` rows: the native one (sswctl._datapath), the only one. "
        f"Ratios are against {REFERENCE} measured in that run "
        "(bench/fetch-wireguard-go.sh takes it from Debian's sid into a private cache); "
        "Debian 12's 2022 build, from before wireguard-go's TUN offloads, is the labelled second row. "
        f"Machine load average (1 min) at start and end: {load[0]:.1f} / {load[1]:.1f} "
        "(other work shares these 2 cores; numbers under load are noisy).",
        "",
    ]
    lines += ratio_table(results, REFERENCE, "ping RTT (median)")
    lines += ["", "How to read it and what limits the userspace backend: see docs/userspace.md (Performance)."]
    section = "\n".join(lines) + "\n"
    write_section(DOC, SECTION, section)
    return section


def main() -> int:
    if os.geteuid() != 0:
        print("bench/throughput.py needs root (network namespaces)", file=sys.stderr)
        return 1
    if datapath.native is None:
        print(f"bench/throughput.py: {datapath.NOT_BUILT}", file=sys.stderr)
        return 1
    runs: dict[str, list[dict]] = {name: [] for name, _ in VARIANTS}
    load_start = os.getloadavg()[0]
    for rnd in range(ROUNDS):
        for name, fn in VARIANTS:
            lab = make_lab()
            try:
                r = fn(lab)
            finally:
                lab.close()
            print(f"round {rnd + 1}, {name}: {fmt(r['a_to_b'])} / {fmt(r['b_to_a'])}, RTT {r['rtt_ms']:.3f} ms",
                  flush=True)
            runs[name].append(r)
    results = [(name, {k: statistics.median(r[k] for r in rs) for k in rs[0]}) for name, rs in runs.items()]
    print(write_doc(results, (load_start, os.getloadavg()[0])))
    print(json.dumps(dict(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
