#!/usr/bin/env python3
"""Handshakes/s our userspace daemon completes during a handshake flood, and without one.

Run as root (a benchmark, not a test: numbers vary with the machine and its load):

    .venv/bin/python bench/flood.py [--seconds 10] [--clients 64] [--rates 1000,10000] [--write]

Two namespaces on a veth (tests/netns/nslab.py). B runs ``sswctl daemon
--backend userspace`` (native data plane: the flood defence in
sswctl/_datapath/cookie.c) with CLIENTS peers. In A, one process drives
CLIENTS real initiators (the protocol engine), each from its own address
(192.168.77.101...), each keeping one handshake in flight: on a response it
counts one completed handshake and starts the next; on a cookie reply it
retries at once with mac2, as WireGuard's initiator does on its next
attempt. Each protocol mode is measured for SECONDS in each phase:

  - quiet: nothing else arrives at B's port;
  - flood: tests/floodgen.py sends mac1-valid initiations from 2,000 forged
    IPv4 sources and 2,000 /64s of an IPv6 /48 at each RATE per family.

Reported: completed handshakes/s (wall clock), the flood's measured rate,
B's daemon CPU time over the window, and B's counters (cookie replies sent,
messages shed). ``--write`` replaces the "Handshake flood (userspace
backend)" section of docs/performance.md; the module / wireguard.ko rows
come from the VM benchmark and are kept when present.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import selectors
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "netns"))
sys.path.insert(0, str(REPO))

DOC = REPO / "docs" / "performance.md"
SECTION = "## Handshake flood (userspace backend)"
PORT = 51822


def client_main(args) -> None:
    """In A's namespace: CLIENTS initiators, one handshake in flight each; prints JSON."""
    from sswctl import keys
    from sswctl.protocol import Engine, ProtocolError, Transmit

    spec = json.loads(Path(args.client).read_text())
    server = bytes.fromhex(spec["server"])
    dst = (spec["dst"], PORT)
    sel = selectors.DefaultSelector()
    wall = time.time() - time.monotonic()
    clients = []
    for i, priv in enumerate(spec["keys"]):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"192.168.77.{101 + i}", 0))
        s.setblocking(False)
        e = Engine(keys.from_base64(priv), spec["protocol"], wall_offset=wall)
        e.add_peer(server, endpoint=dst)
        c = {"sock": s, "engine": e, "clock": max(time.monotonic(), spec["clock"]), "sent_at": 0.0, "due": 0.0}
        clients.append(c)
        sel.register(s, selectors.EVENT_READ, c)

    def start(c) -> None:
        # the engine's clock runs ahead: past REKEY_TIMEOUT each time (its own
        # retry limit), always increasing (the responder's replay check, also
        # across phases: the next one starts where this one ended)
        c["clock"] = max(c["clock"] + 6.0, time.monotonic())
        c["due"] = float("inf")
        for ev in c["engine"].initiate(server, c["clock"]):
            if isinstance(ev, Transmit):
                c["sock"].sendto(ev.data, dst)
        c["sent_at"] = time.monotonic()

    done = cookies = 0
    end = time.monotonic() + args.seconds
    for c in clients:
        start(c)
    t0 = time.monotonic()
    while time.monotonic() < end:
        for key, _ in sel.select(0.05):
            c = key.data
            try:
                data = c["sock"].recv(2048)
                r = c["engine"].receive(data, dst, c["clock"])
            except (BlockingIOError, ProtocolError):
                continue
            if r.kind == "response":
                done += 1
                # the responder takes one initiation per peer per 1/50 s (INITIATIONS_PER_SECOND)
                c["due"] = c["sent_at"] + 0.021
            elif r.kind == "cookie":
                cookies += 1
                start(c)  # retry at once, with mac2
        now = time.monotonic()
        for c in clients:
            if now >= c["due"] or now - c["sent_at"] > 1.0:  # the next one, or lost (a full buffer): again
                start(c)
    elapsed = time.monotonic() - t0
    print(json.dumps({"done": done, "cookies": cookies, "elapsed": elapsed, "cpu": time.process_time(),
                      "clock": max(c["clock"] for c in clients) + 6.0}))


def udp_rcvbuf_errors(side) -> int:
    """Datagrams B's kernel dropped because a socket buffer was full (the worker fell behind)."""
    lines = [ln for ln in side.run("cat", "/proc/net/snmp").stdout.splitlines() if ln.startswith("Udp:")]
    return int(dict(zip(lines[0].split()[1:], lines[1].split()[1:], strict=True))["RcvbufErrors"])


def prioritise(pid: int) -> None:
    """Every thread of ``pid`` at nice -10: the measured side (B's daemon, the
    initiators) over other jobs on a shared machine and over the flooder,
    which stands for an attacker whose CPU is not ours."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), -10)
        except (ProcessLookupError, PermissionError):
            pass


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(protocol: str, args) -> dict:
    from nslab import make_lab

    from sswctl import keys
    from sswctl.model import Device, Peer
    from tests.floodgen import flood, initiation

    lab = make_lab()
    try:
        b = lab.b
        lab.start_daemon(b)
        privs = [keys.generate_private_key() for _ in range(args.clients)]
        import ipaddress

        lab.backend.set_device(Device(
            name=b.iface, private_key=b.private_key, listen_port=PORT, protocol=protocol, replace_peers=True,
            peers=[Peer(public_key=keys.public_key(k),
                        allowed_ips=[ipaddress.ip_network(f"10.200.{i >> 8}.{i & 255}/32")])
                   for i, k in enumerate(privs)]))
        b.run("ip", "link", "set", b.iface, "up")
        prioritise(b.proc.pid)  # after configuration: the C workers run by now
        for i in range(args.clients):
            lab.a.run("ip", "addr", "add", f"192.168.77.{101 + i}/24", "dev", "va")
        b.run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.vb.rp_filter=0")
        b.run("ip", "route", "add", "198.18.0.0/16", "via", lab.a.underlay4)
        b.run("ip", "-6", "route", "add", "2001:db8:77::/48", "via", lab.a.underlay6)
        lab.a.run("ping", "-c", "1", "-W", "5", b.underlay4)
        lab.a.run("ping", "-6", "-c", "1", "-W", "5", b.underlay6)
        spec = Path(f"/tmp/ssw-bench-flood-{os.getpid()}.json")
        with open(os.open(spec, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump({"server": b.public_key.hex(), "dst": b.underlay4, "protocol": protocol,
                       "keys": [keys.to_base64(k) for k in privs], "clock": 0.0}, f)
        out = {}
        clock = 0.0
        try:
            for phase in ["quiet", *args.rates]:
                time.sleep(1.5)  # "under load" from the previous phase has lapsed
                before = lab.backend.get_device(b.iface).status.drops
                cpu0, overflow0 = cpu_seconds(b.proc.pid), udp_rcvbuf_errors(b)
                floods: dict = {}
                threads = []
                if phase != "quiet":
                    msg = initiation(b.public_key, protocol)

                    def run(fam: str, dst: str, base: str, msg: bytes = msg, floods: dict = floods,
                            rate: int = int(phase)) -> None:
                        floods[fam] = flood(dst, PORT, msg, sources=2000, src_base=base, rate=rate,
                                            seconds=args.seconds + 3, netns=lab.a.ns)

                    for fam, dst, base in (("v4", b.underlay4, "198.18.0.1"), ("v6", b.underlay6, "2001:db8:77::1")):
                        t = threading.Thread(target=run, args=(fam, dst, base))
                        t.start()
                        threads.append(t)
                    time.sleep(1.5)  # the flood is established
                sp = json.loads(spec.read_text())
                sp["clock"] = clock
                spec.write_text(json.dumps(sp))
                cp = subprocess.run(["nice", "-n", "-10", "ip", "netns", "exec", lab.a.ns, sys.executable, __file__,
                                     "--client", str(spec),
                                     "--seconds", str(args.seconds)], capture_output=True, text=True,
                                    timeout=args.seconds + 120)
                if cp.returncode != 0:
                    raise RuntimeError(cp.stderr)
                r = json.loads(cp.stdout)
                clock = r["clock"]
                cpu = cpu_seconds(b.proc.pid) - cpu0
                for t in threads:
                    t.join()
                after = lab.backend.get_device(b.iface).status.drops
                overflow = udp_rcvbuf_errors(b) - overflow0
                res = {"rate": r["done"] / r["elapsed"], "cookies_to_clients": r["cookies"],
                       "daemon_cpu_per_s": cpu / r["elapsed"], "client_cpu_per_s": r["cpu"] / r["elapsed"],
                       "socket_overflows": overflow}
                for k in ("handshake_cookie_sent", "handshake_shed_no_mac2", "handshake_shed_ratelimit",
                          "handshake_shed_queue_full", "unknown_peer"):
                    res[k] = after.get(k, 0) - before.get(k, 0)
                if floods:
                    res["flood_rate"] = sum(f["sent"] for f in floods.values()) / max(
                        f["elapsed"] for f in floods.values())
                out[phase] = res
        finally:
            spec.unlink(missing_ok=True)
        return out
    finally:
        lab.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--rates", default="1000,10000",
                    help="flood datagrams/s per family, comma-separated: one measurement each")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--client", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.rates = [str(int(r)) for r in args.rates.split(",")]
    if args.client:
        client_main(args)
        return
    if os.geteuid() != 0:
        sys.exit("bench/flood.py needs root (network namespaces)")
    rows = []
    for protocol in ("wireguard", "secureswift"):
        r = measure(protocol, args)
        print(protocol, json.dumps(r, indent=1), flush=True)
        q = r["quiet"]
        for rate in args.rates:
            f = r[rate]
            shed = f["handshake_shed_no_mac2"] + f["handshake_shed_ratelimit"] + f["handshake_shed_queue_full"]
            rows.append(
                f"| {protocol} | {q['rate']:,.0f} | {f['flood_rate']:,.0f}/s | {f['rate']:,.0f} | "
                f"{f['rate'] / q['rate']:.2f}x | {f['handshake_cookie_sent']:,} | {shed:,} | "
                f"{f['daemon_cpu_per_s']:.2f} | {f['socket_overflows']:,} |")
    load = os.getloadavg()[0]
    section = "\n".join([
        SECTION, "",
        f"`bench/flood.py --seconds {args.seconds:g} --clients {args.clients} --rates {','.join(args.rates)}` "
        f"({time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
        f"load average {load:.1f} at the end). {args.clients} legitimate initiators in A (one address each, "
        "one handshake in flight each, a cookie reply answered at once with mac2) against our daemon in B; "
        "\"flood\": at the same time mac1-valid initiations from 2,000 forged IPv4 sources and 2,000 /64s "
        "of an IPv6 /48 (tests/floodgen.py) at each rate per family, the measured total in the table. "
        "Handshakes/s are completed "
        "responses the initiators received per wall-clock second; daemon CPU is B's whole process "
        "(Python + both C workers) per second. B's daemon and the initiators run at nice -10, above the "
        "machine's other jobs and the flooder (an attacker's CPU is not the server's).", "",
        "| our daemon (native), mode | handshakes/s quiet | flood | handshakes/s under flood | ratio | "
        "cookie replies sent | flood messages shed | daemon CPU (cores) under flood | socket buffer overflows |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows, "",
        "The quiet column is what one Python process of initiators reaches here (it, not the daemon, "
        "is the limit: the daemon used a tenth of a core); under a flood each initiator also pays the "
        "cookie round trip, and its engine clock, run ahead to skip REKEY_TIMEOUT, expires its cookie "
        "every ~19 handshakes (a benchmark artifact: a real initiator keeps it 115 s). "
        "What it means: under a flood every initiation without mac2 is answered by a cookie reply from C "
        "and never reaches Python; a legitimate initiator pays one round trip (the cookie) and its "
        "mac2-valid retry passes the per-source rate limit (20/s, burst 5) into a bounded queue, so the "
        "flood costs Python nothing beyond the queue's eighth per second. What limits the handshake rate "
        "under a large flood is whether the receive worker gets the CPU to read its socket: when it does "
        "not (the last column: datagrams the kernel dropped because the 4 MiB socket buffer was full), "
        "legitimate initiations and their retries die there with the flood, before any check; WireGuard's "
        "kernel path has no such buffer. The daemon's own CPU column shows how little it used (on a "
        "machine with other load the worker gets less than it needs, not more). The kernel module and "
        "in-kernel WireGuard rows for the same flood come from the VM benchmark.",
    ])
    if args.write:
        from report import write_section

        write_section(DOC, SECTION, section)
    print(section)


if __name__ == "__main__":
    main()
