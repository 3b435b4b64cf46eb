#!/usr/bin/env python3
"""The crypto ceiling: how fast one core seals with the AEADs the tunnels use.

The userspace data plane (sswctl/_datapath) seals and opens with OpenSSL's
EVP AEADs, so ``openssl speed -evp`` on this machine is the most one core
can push through it: every tunnelled byte is sealed once and opened once.
Measured at the sizes that matter: a full tunnel packet (1420 bytes, the
default MTU), a 64-byte one (TCP ACKs, keepalives), and 16 KiB (the
library's best case). Writes the "Crypto ceiling" section of
docs/performance.md; the tunnel rows of "Throughput (userspace backend)"
read against it.

This is a benchmark, not a test: numbers vary with the machine and its load.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from report import write_section  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))
SIZES = (64, 1420, 16384)
AEADS = (("ChaCha20-Poly1305", "chacha20-poly1305"), ("AES-256-GCM", "aes-256-gcm"))
DOC = REPO / "docs" / "performance.md"
SECTION = "## Crypto ceiling"


def speed(evp: str, size: int) -> float:
    """Bytes per second one core seals with ``evp`` at ``size``-byte messages."""
    out = subprocess.run(["openssl", "speed", "-evp", evp, "-seconds", str(SECONDS), "-bytes", str(size)],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    # The result line: "<name>  <N>.<d>k" (thousands of bytes per second) for the one size asked.
    m = re.search(rf"^{re.escape(evp)}\s+([\d.]+)k\s*$", out, re.M | re.I)
    if not m:
        raise RuntimeError(f"cannot read openssl speed output for {evp}:\n{out}")
    return float(m.group(1)) * 1000


def main() -> int:
    version = subprocess.run(["openssl", "version"], check=True, capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    rows = []
    for name, evp in AEADS:
        rates = [speed(evp, size) for size in SIZES]
        rows.append(f"| {name} | " + " | ".join(f"{r * 8 / 1e9:.2f} Gbit/s" for r in rates) + " |")
        print(rows[-1], flush=True)
    lines = [
        SECTION,
        "",
        f"`bench/crypto.py`, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"{version}: `openssl speed -evp` for {SECONDS} s per cell, one core, sealing. The userspace "
        "data plane uses these same OpenSSL AEADs; a tunnelled byte is sealed on one side and opened on "
        "the other, so the 1420-byte column is roughly what one core of each side could carry if the "
        "tunnel did nothing but crypto. "
        "openssl divides by CPU user time (no `-elapsed`), so other load on the machine "
        f"(1-min load average at start: {load:.1f}) moves these figures little.",
        "",
        "| AEAD | " + " | ".join(f"{s}-byte messages" for s in SIZES) + " |",
        "|---|" + "---|" * len(SIZES),
        *rows,
    ]
    section = "\n".join(lines) + "\n"
    write_section(DOC, SECTION, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
