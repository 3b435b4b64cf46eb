#!/usr/bin/env python3
"""Control plane at server scale: 10,000 peers, our userspace daemon vs wireguard-go.

Run as root (``make bench``). One network namespace; in it wireguard-go and our
daemon (``sswctl daemon --backend userspace --wg-socket``) each serve an
interface. One configuration of PEERS peers (key, PSK, one IPv4 /32 and one
IPv6 /128 each, every tenth with an endpoint: the issue's shape; no keepalives,
which would start a thousand handshakes towards addresses that never answer)
is loaded into each, ROUNDS times, interleaved, and timed:

- ``wg setconf`` / ``wg show dump`` against each (the same tool, so the
  daemons are compared, not the tools);
- ``sswctl setconf`` / ``sswctl show dump`` against ours (what our users type);
- adding one peer and removing it again (``wg set`` into each, ``sswctl set``
  into ours), end to end: the command's whole run, ONE_CHANGE times, median;
- the resident memory (VmRSS) of each daemon once it holds the peers;
- then (``BENCH_IPERF``, default on) iperf3 through one peer of a PEERS-peer
  interface vs the same tunnel with that one peer alone: two namespaces, two
  of our daemons, the native data plane throughout.

The reference is the newest wireguard-go Debian ships (bench/fetch-wireguard-go.sh
takes it from sid into a private cache), or ``WIREGUARD_GO`` (a path); its
``--version`` is written into the section. ``BENCH_PEERS=100000`` for the
100k row set (the section is named by the peer count, so both stay).

Writes the "Control plane at server scale, N peers (userspace backend)" section of
docs/performance.md and prints it. Times are medians; ratios are ours over
wireguard-go's from the same run (below 1.0 is faster / smaller).

This is a benchmark, not a test: numbers vary with the machine and its load.
"""

from __future__ import annotations

import ipaddress
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
sys.path.insert(0, str(REPO / "tests" / "netns"))  # the namespace helpers the netns tests use
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from nslab import iperf, make_lab, ping  # noqa: E402
from report import go_version, newest_wireguard_go, write_section  # noqa: E402

from sswctl import keys  # noqa: E402
from sswctl.model import Device, Endpoint, Peer  # noqa: E402

PEERS = int(os.environ.get("BENCH_PEERS", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ONE_CHANGE = 5  # single-peer adds and removes per daemon per round
IPERF = os.environ.get("BENCH_IPERF", "1") != "0"
IPERF_SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WG_GO = newest_wireguard_go()
WG_GO_MAX_PEERS = 1 << 16  # wireguard-go's device.MaxPeers: it refuses the 65,537th peer
# The run adds one peer to the PEERS configured: wireguard-go takes part when it has room for it.
WG_GO_FITS = PEERS + 1 <= WG_GO_MAX_PEERS
DOC = REPO / "docs" / "performance.md"
SECTION = f"## Control plane at server scale, {PEERS:,} peers (userspace backend)"
SSWCTL = str(Path(sys.executable).with_name("sswctl"))
NS = f"sswbc{os.getpid()}"


def config_text(n: int) -> str:
    """A server's configuration with ``n`` peers (fresh keys, deterministic addresses)."""
    # No ListenPort: three daemons share the namespace.
    lines = ["[Interface]", f"PrivateKey = {keys.to_base64(keys.generate_private_key())}", ""]
    for i in range(n):
        lines += ["[Peer]", f"PublicKey = {keys.to_base64(keys.public_key(keys.generate_private_key()))}",
                  f"PresharedKey = {keys.to_base64(os.urandom(32))}",
                  f"AllowedIPs = 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/32, "
                  f"fd00::{i >> 16:x}:{i & 0xffff:x}/128"]
        if i % 10 == 0:
            lines.append(f"Endpoint = 192.0.2.{i % 250 + 1}:{40000 + i % 20000}")
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
    p = subprocess.Popen(["ip", "netns", "exec", NS, "env", "LOG_LEVEL=error", WG_GO, "-f", name],
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
    """Each load goes into a fresh daemon: wireguard-go (when it can hold
    PEERS) and ours through `wg`, and a second one of ours through `sswctl`."""
    r: dict[str, float] = {}
    wgname, ours, ours2 = f"bwg{rnd}", f"bss{rnd}", f"bst{rnd}"
    wg_go = WG_GO_FITS
    procs = [start_ours(ours), start_ours(ours2)] + ([start_wireguard_go(wgname)] if wg_go else [])
    try:
        if wg_go:
            r["wg setconf -> wireguard-go"], _ = timed("wg", "setconf", wgname, conf)
        r["wg setconf -> sswctl daemon"], _ = timed("wg", "setconf", ours, conf)
        r["sswctl setconf -> sswctl daemon"], _ = timed(SSWCTL, "setconf", ours2, conf)
        outs = []
        if wg_go:
            r["wg show dump <- wireguard-go"], out = timed("wg", "show", wgname, "dump")
            outs.append(("wireguard-go", out))
        r["wg show dump <- sswctl daemon"], out = timed("wg", "show", ours, "dump")
        outs.append(("sswctl daemon", out))
        r["sswctl show dump <- sswctl daemon"], out = timed(SSWCTL, "show", ours2, "dump")
        outs.append(("sswctl show", out))
        for what, out in outs:
            if len(out.splitlines()) != PEERS + 1:
                raise RuntimeError(f"{what}: {len(out.splitlines()) - 1} peers listed, not {PEERS}")
        key = keys.to_base64(keys.public_key(keys.generate_private_key()))
        for label, tool, dev in (("wg set", "wg", wgname), ("wg set", "wg", ours), ("sswctl set", SSWCTL, ours2)):
            if dev == wgname and not wg_go:
                continue
            who = "wireguard-go" if dev == wgname else "sswctl daemon"
            adds, removes = [], []
            for _ in range(ONE_CHANGE):
                adds.append(timed(tool, "set", dev, "peer", key, "allowed-ips",
                                  "10.255.255.1/32,fd00:ffff::1/128")[0])
                removes.append(timed(tool, "set", dev, "peer", key, "remove")[0])
            r[f"{label} add one -> {who}"] = statistics.median(adds)
            r[f"{label} remove one -> {who}"] = statistics.median(removes)
        # `ip netns exec` and env exec their commands: the wrappers' pids are the daemons'.
        r["RSS sswctl daemon (MiB)"] = rss_mib(procs[0].pid)
        if wg_go:
            r["RSS wireguard-go (MiB)"] = rss_mib(procs[2].pid)
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
    ("wg set add one -> sswctl daemon", "wg set add one -> wireguard-go", "add one peer, `wg set` (same tool)"),
    ("wg set remove one -> sswctl daemon", "wg set remove one -> wireguard-go",
     "remove one peer, `wg set` (same tool)"),
    ("sswctl set add one -> sswctl daemon", "wg set add one -> wireguard-go",
     "add one peer, `sswctl set` vs `wg set` on wireguard-go"),
    ("sswctl set remove one -> sswctl daemon", "wg set remove one -> wireguard-go",
     "remove one peer, `sswctl set` vs `wg set` on wireguard-go"),
    ("RSS sswctl daemon (MiB)", "RSS wireguard-go (MiB)", "daemon resident memory holding the peers"),
]


def iperf_many(conf: str) -> dict[str, float]:
    """iperf3 A -> B through one peer, with B holding that peer alone and with
    the PEERS peers of the file ``conf`` besides (ours on both sides), in
    turns, ROUNDS times each, so the machine's load falls on both alike."""
    alone, crowded, rss = [], [], 0.0
    lab = make_lab()
    try:
        a, b = lab.a, lab.b
        lab.start_daemon(a, "--log-level", "warning")
        lab.start_daemon(b, "--log-level", "warning")
        lab.configure_pair()
        only_a = Device(name=b.iface, replace_peers=True, peers=[Peer(
            public_key=a.public_key, endpoint=Endpoint(a.underlay4, 51820 + a.index),
            allowed_ips=[ipaddress.ip_network(f"{a.tun4}/32"), ipaddress.ip_network(f"{a.tun6}/128")])])
        path = conf + ".peers"
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("\n".join(Path(conf).read_text().split("\n")[3:]))  # the [Peer] sections, not a key
        for _ in range(ROUNDS):
            lab.backend.set_device(only_a)
            assert ping(a, b.tun4).returncode == 0, "no tunnel"
            alone.append(iperf(lab, a, b, seconds=IPERF_SECONDS) / 1e9)
            subprocess.run(["ip", "netns", "exec", b.ns, SSWCTL, "addconf", b.iface, path], check=True,
                           capture_output=True, timeout=1800)  # in its namespace: daemons are per namespace
            assert len(lab.backend.get_device(b.iface).peers) == PEERS + 1
            assert ping(a, b.tun4).returncode == 0, "no tunnel with the peers added"
            crowded.append(iperf(lab, a, b, seconds=IPERF_SECONDS) / 1e9)
            rss = rss_mib(b.proc.pid)
    finally:
        lab.close()
    return {"iperf3 1 peer (Gbit/s)": statistics.median(alone),
            f"iperf3 1 of {PEERS + 1:,} peers (Gbit/s)": statistics.median(crowded),
            "RSS sswctl daemon, with iperf peers (MiB)": rss}


def _fmt(what: str, v: float) -> str:
    if "RSS" in what:
        return f"{v:.1f} MiB"
    return f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s"


def write_doc(med: dict[str, float], load: tuple[float, float], wg_version: str,
              tput: dict[str, float]) -> str:
    lines = [
        SECTION,
        "",
        f"`bench/control.py`, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"kernel {platform.release()}. One configuration of {PEERS:,} peers (key, PSK, an IPv4 /32 and an "
        "IPv6 /128 each; every tenth with an endpoint) loaded into a fresh wireguard-go "
        "and a fresh `sswctl daemon --backend userspace --wg-socket` in one namespace, then read back, "
        "then one peer added and removed again (each command's whole run, median of "
        f"{ONE_CHANGE}); the reference is {wg_version} (`{WG_GO}`)"
        + (f", which refuses more than {WG_GO_MAX_PEERS:,} peers (its `device.MaxPeers`) and so has no room "
           "for the one added, so it was not run; " if not WG_GO_FITS else "; ") +
        f"{ROUNDS} rounds, medians. Ratios are ours over wireguard-go's in the same run: below 1.00x is "
        "faster or smaller. "
        f"Machine load average (1 min) at start and end: {load[0]:.1f} / {load[1]:.1f}.",
        "",
        "| what | sswctl daemon | wireguard-go | ratio |",
        "|---|---|---|---|",
    ]
    for ours, ref, what in PAIRS:
        if ref in med:
            lines.append(f"| {what} | {_fmt(ours, med[ours])} | {_fmt(ref, med[ref])} | {med[ours] / med[ref]:.2f}x |")
        else:
            lines.append(f"| {what} | {_fmt(ours, med[ours])} | holds at most {WG_GO_MAX_PEERS:,} peers | - |")
    lines += ["", "Rows 1 and 3 load the same file into the same kind of daemon, so their difference is the "
              "client: `sswctl`'s Python start-up, parsing and encoding against `wg`'s C; the same holds for "
              "the one-peer rows, where a command's start-up is most of its time. The daemon keeps its "
              "native data plane at any peer count (every control call is O(change): docs/datapath.md, "
              "\"Scale\")."]
    if tput:
        one = tput["iperf3 1 peer (Gbit/s)"]
        many = tput[f"iperf3 1 of {PEERS + 1:,} peers (Gbit/s)"]
        lines += ["", f"iperf3 ({IPERF_SECONDS} s, TCP, A to B over a veth pair, our daemons on both sides, "
                  f"the two cases in turns, medians of {ROUNDS}) "
                  f"through one peer: {one:.2f} Gbit/s with that peer alone, {many:.2f} Gbit/s with "
                  f"{PEERS:,} more peers configured on B ({many / one:.2f}x); B's daemon then held "
                  f"{tput['RSS sswctl daemon, with iperf peers (MiB)']:.0f} MiB."]
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
        tput = iperf_many(conf) if IPERF else {}
        print(", ".join(f"{k} {v:.2f}" for k, v in tput.items()), flush=True)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(write_doc(med, (load_start, os.getloadavg()[0]), f"wireguard-go {go_version(WG_GO)}", tput))
    return 0


if __name__ == "__main__":
    sys.exit(main())
