"""Shared by the benchmarks: the results table and writing a section of a doc.

Every throughput benchmark reports the same way: one row per variant with
both iperf3 directions, the ratio of their sum to the reference variant's
(measured in the same run) and the ping RTT with its ratio.
"""

from __future__ import annotations

from pathlib import Path


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
