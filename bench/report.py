"""Shared by the benchmarks: the results table, writing a section of a doc, and
the reference they compare with (the newest wireguard-go).

Every throughput benchmark reports the same way: one row per variant with
both iperf3 directions, the ratio of their sum to the reference variant's
(measured in the same run) and the ping RTT with its ratio.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WG_GO_DEBIAN12 = "/usr/bin/wireguard-go"  # Debian 12's 2022 build: a labelled second row


def newest_wireguard_go() -> str:
    """The newest wireguard-go Debian ships (bench/fetch-wireguard-go.sh takes it from sid
    into a private cache), or the binary ``WIREGUARD_GO`` names."""
    if os.environ.get("WIREGUARD_GO"):
        return os.environ["WIREGUARD_GO"]
    return subprocess.run([str(BENCH / "fetch-wireguard-go.sh")], check=True,
                          capture_output=True, text=True).stdout.strip()


def go_version(binary: str) -> str:
    """``0.0.20250522`` from ``wireguard-go --version``."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"v(\d+\.\d+\.\d+)", out)
    return m.group(1) if m else "?"


def fmt(bps: float) -> str:
    return f"{bps / 1e6:,.0f} Mbit/s"


def ratio_table(results: list[tuple[str, dict]], ref_name: str, rtt_label: str = "ping RTT") -> list[str]:
    """Markdown table lines; each result has ``a_to_b``, ``b_to_a`` (bit/s) and ``rtt_ms``."""
    ref = dict(results)[ref_name]
    lines = [
        f"| variant | A→B | B→A | vs {ref_name} (mean) | {rtt_label} | RTT vs {ref_name} |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results:
        ratio = (r["a_to_b"] + r["b_to_a"]) / (ref["a_to_b"] + ref["b_to_a"])
        lines.append(f"| {name} | {fmt(r['a_to_b'])} | {fmt(r['b_to_a'])} | {ratio:.2f}x | "
                     f"{r['rtt_ms']:.3f} ms | {r['rtt_ms'] / ref['rtt_ms']:.2f}x |")
    return lines


def write_section(doc: Path, heading: str, section: str) -> None:
    """Replace the part of ``doc`` from ``heading`` to the next ``## `` heading
    (or the end) with ``section``, or append it when the heading is absent."""
    section = section.rstrip("\n") + "\n"
    text = doc.read_text() if doc.exists() else "# Performance\n\n"
    start = text.find(heading)
    if start >= 0:
        nxt = text.find("\n## ", start + len(heading))
        text = text[:start] + (section + "\n" + text[nxt + 1:] if nxt >= 0 else section)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)
