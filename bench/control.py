#!/usr/bin/env python3
"""Control plane at server scale: 10,000 peers, our userspace daemon vs wireguard-go.

Run as root (``make bench``). One network namespace; in it wireguard-go and our
daemon (``sswctl daemon --backend userspace --wg-socket``) each serve an
interface. One configuration of PEERS peers (key, PSK, one IPv4 /32 and one
IPv6 /128 each, every tenth with an endpoint and a keepalive: a VPN server's
shape) is loaded into each, ROUNDS times, interleaved, and timed:

- ``wg setconf`` / ``wg show dump`` against each (the same tool, so the
  daemons are compared, not the tools);
- ``sswctl setconf`` / ``sswctl show dump`` against ours (what our users type);
- the resident memory (VmRSS) of each daemon once it holds the peers.

Writes the "Control plane at server scale (userspace backend)" section of
docs/performance.md and prints it. Times are medians; ratios are ours over
wireguard-go's from the same run (below 1.0 is faster / smaller).

This is a benchmark, not a test: numbers vary with the machine and its load.
"""

from __future__ import annotations

import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from report import write_section  # noqa: E402

from sswctl import keys  # noqa: E402

PEERS = int(os.environ.get("BENCH_PEERS", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DOC = REPO / "docs" / "performance.md"
SECTION = "## Control plane at server scale (userspace backend)"
SSWCTL = str(Path(sys.executable).with_name("sswctl"))
NS = f"sswbc{os.getpid()}"


def config_text(n: int) -> str:
    """A server's configuration with ``n`` peers (fresh keys, deterministic addresses)."""
    # No ListenPort: three daemons share the namespace.
    lines = ["[Interface]", f"PrivateKey = {keys.to_base64(keys.generate_private_key())}", ""]
    for i in range(n):
        lines += ["[Peer]", f"PublicKey = {keys.to_base64(keys.public_key(keys.generate_private_key()))}",
                  f"PresharedKey = {keys.to_base64(os.urandom(32))}",
                  f"AllowedIPs = 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/32, fd00::{i:x}/128"]
        if i % 10 == 0:
            lines += [f"Endpoint = 192.0.2.{i % 250 + 1}:{40000 + i % 20000}", "PersistentKeepalive = 25"]
        lines.append("")
    return "\n".join(lines)


def ns(*cmd: str, timeout: float = 600) -> subprocess.CompletedProcess:
    cp = subprocess.run(["ip", "netns", "exec", NS, *cmd], timeout=timeout, capture_output=True, text=True)
    if cp.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {cp.returncode}: {cp.stderr.strip()[-2000:]}")
    return cp


def timed(*cmd: str) -> tuple[float, str]:
    t0 = time.monotonic()
    out = ns(*cmd).stdout
    return time.monotonic() - t0, out


def wait_path(path: str, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_wireguard_go(name: str) -> subprocess.Popen:
    p = subprocess.Popen(["ip", "netns", "exec", NS, "env", "LOG_LEVEL=error", "wireguard-go", "-f", name],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_path(f"/var/run/wireguard/{name}.sock", p, "wireguard-go")
    return p


def start_ours(name: str) -> subprocess.Popen:
    p = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-m", "sswctl.daemon", name,
                          "--backend", "userspace", "--wg-socket", "--log-level", "warning"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_path(f"/var/run/wireguard/{name}.sock", p, "sswctl daemon")
    return p


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def one_round(conf: str, rnd: int) -> dict[str, float]:
    """Each load goes into a fresh daemon: wireguard-go and ours through `wg`, and a
    second one of ours through `sswctl`."""
    r: dict[str, float] = {}
    wgname, ours, ours2 = f"bwg{rnd}", f"bss{rnd}", f"bst{rnd}"
    procs = [start_wireguard_go(wgname), start_ours(ours), start_ours(ours2)]
    try:
        r["wg setconf -> wireguard-go"], _ = timed("wg", "setconf", wgname, conf)
        r["wg setconf -> sswctl daemon"], _ = timed("wg", "setconf", ours, conf)
        r["sswctl setconf -> sswctl daemon"], _ = timed(SSWCTL, "setconf", ours2, conf)
        r["wg show dump <- wireguard-go"], out_wg = timed("wg", "show", wgname, "dump")
        r["wg show dump <- sswctl daemon"], out_ours = timed("wg", "show", ours, "dump")
        r["sswctl show dump <- sswctl daemon"], out_ssw = timed(SSWCTL, "show", ours2, "dump")
        for what, out in (("wireguard-go", out_wg), ("sswctl daemon", out_ours), ("sswctl show", out_ssw)):
            if len(out.splitlines()) != PEERS + 1:
                raise RuntimeError(f"{what}: {len(out.splitlines()) - 1} peers listed, not {PEERS}")
        # `ip netns exec` and env exec their commands: the wrappers' pids are the daemons'.
        r["RSS wireguard-go (MiB)"] = rss_mib(procs[0].pid)
        r["RSS sswctl daemon (MiB)"] = rss_mib(procs[1].pid)
    finally:
        for p in procs:
            stop(p)
    return r


PAIRS = [  # (ours, reference, what)
    ("wg setconf -> sswctl daemon", "wg setconf -> wireguard-go", "`wg setconf` (same tool, daemon compared)"),
    ("wg show dump <- sswctl daemon", "wg show dump <- wireguard-go", "`wg show dump` (same tool)"),
    ("sswctl setconf -> sswctl daemon", "wg setconf -> wireguard-go",
     "`sswctl setconf` vs `wg setconf` on wireguard-go"),
    ("sswctl show dump <- sswctl daemon", "wg show dump <- wireguard-go",
     "`sswctl show dump` vs `wg show dump` on wireguard-go"),
    ("RSS sswctl daemon (MiB)", "RSS wireguard-go (MiB)", "daemon resident memory holding the peers"),
]


def write_doc(med: dict[str, float], load: tuple[float, float]) -> str:
    lines = [
        SECTION,
        "",
        f"`bench/control.py`, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"kernel {platform.release()}. One configuration of {PEERS:,} peers (key, PSK, an IPv4 /32 and an "
        "IPv6 /128 each; every tenth with an endpoint and a 25 s keepalive) loaded into a fresh wireguard-go "
        "and a fresh `sswctl daemon --backend userspace --wg-socket` in one namespace, then read back; "
        f"{ROUNDS} rounds, medians. Ratios are ours over wireguard-go's in the same run: below 1.00x is "
        "faster or smaller. "
        f"Machine load average (1 min) at start and end: {load[0]:.1f} / {load[1]:.1f}.",
        "",
        "| what | sswctl daemon | wireguard-go | ratio |",
        "|---|---|---|---|",
    ]
    for ours, ref, what in PAIRS:
        unit = " MiB" if "RSS" in ours else " s"
        lines.append(f"| {what} | {med[ours]:.2f}{unit} | {med[ref]:.2f}{unit} | {med[ours] / med[ref]:.2f}x |")
    lines += ["", "Rows 1 and 3 load the same file into the same kind of daemon, so their difference is the "
              "client: `sswctl`'s Python start-up, parsing and encoding against `wg`'s C. Above 1000 peers "
              "the daemon keeps the data plane in Python (docs/userspace.md); the control path measured "
              "here is the same either way."]
    section = "\n".join(lines) + "\n"
    write_section(DOC, SECTION, section)
    return section


def main() -> int:
    if os.geteuid() != 0:
        print("bench/control.py needs root (a network namespace)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the clean-up below when killed
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sswbench") as tmp:
        conf = os.path.join(tmp, "server.conf")
        with open(os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(config_text(PEERS))
        subprocess.run(["ip", "netns", "add", NS], check=True)
        try:
            ns("ip", "link", "set", "lo", "up")
            runs = []
            for rnd in range(ROUNDS):
                r = one_round(conf, rnd)
                print(f"round {rnd + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True)
                runs.append(r)
        finally:
            subprocess.run(["ip", "netns", "del", NS], check=False)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(write_doc(med, (load_start, os.getloadavg()[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
