#!/usr/bin/env python3
"""Throughput and latency: the native data path (sswctl._datapath) vs wireguard-go.

Run as root. Same veth pair, same run, same measurements as
bench/throughput.py (iperf3 TCP BENCH_SECONDS per direction, ping RTT),
for: the raw veth, wireguard-go on both ends, and the C data path on both
ends (keys from two protocol engines, one Python process holding both
sides; the Python threads sleep while the C workers carry the traffic),
with plain TUN devices and with TUN offloads (IFF_VNET_HDR + TSO).
Writes the "Measured" section of docs/datapath.md and prints the table.

A benchmark, not a test: numbers vary with the machine and its load.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "netns"))
sys.path.insert(0, str(REPO))

from nslab import Lab, make_lab  # noqa: E402
from report import ratio_table, write_section  # noqa: E402
from throughput import DURATION, PINGS, measure, variant_raw, variant_wireguard_go  # noqa: E402

from tests.netns.test_datapath import NativeTunnel  # noqa: E402

DOC = REPO / "docs" / "datapath.md"
SECTION = "## Measured"


def variant_native(protocol: str, cipher: str, offload: bool = False):
    def run(lab: Lab) -> dict:
        t = NativeTunnel(lab, protocol, cipher, offload)
        try:
            return measure(lab, lab.b.tun4)
        finally:
            t.close()
    return run


VARIANTS = [
    ("raw veth (no tunnel)", variant_raw),
    ("wireguard-go", variant_wireguard_go),
    ("native data path, wireguard mode", variant_native("wireguard", "chacha20-poly1305")),
    ("native data path, secureswift + ChaCha20-Poly1305", variant_native("secureswift", "chacha20-poly1305")),
    ("native data path, secureswift + AES-256-GCM", variant_native("secureswift", "aes-256-gcm")),
    ("native data path, wireguard mode, TUN offloads (TSO + GRO)",
     variant_native("wireguard", "chacha20-poly1305", True)),
    ("native data path, secureswift + AES-256-GCM, TUN offloads (TSO + GRO)",
     variant_native("secureswift", "aes-256-gcm", True)),
]


def write_doc(results: list[tuple[str, dict]]) -> str:
    lines = [
        SECTION,
        "",
        f"`bench/datapath.py`, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"kernel {platform.release()}. iperf3 TCP {DURATION} s per direction and {PINGS} pings through each "
        "tunnel between two namespaces joined by one veth pair, all variants in the same run; ratios against "
        "wireguard-go from that run.",
        "",
    ]
    lines += ratio_table(results, "wireguard-go")
    wg_version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "wireguard-go"], capture_output=True,
                                text=True).stdout or "unknown"
    lines += [
        "",
        f"The reference is Debian's wireguard-go {wg_version} (it predates wireguard-go's own TUN offload work). "
        f"Both sides of the native data path run in one Python process (two C threads per side, the Python "
        f"thread asleep); wireguard-go runs one process per side. Load average when this ran: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores shared with other work, so single numbers move "
        "by tens of percent between runs; compare rows of one run.",
        "",
    ]
    section = "\n".join(lines)
    write_section(DOC, SECTION, section)
    return section


def main() -> int:
    if os.geteuid() != 0:
        print("bench/datapath.py needs root (network namespaces)", file=sys.stderr)
        return 1
    only = os.environ.get("BENCH_ONLY")
    results = []
    for name, fn in VARIANTS:
        if only and only not in name and name != "wireguard-go":
            continue
        lab = make_lab()
        try:
            results.append((name, fn(lab)))
            print(f"{name}: {results[-1]}", flush=True)
        finally:
            lab.close()
    print(write_doc(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
