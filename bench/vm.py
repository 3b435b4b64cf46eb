#!/usr/bin/env python3
"""Throughput inside the VM: secureswift.ko vs the in-kernel WireGuard, one boot.

Run as root on the host (``make bench-vm``, or ``make bench`` with the other
benchmarks): builds the module, boots Debian's kernel once under QEMU (TCG,
no KVM; BENCH_VM_KERNEL, default 6.12) and runs this same file inside the
guest with ``--guest``. There, one variant after another on a fresh veth pair
between two namespaces (tests/netns/nslab.py): the raw veth, wireguard.ko
configured with ``wg`` (the reference), the module in each mode and suite,
and the userspace backend (``sswctl daemon`` on TUN); iperf3 TCP both
directions and ping RTT, as bench/throughput.py measures them. The guest
writes JSON; the host writes the table to docs/performance.md.

The module rows run as users run the product: a real ``sswctl daemon``
(kernel backend) on each side negotiates the keys (``module_daemons``) and
the module carries the traffic; wireguard.ko gets its keys from ``wg``.

Knobs for A/B work on a shared machine (the guest reads them; the host passes
the environment through): BENCH_ROWS, a comma-separated subset of the row keys
``raw wg ssw-wg ssw-chacha ssw-aes userspace`` (default: all; a subset never
writes docs/performance.md); BENCH_REPEAT=N runs the selected rows N times
round robin (each round in the same order) and reports, per row and figure,
the median of the N, with every round's figures in bench.json (``rounds``)
and on stdout.

A benchmark, not a test: the CPU is emulated, so only ratios mean anything.
"""

from __future__ import annotations

import json
import os
import platform
import stat
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "performance.md"
SECTION = "## Kernel module vs in-kernel WireGuard (VM)"
REFERENCE = "in-kernel WireGuard (wireguard.ko)"
KERNEL = os.environ.get("BENCH_VM_KERNEL", "6.12")
CPUS = os.environ.get("BENCH_VM_CPUS", "2")
# iperf3 seconds per direction (bench/throughput.py reads it); shorter than on the
# host because every second of emulated traffic costs many of real time.
os.environ.setdefault("BENCH_SECONDS", "5")
ALL_ROWS = ("raw", "wg", "ssw-wg", "ssw-chacha", "ssw-aes", "userspace")
ROWS = [r.strip() for r in os.environ.get("BENCH_ROWS", ",".join(ALL_ROWS)).split(",") if r.strip()]
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "1")))


# --- inside the guest ---------------------------------------------------------------------------

def guest(results: Path, ko: str) -> int:
    # tests/vm first: its conftest (namespace helpers) is the one test_daemon imports.
    sys.path[:0] = [str(REPO / "tests" / "vm"), str(REPO / "tests" / "netns"), str(REPO / "bench"), str(REPO)]
    os.environ["SSW_VM_GUEST"] = "1"
    subprocess.run([str(REPO / "tests" / "vm" / "load-module.sh"), ko], check=True)
    for mod in ("wireguard", "tun", "veth"):
        subprocess.run(["modprobe", mod], check=True)
    if not os.path.exists("/dev/net/tun"):  # the guest's /dev is minimal
        os.makedirs("/dev/net", exist_ok=True)
        os.mknod("/dev/net/tun", 0o666 | stat.S_IFCHR, os.makedev(10, 200))

    # Before throughput, which puts tests/netns (with a conftest of its own) first on sys.path.
    import conftest  # noqa: F401
    import test_daemon  # noqa: F401
    from nslab import make_lab
    from throughput import DURATION, PINGS, variant_raw

    variants = [(name, fn) for key, name, fn in (
        ("raw", "raw veth (no tunnel)", variant_raw),
        ("wg", REFERENCE, variant_wireguard_ko),
        ("ssw-wg", "secureswift.ko, wireguard mode, ChaCha20-Poly1305",
         variant_module("wireguard", "chacha20-poly1305")),
        ("ssw-chacha", "secureswift.ko, secureswift mode, ChaCha20-Poly1305",
         variant_module("secureswift", "chacha20-poly1305")),
        ("ssw-aes", "secureswift.ko, secureswift mode, AES-256-GCM", variant_module("secureswift", "aes-256-gcm")),
        ("userspace", "userspace backend (sswctl daemon, TUN), secureswift mode, ChaCha20-Poly1305",
         variant_userspace),
    ) if key in ROWS]
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), [])
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")
    out = {"kernel": platform.release(), "cpus": os.cpu_count(), "cpu_model": model,
           "aes_ni": "aes" in flags, "avx2": "avx2" in flags, "seconds": DURATION, "pings": PINGS,
           "gcm_driver": gcm_driver(), "repeat": REPEAT, "rounds": [], "results": [], "errors": {}}
    for n in range(REPEAT):
        out["rounds"].append([])
        for name, fn in variants:
            if name in out["errors"]:
                continue
            lab = make_lab()
            t0 = time.monotonic()
            try:
                out["rounds"][-1].append([name, fn(lab)])
                print(f"round {n + 1}: {name}: {out['rounds'][-1][-1][1]} ({time.monotonic() - t0:.0f} s)",
                      flush=True)
            except Exception as e:  # one broken variant must not lose the others' numbers
                out["errors"][name] = f"{type(e).__name__}: {e}"
                print(f"{name}: FAILED {e}", flush=True)
            finally:
                lab.close()
            out["results"] = medians(out["rounds"])
            (results / "bench.json").write_text(json.dumps(out, indent=1))
    return 0


def medians(rounds: list[list]) -> list[list]:
    """Per row (first-seen order), the median of each figure over the rounds it ran in."""
    runs: dict[str, list[dict]] = {}
    for rnd in rounds:
        for name, r in rnd:
            runs.setdefault(name, []).append(r)
    return [[name, {k: statistics.median(r[k] for r in rs) for k in rs[0]}] for name, rs in runs.items()]


def gcm_driver() -> str:
    """Which implementation the kernel crypto API picks for gcm(aes) (AES-NI or generic C)."""
    blocks = Path("/proc/crypto").read_text().split("\n\n")
    best = max((b for b in blocks if "name         : gcm(aes)" in b),
               key=lambda b: int(b.split("priority     : ")[1].split()[0]) if "priority" in b else 0, default="")
    return next((line.split(":", 1)[1].strip() for line in best.splitlines() if line.startswith("driver")),
                "not loaded")


def module_daemons(lab, iface: str) -> list:
    """The keys come as users get them: a real `sswctl daemon` (kernel backend) on
    each side, which reads the device, answers the kernel's NEED_HANDSHAKE with the
    full handshake (ML-KEM-768 hybrid in secureswift mode) and installs the keypairs.
    Forked from this already-initialised interpreter (tests/vm/test_daemon.py's
    Daemon), because a fresh one spends up to minutes importing under emulation;
    ready (READY=1) before traffic starts, idle but for its timer tick during it."""
    import tempfile

    from test_daemon import Daemon

    logs = Path(tempfile.mkdtemp(prefix="bench-vm-daemons-"))
    daemons = []
    try:
        for side in (lab.b, lab.a):  # responder first
            daemons.append(Daemon(side.ns, f"{iface}{side.index}", logs, "--backend", "kernel",
                                  "--log-level", "warning"))
    except BaseException:
        for d in daemons:
            d.stop()
        raise
    return daemons


def variant_module(protocol: str, cipher: str):
    def run(lab) -> dict:
        from conftest import in_netns
        from nslab import ping
        from throughput import measure

        from sswctl.ipc.genl import GenlBackend
        from sswctl.model import Device, Endpoint, Peer

        kb = GenlBackend()
        # One name per namespace: a daemon's lock file is per interface name.
        for me, other in ((lab.a, lab.b), (lab.b, lab.a)):
            dev = f"ssw{me.index}"
            me.run("ip", "link", "add", dev, "type", "secureswift")
            me.run("ip", "addr", "add", f"{me.tun4}/24", "dev", dev)
            me.run("ip", "link", "set", dev, "up")
            with in_netns(me.ns):
                kb.set_device(Device(
                    name=dev, private_key=me.private_key, listen_port=51820 + me.index, protocol=protocol,
                    cipher=cipher, peers=[Peer(public_key=other.public_key,
                                               endpoint=Endpoint(other.underlay4, 51820 + other.index),
                                               allowed_ips=[_net(f"{other.tun4}/32")])]))
        daemons = module_daemons(lab, "ssw")
        try:
            # The first packets wait (staged) for the daemons' handshake.
            assert ping(lab.a, lab.b.tun4, timeout=120).returncode == 0, "no handshake through the daemons"
            return measure(lab, lab.b.tun4)
        finally:
            for d in daemons:
                d.stop()
    return run


def variant_wireguard_ko(lab) -> dict:
    from throughput import measure

    from sswctl import keys

    for me, other in ((lab.a, lab.b), (lab.b, lab.a)):
        me.run("ip", "link", "add", "wg0", "type", "wireguard")
        keyfile = f"/tmp/bench-vm-{me.ns}.key"
        with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(keys.to_base64(me.private_key))
        try:
            me.run("wg", "set", "wg0", "private-key", keyfile, "listen-port", str(51820 + me.index),
                   "peer", keys.to_base64(other.public_key), "endpoint", f"{other.underlay4}:{51820 + other.index}",
                   "allowed-ips", f"{other.tun4}/32")
        finally:
            os.unlink(keyfile)
        me.run("ip", "addr", "add", f"{me.tun4}/24", "dev", "wg0")
        me.run("ip", "link", "set", "wg0", "up")
    return measure(lab, lab.b.tun4)


def variant_userspace(lab) -> dict:
    from nslab import wait_for_socket
    from throughput import measure

    for side in (lab.a, lab.b):
        p = lab.start_daemon(side, "--log-level", "warning", wait=False)
        wait_for_socket(side, p, timeout=300)  # Python starts slowly under emulation
    lab.configure_pair(protocol="secureswift", cipher="chacha20-poly1305")
    try:
        return measure(lab, lab.b.tun4)
    finally:
        for side in (lab.a, lab.b):
            lab.stop_daemon(side)


def _net(text: str):
    import ipaddress

    return ipaddress.ip_network(text)


# --- on the host --------------------------------------------------------------------------------

def boot(results: Path, script: Path | None = None, env: str | None = None) -> tuple[str, float]:
    """Build the module, boot the kernel once with the guest half of ``script`` (this file by
    default; bench/flood_vm.py too), ``env`` before it; kernel release, seconds."""
    kver = subprocess.run([str(REPO / "tests" / "vm" / "kver.sh"), KERNEL], check=True, capture_output=True,
                          text=True).stdout.strip()
    subprocess.run([str(REPO / "tests" / "vm" / "build-module.sh"), kver], check=True)
    ko = REPO / "secureswift_kmod" / ".build" / kver / "secureswift.ko"
    bindir = Path(sys.executable).parent
    if not (bindir / "vng").exists():  # `make bench` does not install the VM tools
        subprocess.run(["make", "-C", str(REPO), "vm-deps", f"KERNEL={KERNEL}"], check=True)
    vng = bindir / "vng"
    results.mkdir(parents=True, exist_ok=True)
    (results / "bench.json").unlink(missing_ok=True)
    script = script or REPO / "bench" / "vm.py"
    if env is None:
        env = f"BENCH_ROWS={','.join(ROWS)} BENCH_REPEAT={REPEAT} BENCH_SECONDS={os.environ['BENCH_SECONDS']}"
    t0 = time.monotonic()
    with open(results / "console.log", "w") as console:
        # Under TCG virtme-ng gives QEMU `-cpu max` (the emulated CPU with every feature
        # TCG implements, AES-NI included); the guest records what it saw.
        subprocess.run([str(vng), "--run", f"/boot/vmlinuz-{kver}", "--disable-kvm", "--memory", "2G",
                        "--cpus", CPUS, "--cwd", str(REPO), "--rwdir", str(results),
                        "--exec", f"env {env} {sys.executable} {script} --guest {results} {ko}"],
                       stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, timeout=3600,
                       env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"})
    return kver, time.monotonic() - t0


def boot_and_read(script: Path, results: Path, env: str | None = None) -> tuple[dict, str, float] | None:
    """One boot running ``script``'s guest half; its bench.json, the kernel release and the
    seconds the run took, or None (with the reason on stderr)."""
    if os.geteuid() != 0:
        print(f"{script.name} needs root (it builds and boots the module's VM)", file=sys.stderr)
        return None
    kver, took = boot(results, script, env)
    try:
        out = json.loads((results / "bench.json").read_text())
    except FileNotFoundError:
        print(f"the guest wrote no results; see {results / 'console.log'}", file=sys.stderr)
        return None
    print(f"kernel {kver}: VM run took {took:.0f} s")
    return out, kver, took


def write_doc(out: dict, load: tuple[float, float]) -> str:
    from report import ratio_table, write_section

    results = [(name, r) for name, r in out["results"]]
    aes = "yes" if out["aes_ni"] else "no"
    lines = [
        SECTION,
        "",
        f"`bench/vm.py` (`make bench-vm`), {time.strftime('%Y-%m-%d')}: one boot of Debian's kernel "
        f"{out['kernel']} under QEMU with software emulation (TCG, no KVM), {out['cpus']} vCPUs, QEMU's "
        f"`-cpu max` (\"{out['cpu_model']}\"; AES-NI in the guest's /proc/cpuinfo: {aes}; the kernel's "
        f"gcm(aes) driver: `{out['gcm_driver']}`). The CPU is emulated, so the absolute numbers say nothing "
        "about real hardware; only the ratios between rows of this run mean anything. iperf3 TCP "
        f"{out['seconds']} s per direction and the median RTT of {out['pings']} pings through each tunnel, "
        "between two namespaces joined by one veth pair, one variant after another"
        + (f", {out['repeat']} rounds of all variants, each figure the median of its rounds" if out.get("repeat", 1) > 1
           else "")
        + "; ratios against wireguard.ko measured in the same boot.",
        "",
    ]
    lines += ratio_table(results, REFERENCE, "ping RTT (median)")
    if out["errors"]:
        lines += ["", "Variants that failed in this run: " + "; ".join(f"{k}: {v}" for k, v in out["errors"].items())]
    lines += [
        "",
        "The module rows run as users run the product: a real `sswctl daemon` (kernel backend) on each side "
        "negotiates the keys and installs them, then stays idle (but for its timer tick) while the module "
        "carries the traffic. The module's data path is "
        "the parallel one (per-CPU crypto workers, per-peer ordered queues with a GSO super-packet as one "
        "entry, a per-peer cached route, NAPI/GRO; docs/kernel-module.md). "
        "The userspace backend runs its native data "
        "plane on TUN in the guest. Host load average (1 min) at start and end: "
        f"{load[0]:.1f} / {load[1]:.1f}, on a 2-core machine shared with other work.",
        "",
    ]
    section = "\n".join(lines)
    write_section(DOC, SECTION, section)
    return section


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--guest":
        return guest(Path(sys.argv[2]), sys.argv[3])
    sys.path.insert(0, str(REPO / "bench"))
    load0 = os.getloadavg()[0]
    got = boot_and_read(Path(__file__).resolve(), REPO / "secureswift_kmod" / ".build" / "bench-vm")
    if got is None:
        return 1
    out, kver, took = got
    if REFERENCE not in dict(out["results"]):
        print(f"no {REFERENCE} figure: {out['errors']}", file=sys.stderr)
        return 1
    from report import ratio_table

    for n, rnd in enumerate(out["rounds"]):
        if REPEAT > 1 and REFERENCE in dict(rnd):
            print(f"round {n + 1}:", *ratio_table(rnd, REFERENCE), sep="\n")
    if set(ROWS) != set(ALL_ROWS):
        print("medians (BENCH_ROWS is a subset: docs/performance.md left alone):",
              *ratio_table(out["results"], REFERENCE), sep="\n")
    else:
        print(write_doc(out, (load0, os.getloadavg()[0])))
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
