"""A handshake flood at the module's port (issue 13): mac1-valid initiations from 2,000
forged sources (1,000 IPv4 addresses and 1,000 /64s of an IPv6 /48) while

  (a) an established peer keeps a tunnel carrying iperf3, and
  (b) a new peer completes a handshake within 10 s: its first initiation gets a cookie
      reply from the kernel, its retry 5 s later carries mac2 and goes through;

with real `sswctl daemon` processes (kernel backend) on every secureswift side, in both
protocol modes, and with wireguard.ko as the new peer in wireguard mode (byte-exact
cookie replies). The server's daemon CPU time over the flood is bounded in terms of the
flood's elapsed time, and the device's counters show the cookie replies and what was shed.

Topology: namespace S holds the server device and three veths: to A (the established
peer), to N (the new peer) and to F (the flooder, tests/floodgen.py's hsflood). S routes
the forged source prefixes to F, so every cookie reply has somewhere to go (F drops it).
The flood runs at the rate the generator reaches in the guest: it is measured and every
bound is stated in terms of it, of the elapsed time and of what the module promises
(secureswift_kmod/upcall.h, ratelimiter.h).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import in_netns, load_module, run, unique
from test_daemon import Daemon

from sswctl import keys
from sswctl.ipc.genl import GenlBackend
from sswctl.model import Device, Endpoint, Peer
from sswctl.protocol.modes import mode_for
from tests.floodgen import flood, initiation

# secureswift_kmod/upcall.h: mac1-valid messages handed up without a cookie.
UPCALL_RATE, UPCALL_BURST = 100, 8
FLOOD_RATE = 20_000  # asked for, both floods together; the generator's real rate is measured
FLOOD_V4, FLOOD_V6 = ("198.18.0.1", 1000), ("fd53:1:2::1", 1000)
PORT = 53001
NEW_PEER_DEADLINE = 10.0
# Long enough for the server to get under load, for a process to start in the loaded
# emulated guest (the new peer's ping: seconds) and for its handshake's 10 s.
FLOOD_SECONDS = 60
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The server's daemon may use at most this share of one CPU over the flood: what it is
# handed is bounded by UPCALL_BURST + UPCALL_RATE * elapsed whatever the flood's rate.
DAEMON_CPU_SHARE = 0.5
net = ipaddress.ip_network


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (proc(5) stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def link_stats(ns: str, dev: str) -> dict:
    """``{"rx": {"packets", "dropped", ...}, "tx": {...}}`` of one link (ip -s -j)."""
    return json.loads(run("ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev).stdout)[0]["stats64"]


def neigh_discards() -> int:
    """Packets the kernel dropped while their next hop's address was being resolved
    (unresolved_discards of the ARP and neighbour-discovery tables; their statistics
    are the whole VM's, and only this test sends then)."""
    total = 0
    for table in ("arp_cache", "ndisc_cache"):
        with open(f"/proc/net/stat/{table}") as f:
            head, *cpus = [line.split() for line in f]
        col = head.index("unresolved_discards")
        total += sum(int(row[col], 16) for row in cpus)
    return total


def to_f(lab) -> int:
    """Datagrams S sent towards F, as the kernel accounts for them: delivered (F's
    receive count), dropped by S's veth (a veth counts a datagram its peer's backlog had
    no room for, the flooder's namespace being busy, as a transmit drop), or dropped
    before it while S re-resolved F's link address. A CI run on a host running five VMs
    missed 31 of 278,202 replies with only the first two counts: a flooder's namespace
    starved long enough lets S's neighbour entry for it fail, and the kernel then drops
    and counts what waits for the new resolution (not confirmed there: the third count
    is what the next such run will show)."""
    s_side, f_side = lab.veth[lab.F]
    return (link_stats(lab.F, f_side)["rx"]["packets"] + link_stats(lab.S, s_side)["tx"]["dropped"]
            + neigh_discards())


class Sniffer(threading.Thread):
    """The handshake messages on one namespace's veth, with the time each passed: the new
    peer's timeline (initiation out, cookie reply in, retry out, response in)."""

    def __init__(self, ns: str, dev: str):
        super().__init__(daemon=True)
        with in_netns(ns):
            # ETH_P_ALL: a protocol-bound packet socket would not see what is sent.
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            self.sock.bind((dev, 0))
        self.sock.settimeout(0.2)
        self.seen: list[tuple[float, str, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            if len(data) < 14 + 20 + 8 + 4 or data[12:14] != b"\x08\x00" or data[14 + 9] != 17:
                continue
            udp = 14 + (data[14] & 15) * 4
            if PORT in struct.unpack_from("!HH", data, udp):
                way = "out" if addr[2] == socket.PACKET_OUTGOING else "in"
                self.seen.append((time.monotonic(), way, data[udp + 8]))

    def first(self, direction: str, kinds: tuple[int, ...], after: float = 0.0) -> float | None:
        return next((t for t, d, kind in self.seen if d == direction and kind in kinds and t >= after), None)

    def timeline(self, since: float) -> str:
        return " ".join(f"{t - since:+.1f}s:{d}:{kind:#x}" for t, d, kind in self.seen)

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)
        self.sock.close()


class Lab:
    """S (server `srv`), A (established peer), N (new peer), F (flooder), joined to S by veths."""

    def __init__(self, netns, protocol: str, new_peer: str):
        load_module()
        self.kb = GenlBackend()
        self.protocol, self.new_peer_kind = protocol, new_peer
        self.S, self.A, self.N, self.F = (netns() for _ in range(4))
        self.veth = {}
        for ns, n in ((self.A, 1), (self.N, 2), (self.F, 3)):
            vs, vo = unique("vs"), unique("vo")
            run("ip", "link", "add", vs, "netns", self.S, "type", "veth", "peer", "name", vo, "netns", ns)
            self.veth[ns] = (vs, vo)
            for side, dev, host in ((self.S, vs, 1), (ns, vo, 2)):
                run("ip", "-n", side, "addr", "add", f"192.168.{60 + n}.{host}/24", "dev", dev)
                run("ip", "-n", side, "addr", "add", f"fd60:{n}::{host}/64", "dev", dev, "nodad")
                run("ip", "-n", side, "link", "set", dev, "up")
        for ns in (self.S, self.A, self.N, self.F):
            run("ip", "-n", ns, "link", "set", "lo", "up")
        # Replies to the forged sources go to the flooder, whose kernel drops them.
        run("ip", "-n", self.S, "route", "add", "198.18.0.0/15", "via", "192.168.63.2")
        run("ip", "-n", self.S, "-6", "route", "add", "fd53:1:2::/48", "via", "fd60:3::2")
        self.priv = {ns: keys.clamp(os.urandom(32)) for ns in (self.S, self.A, self.N)}
        self.pub = {ns: keys.public_key(k) for ns, k in self.priv.items()}
        self.tun = {self.S: "10.60.0.1", self.A: "10.60.0.2", self.N: "10.60.0.3"}
        self.daemons: list[Daemon] = []

        peers = [Peer(public_key=self.pub[ns], allowed_ips=[net(f"{self.tun[ns]}/32")]) for ns in (self.A, self.N)]
        self.device(self.S, "srv", PORT, peers)
        self.device(self.A, "ssa", PORT + 1, [self.server_peer(1)])
        if new_peer == "wireguard.ko":
            run("modprobe", "wireguard")
            keyfile = Path(f"/tmp/{unique('wgkey')}")
            keyfile.write_text(keys.to_base64(self.priv[self.N]) + "\n")
            keyfile.chmod(0o600)
            run("ip", "-n", self.N, "link", "add", "wg0", "type", "wireguard")
            run("wg", "set", "wg0", "private-key", str(keyfile), "listen-port", str(PORT + 2),
                "peer", keys.to_base64(self.pub[self.S]), "endpoint", f"192.168.62.1:{PORT}",
                "allowed-ips", "10.60.0.0/24", netns=self.N)
            keyfile.unlink()
            run("ip", "-n", self.N, "addr", "add", "10.60.0.3/24", "dev", "wg0")
            run("ip", "-n", self.N, "link", "set", "wg0", "up")
        else:
            self.device(self.N, "ssn", PORT + 2, [self.server_peer(2)])

    def server_peer(self, n: int) -> Peer:
        return Peer(public_key=self.pub[self.S], endpoint=Endpoint(f"192.168.{60 + n}.1", PORT),
                    allowed_ips=[net("10.60.0.0/24")])

    def device(self, ns: str, name: str, port: int, peers: list[Peer]) -> None:
        run("ip", "-n", ns, "link", "add", name, "type", "secureswift")
        run("ip", "-n", ns, "addr", "add", f"{self.tun[ns]}/24", "dev", name)
        with in_netns(ns):
            self.kb.set_device(Device(name=name, private_key=self.priv[ns], listen_port=port,
                                      protocol=self.protocol, peers=peers))
        run("ip", "-n", ns, "link", "set", name, "up")

    def start_daemon(self, ns: str, name: str, tmp_path: Path) -> Daemon:
        d = Daemon(ns, name, tmp_path, "--backend", "kernel")
        self.daemons.append(d)
        return d

    def server(self) -> Device:
        with in_netns(self.S):
            return self.kb.get_device("srv")

    def new_peer_handshake_done(self) -> bool:
        if self.new_peer_kind == "wireguard.ko":
            out = run("wg", "show", "wg0", "latest-handshakes", netns=self.N).stdout.split()
            return len(out) == 2 and int(out[1]) > 0
        with in_netns(self.N):
            (peer,) = self.kb.get_device("ssn").peers
        return peer.status.last_handshake is not None

    def close(self) -> None:
        for d in self.daemons:
            d.kill()


def iperf_loop(lab: Lab, stop: threading.Event, rates: list, failures: list) -> None:
    """iperf3 from A to S over the established tunnel, 2 s runs, until ``stop``."""
    server = subprocess.Popen(["ip", "netns", "exec", lab.S, "iperf3", "-s", "-B", lab.tun[lab.S]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not stop.is_set():
            cp = run("iperf3", "-c", lab.tun[lab.S], "-t", "2", "-J", check=False, netns=lab.A)
            try:
                rates.append(json.loads(cp.stdout)["end"]["sum_received"]["bits_per_second"])
            except (ValueError, KeyError):
                if "unable to connect" not in cp.stdout:
                    failures.append(cp.stdout[-1500:] + cp.stderr)
                    return
                time.sleep(0.3)  # the server is not listening yet
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("protocol,new_peer", [
    ("secureswift", "daemon"),
    ("wireguard", "daemon"),
    ("wireguard", "wireguard.ko"),
])
def test_flood_of_mac1_valid_initiations_from_2000_sources(netns, tmp_path, protocol, new_peer):
    lab = Lab(netns, protocol, new_peer)
    try:
        server_daemon = lab.start_daemon(lab.S, "srv", tmp_path)
        lab.start_daemon(lab.A, "ssa", tmp_path)
        if new_peer == "daemon":
            lab.start_daemon(lab.N, "ssn", tmp_path)
        # (a) the established tunnel: a real handshake by the daemons, before the flood
        run("ping", "-c", "2", "-i", "0.3", "-W", "30", lab.tun[lab.S], netns=lab.A)

        payload = initiation(lab.pub[lab.S], protocol)
        before = lab.server().status.handshake
        f_rx0, nd0 = to_f(lab), neigh_discards()
        results: dict[str, dict] = {}

        def flood_from(name: str, dst: str, src: tuple[str, int]) -> None:
            results[name] = flood(dst, PORT, payload, sources=src[1], src_base=src[0], rate=FLOOD_RATE // 2,
                                  count=FLOOD_RATE * FLOOD_SECONDS, seconds=FLOOD_SECONDS, netns=lab.F)

        floods = [threading.Thread(target=flood_from, args=("v4", "192.168.63.1", FLOOD_V4)),
                  threading.Thread(target=flood_from, args=("v6", "fd60:3::1", FLOOD_V6))]
        stop, rates, failures = threading.Event(), [], []
        traffic = threading.Thread(target=iperf_loop, args=(lab, stop, rates, failures))
        sniffer = Sniffer(lab.N, lab.veth[lab.N][1])
        sniffer.start()
        cpu0, t0 = cpu_seconds(server_daemon.pid), time.monotonic()
        traffic.start()
        for t in floods:
            t.start()
        try:
            # (b) once the flood has the server under load, the new peer's first packet
            loaded = None
            while time.monotonic() - t0 < FLOOD_SECONDS / 3 and not loaded:
                time.sleep(0.5)
                loaded = lab.server().status.handshake["under_load"]
            t_new = time.monotonic()
            ping = subprocess.Popen(["ip", "netns", "exec", lab.N, "ping", "-c", "1", "-W", "60", lab.tun[lab.S]],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            while not lab.new_peer_handshake_done() and time.monotonic() - t0 < FLOOD_SECONDS:
                time.sleep(0.5)
            t_done = time.monotonic()
            for t in floods:
                t.join(timeout=FLOOD_SECONDS + 120)
            t_flood_end = time.monotonic()
            elapsed = t_flood_end - t0
            cpu = cpu_seconds(server_daemon.pid) - cpu0
        finally:
            stop.set()
            traffic.join(timeout=60)
            sniffer.stop()
        ping_out = ping.communicate(timeout=90)[0]
        time.sleep(1.5)  # the upcall worker and the reply sends settle
        after = lab.server().status.handshake
        delta = {k: after[k] - before.get(k, 0) for k in after if k != "under_load"}
        sent = sum(r["sent"] for r in results.values())
        f_rx, nd = to_f(lab) - f_rx0, neigh_discards() - nd0
        flood_elapsed = max(r["elapsed"] for r in results.values())
        # The new peer's handshake on its wire: first initiation out, the server's cookie
        # reply in, the retry out, the response in.
        mode = mode_for(protocol, "chacha20-poly1305")
        first_init = sniffer.first("out", (mode.type_initiation,), t_new)
        cookie = sniffer.first("in", (mode.type_cookie,), first_init or t_new)
        retry = sniffer.first("out", (mode.type_initiation,), cookie or t_new)
        response = sniffer.first("in", (mode.type_response,), retry or t_new)
        took = response - first_init if response and first_init else float("inf")
        print(f"[flood {protocol}/{new_peer}: {sent} initiations in {flood_elapsed:.1f} s = "
              f"{sent / flood_elapsed:.0f}/s (asked {FLOOD_RATE}/s) {results}; new peer's handshake "
              f"{took:.1f} s from its first initiation ({t_done - t_new:.1f} s after its ping started); "
              f"server daemon CPU {cpu:.2f} s over {elapsed:.1f} s; counters {delta}; "
              f"towards F (received, dropped by the veth or awaiting resolution) {f_rx}, of which the last {nd}; "
              f"iperf3 {[round(r / 1e6, 1) for r in rates]} Mbit/s; "
              f"new peer's messages {sniffer.timeline(t_new)}]")

        # The generator delivered a flood from both families; its rate is what it is.
        assert all(r["sent"] > 0 for r in results.values()), results
        assert loaded == 1
        # (b) the new peer's first initiation got a cookie reply from the kernel, the
        # retry (with mac2) got a response, within 10 s of the first, while the flood ran.
        assert first_init and cookie and retry and response, sniffer.timeline(t_new)
        assert took <= NEW_PEER_DEADLINE, f"new peer's handshake took {took:.1f} s: " + sniffer.timeline(t_new)
        assert response < t0 + flood_elapsed
        assert " 0% packet loss" in ping_out, ping_out
        # (a) the established tunnel carried iperf3 all along
        assert not failures, failures
        assert rates and all(r > 0 for r in rates), rates
        run("ping", "-c", "2", "-i", "0.3", "-W", "5", lab.tun[lab.S], netns=lab.A)
        # What the daemon was handed without a cookie is within the global budget;
        # what came with one is the new peer's retry (and wireguard.ko's or the engine's
        # further retries, each 5 s apart).
        assert delta["handshakes_upcalled"] <= UPCALL_BURST + UPCALL_RATE * elapsed + 10
        # Most of the flood was answered with cookies, every one of them sent, towards F.
        assert delta["shed_no_mac2"] >= 1
        assert delta["cookie_replies_sent"] == delta["shed_no_mac2"]
        assert f_rx >= delta["cookie_replies_sent"]
        # Each flood message that reached the handshake path is accounted for once.
        handled = (delta["shed_no_mac2"] + delta["shed_rate_limited"] + delta["shed_backlog_full"]
                   + delta["handshakes_upcalled"])
        assert handled <= sent + 50
        assert delta["shed_bad_mac1"] == 0
        # Daemon CPU bounded in terms of the elapsed time, whatever the flood's rate.
        assert cpu <= DAEMON_CPU_SHARE * elapsed, (cpu, elapsed)
    finally:
        lab.close()
