"""The handshake daemon's kernel backend: real `sswctl daemon` processes negotiating keys
for secureswift.ko devices in two namespaces joined by a veth pair.

Every `sswctl` process start costs seconds under emulation, so each test starts each
daemon once and configures the devices in-process through GenlBackend (what `sswctl set`
does) unless the command line is what the test is about. A daemon tells the test it is
serving the way it tells systemd: READY=1 on $NOTIFY_SOCKET.
"""

from __future__ import annotations

import faulthandler
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import in_netns, link_exists, load_module, run, unique

import sswctl.commands.daemon  # noqa: F401  (imported once here, not in every forked daemon)
from sswctl import cli, keys
from sswctl.ipc.dispatch import destroy_device
from sswctl.ipc.genl import GenlBackend
from sswctl.ipc.uapi import UAPIBackend
from sswctl.model import Device, Endpoint, Peer
from sswctl.paths import lock_path, netns_inode

SSWCTL = str(Path(sys.executable).with_name("sswctl"))
net = ipaddress.ip_network


class Daemon:
    """One `sswctl daemon` process in a namespace, started and waited for (READY=1).

    The process is forked from pytest and runs the console script's entry point
    (sswctl.cli.main) there: a fresh interpreter spends up to minutes importing the
    package under emulation on a loaded machine, which is not what these tests are about
    (tests/vm/test_cli.py and the `sswctl create` test below start real command lines)."""

    def __init__(self, ns: str, iface: str, tmp_path: Path, *args: str, timeout: float = 300):
        self.log = tmp_path / f"daemon-{iface}-{time.monotonic_ns()}.log"
        notify = tmp_path / f"n{time.monotonic_ns() % 10**9}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(notify))
        sock.settimeout(1)
        t0 = time.monotonic()
        self.pid = os.fork()
        if self.pid == 0:  # child: the daemon
            code = 1
            try:
                out = open(self.log, "w", buffering=1)
                os.dup2(out.fileno(), 1)
                os.dup2(out.fileno(), 2)
                sys.stdout = sys.stderr = out
                os.environ["NOTIFY_SOCKET"] = str(notify)
                faulthandler.register(signal.SIGUSR1)  # where it is stuck, if it never gets ready
                with open(f"/run/netns/{ns}") as f:
                    _setns(f.fileno())
                cli.main(["daemon", iface, *args])
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        self.status: int | None = None
        try:
            while True:
                try:
                    if "READY=1" in sock.recv(4096).decode():
                        break
                except TimeoutError:
                    if self.poll() is not None:
                        raise AssertionError(f"daemon for {iface} exited {self.status}: {self.output()}") from None
                    if time.monotonic() - t0 > timeout:
                        os.kill(self.pid, signal.SIGUSR1)
                        time.sleep(2)
                        self.kill()
                        raise AssertionError(f"daemon for {iface} not ready: {self.output()}") from None
        finally:
            sock.close()
            notify.unlink()
        print(f"[daemon {iface} ready in {time.monotonic() - t0:.1f} s]")

    def output(self) -> str:
        return self.log.read_text()

    def poll(self) -> int | None:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"daemon (pid {self.pid}) still running: {self.output()}")
            time.sleep(0.05)
        return self.status

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait()

    def stop(self, timeout: float = 30) -> int:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
        return self.wait(timeout)


def _setns(fd: int) -> None:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "setns")


def ping(ns: str, dst: str, count: int = 3, interval: str = "0.3", wait: str = "20") -> None:
    run("ping", "-c", str(count), "-i", interval, "-W", wait, dst, netns=ns)


def link_stats(ns: str, dev: str) -> dict:
    return json.loads(run("ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev).stdout)[0]["stats64"]


class Pair:
    """A secureswift device in each of two namespaces over veth, configured through genetlink:
    side 0 is 10.243.0.1 / fd10:243::1, side 1 is .2 / ::2."""

    def __init__(self, netns, protocol="secureswift", cipher="chacha20-poly1305", psk=False, peers=(True, True)):
        load_module()
        self.kb = GenlBackend()
        self.ns = (netns(), netns())
        self.dev = (unique("sda"), unique("sdb"))
        self.priv = (keys.clamp(os.urandom(32)), keys.clamp(os.urandom(32)))
        self.pub = tuple(keys.public_key(k) for k in self.priv)
        self.psk = os.urandom(32) if psk else None
        self.protocol, self.cipher = protocol, cipher
        va, vb = unique("va"), unique("vb")
        run("ip", "link", "add", va, "netns", self.ns[0], "type", "veth", "peer", "name", vb, "netns", self.ns[1])
        for i, veth in enumerate((va, vb)):
            ns, dev = self.ns[i], self.dev[i]
            run("ip", "-n", ns, "addr", "add", f"192.168.243.{i + 1}/24", "dev", veth)
            run("ip", "-n", ns, "link", "set", veth, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "link", "add", dev, "type", "secureswift")
            run("ip", "-n", ns, "addr", "add", f"10.243.0.{i + 1}/24", "dev", dev)
            run("ip", "-n", ns, "addr", "add", f"fd10:243::{i + 1}/64", "dev", dev, "nodad")
            with in_netns(ns):
                self.kb.set_device(Device(name=dev, private_key=self.priv[i], listen_port=52001 + i,
                                          protocol=protocol, cipher=cipher,
                                          peers=[self.peer_of(i)] if peers[i] else []))
            run("ip", "-n", ns, "link", "set", dev, "up")

    def peer_of(self, i: int) -> Peer:
        """Side i's view of the other side."""
        j = 1 - i
        return Peer(public_key=self.pub[j], preshared_key=self.psk,
                    endpoint=Endpoint(f"192.168.243.{j + 1}", 52001 + j),
                    allowed_ips=[net(f"10.243.0.{j + 1}/32"), net(f"fd10:243::{j + 1}/128")])

    def device(self, i: int) -> Device:
        with in_netns(self.ns[i]):
            return self.kb.get_device(self.dev[i])

    def set(self, i: int, device: Device) -> None:
        with in_netns(self.ns[i]):
            self.kb.set_device(device)

    def daemon(self, i: int, tmp_path: Path) -> Daemon:
        return Daemon(self.ns[i], self.dev[i], tmp_path, "--backend", "kernel")

    def daemons(self, tmp_path: Path) -> list[Daemon]:
        return [self.daemon(i, tmp_path) for i in (0, 1)]


def running(pid: int) -> bool:
    """Alive and not a zombie (the detached daemon's parent is init, which may reap late)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def lock_file(ns: str, name: str) -> Path:
    """The pid file of the daemon for ``name`` in namespace ``ns``."""
    return Path(lock_path(name, netns=netns_inode(f"/run/netns/{ns}")))


def stop_all(daemons) -> None:
    for d in daemons:
        d.kill()


def quiet_counters(p: Pair, i: int, timeout: float = 60.0):
    """Side i's peer and `ip -s link` counters, read once no packet moves between the two
    reads (the last ACKs of a transfer, a keepalive, can pass between them)."""
    deadline = time.monotonic() + timeout
    while True:
        (peer,) = p.device(i).peers
        stats = link_stats(p.ns[i], p.dev[i])
        (again,) = p.device(i).peers
        if (peer.status.tx_packets, peer.status.rx_packets) == (again.status.tx_packets, again.status.rx_packets) \
                or time.monotonic() > deadline:
            return peer, stats
        time.sleep(0.5)


def iperf3(pair: Pair, reverse: bool) -> dict:
    """iperf3 TCP for 2 s from side 0 to side 1 (reverse: 1 to 0); its ``sum_received``
    summary (``bytes``, ``bits_per_second``)."""
    server = subprocess.Popen(["ip", "netns", "exec", pair.ns[1], "iperf3", "-s", "-1", "-B", "10.243.0.2"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60  # polls: generous for a slow machine, ends when it answers
        while time.monotonic() < deadline:
            cp = run("iperf3", "-c", "10.243.0.2", "-t", "2", "-J", *(["-R"] if reverse else []),
                     check=False, netns=pair.ns[0])
            try:
                return json.loads(cp.stdout)["end"]["sum_received"]
            except (ValueError, KeyError):
                pass
            if "unable to connect" not in cp.stdout:
                break
            time.sleep(0.2)  # the server was not listening yet
        raise AssertionError(f"iperf3 failed ({cp.returncode}): {cp.stdout[-3000:]} {cp.stderr}")
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("protocol,cipher,psk", [
    ("secureswift", "chacha20-poly1305", True),
    ("secureswift", "aes-256-gcm", False),
    ("wireguard", "chacha20-poly1305", False),
])
def test_daemons_negotiate_and_the_module_carries_ping_and_iperf3(netns, tmp_path, protocol, cipher, psk):
    p = Pair(netns, protocol, cipher, psk)
    daemons = []
    try:
        daemons = p.daemons(tmp_path)
        ping(p.ns[0], "10.243.0.2")  # waits in the kernel's queue for the first handshake
        ping(p.ns[1], "10.243.0.1")
        ping(p.ns[0], "fd10:243::2")
        ping(p.ns[1], "fd10:243::1")
        up, down = iperf3(p, reverse=False), iperf3(p, reverse=True)
        print(f"[iperf3 {protocol} {cipher}: {up['bits_per_second'] / 1e6:.0f} / "
              f"{down['bits_per_second'] / 1e6:.0f} Mbit/s]")
        assert up["bits_per_second"] > 0 and down["bits_per_second"] > 0
        # How much 2 s carry is the machine's speed; each way carried at least what arrived.
        least = min(up["bytes"], down["bytes"])
        for i in (0, 1):
            peer, stats = quiet_counters(p, i)
            assert peer.status.last_handshake is not None
            assert (peer.status.rx_bytes, peer.status.tx_bytes) == (stats["rx"]["bytes"], stats["tx"]["bytes"])
            assert min(peer.status.rx_bytes, peer.status.tx_bytes) >= least > 0
        for d in daemons:
            assert d.poll() is None, d.output()
            assert d.stop() == 0, d.output()
            out = d.output()
            assert "new session with peer" in out
            # no key material in the log: neither side's private key, the PSK, nor hex of them
            for secret in (*p.priv, p.psk or b""):
                if secret:
                    assert keys.to_base64(secret) not in out and secret.hex() not in out
    finally:
        stop_all(daemons)


def test_daemon_killed_and_restarted_traffic_continues_and_a_peer_added_later_works(netns, tmp_path):
    p = Pair(netns, psk=True)
    daemons = []
    try:
        daemons = p.daemons(tmp_path)
        ping(p.ns[0], "10.243.0.2")
        first = p.device(0).peers[0].status.last_handshake
        # Kill side 0's daemon: the kernel keeps the keys, traffic keeps flowing.
        daemons[0].kill()
        cp = run("ping", "-c", "15", "-i", "0.2", "-W", "2", "10.243.0.2", netns=p.ns[0])
        assert " 0% packet loss" in cp.stdout, cp.stdout
        # A new daemon starts with no sessions and does not disturb the running one.
        daemons[0] = p.daemon(0, tmp_path)
        ping(p.ns[0], "10.243.0.2", count=2)
        # Remove the peer (the kernel drops its keys) and add it back while the daemon runs:
        # DEVICE_CHANGED tells the daemon, and the next packet needs a new handshake.
        p.set(0, Device(name=p.dev[0], peers=[Peer(public_key=p.pub[1], remove=True)]))
        assert p.device(0).peers == []
        p.set(0, Device(name=p.dev[0], peers=[p.peer_of(0)]))
        ping(p.ns[0], "10.243.0.2")
        ping(p.ns[1], "10.243.0.1", count=2)
        second = p.device(0).peers[0].status.last_handshake
        assert second is not None and first is not None and second > first
        assert "new session with peer" in daemons[0].output()
        # Deleting the link ends its daemon cleanly.
        run("ip", "-n", p.ns[0], "link", "del", p.dev[0])
        assert daemons[0].wait(30) == 0, daemons[0].output()
        assert "link deleted" in daemons[0].output()
    finally:
        stop_all(daemons)


def test_rekey_under_traffic_with_a_shortened_rekey_time(netns, tmp_path):
    """The kernel asks for a rekey when the initiator's keys pass REKEY_AFTER_TIME (shortened
    to 3 s through the module's test-only parameter, docs/kernel-module.md); the daemons
    negotiate new keys while a ping runs, and not one ping is lost."""
    from test_timers import knobs

    p = Pair(netns, psk=True)
    daemons = []
    try:
        daemons = p.daemons(tmp_path)
        ping(p.ns[0], "10.243.0.2")  # side 0 initiates the first session
        first = [p.device(i).peers[0].status.last_handshake for i in (0, 1)]
        with knobs(rekey_after_time=3):
            cp = run("ping", "-c", "60", "-i", "0.25", "-W", "2", "10.243.0.2", netns=p.ns[0])
        assert " 0% packet loss" in cp.stdout, cp.stdout
        later = [p.device(i).peers[0].status.last_handshake for i in (0, 1)]
        for i in (0, 1):
            assert first[i] is not None and later[i] is not None and later[i] > first[i], (first, later)
        sessions = [d.output().count("new session with peer") for d in daemons]
        assert min(sessions) >= 2, sessions
        for d in daemons:
            assert d.poll() is None, d.output()
    finally:
        stop_all(daemons)


def test_peer_configured_after_the_daemon_started_gets_a_tunnel(netns, tmp_path):
    p = Pair(netns, protocol="wireguard", peers=(False, True))
    daemons = []
    try:
        daemons = p.daemons(tmp_path)
        p.set(0, Device(name=p.dev[0], peers=[p.peer_of(0)]))  # only now does side 0 know side 1
        ping(p.ns[1], "10.243.0.1")  # side 1 initiates; side 0's daemon must know the peer to answer
        ping(p.ns[0], "fd10:243::2")
    finally:
        stop_all(daemons)


def test_module_and_userspace_backend_interoperate_each_side_initiating(netns, tmp_path):
    """Side 0 is secureswift.ko with the kernel daemon; side 1 a userspace daemon on TUN."""
    p = Pair(netns, psk=True, peers=(True, False))
    tun = unique("sdt")
    daemons = []
    try:
        # Side 1 swaps its kernel device for the userspace backend under a fresh name.
        run("ip", "-n", p.ns[1], "link", "del", p.dev[1])
        run("modprobe", "tun")
        assert os.path.exists("/dev/net/tun")
        daemons.append(p.daemon(0, tmp_path))
        daemons.append(Daemon(p.ns[1], tun, tmp_path, "--backend", "userspace", "--listen-port", "52002"))
        ua = UAPIBackend(netns=netns_inode(f"/run/netns/{p.ns[1]}"))  # the daemon's namespace
        peer = p.peer_of(1)
        ua.set_device(Device(name=tun, private_key=p.priv[1], peers=[peer]))
        run("ip", "-n", p.ns[1], "addr", "add", "10.243.0.2/24", "dev", tun)
        run("ip", "-n", p.ns[1], "addr", "add", "fd10:243::2/64", "dev", tun, "nodad")
        run("ip", "-n", p.ns[1], "link", "set", tun, "up")
        ping(p.ns[0], "10.243.0.2")  # the module side initiates
        ping(p.ns[1], "fd10:243::1", count=2)
        first = ua.get_device(tun).peers[0].status.last_handshake
        # Forget the session on the userspace side: now it initiates.
        ua.set_device(Device(name=tun, peers=[Peer(public_key=p.pub[0], remove=True)]))
        ua.set_device(Device(name=tun, peers=[peer]))
        ping(p.ns[1], "10.243.0.1")
        up = ua.get_device(tun).peers[0]
        assert up.status.last_handshake is not None and (first is None or up.status.last_handshake > first)
        kernel_peer = p.device(0).peers[0]
        assert kernel_peer.status.rx_packets >= 8 and kernel_peer.status.tx_packets >= 8
    finally:
        stop_all(daemons)


def test_sswctl_create_auto_picks_the_module_and_starts_the_daemon(netns, tmp_path):
    p = Pair(netns, peers=(True, True))
    name = unique("sdc")
    daemons = []
    try:
        daemons.append(p.daemon(1, tmp_path))
        run("ip", "-n", p.ns[0], "link", "del", p.dev[0])
        run(SSWCTL, "create", name, netns=p.ns[0])
        assert "secureswift" in run("ip", "-n", p.ns[0], "-d", "link", "show", "dev", name).stdout
        pid = int(lock_file(p.ns[0], name).read_text())
        assert running(pid)
        conf = tmp_path / "c.conf"
        conf.write_text(f"[Interface]\nPrivateKey = {keys.to_base64(p.priv[0])}\nListenPort = 52001\n\n"
                        f"[Peer]\nPublicKey = {keys.to_base64(p.pub[1])}\nEndpoint = 192.168.243.2:52002\n"
                        f"AllowedIPs = 10.243.0.2/32\n")
        run(SSWCTL, "setconf", name, str(conf), netns=p.ns[0])
        run("ip", "-n", p.ns[0], "addr", "add", "10.243.0.1/24", "dev", name)
        run("ip", "-n", p.ns[0], "link", "set", name, "up")
        ping(p.ns[0], "10.243.0.2")
        run(SSWCTL, "destroy", name, netns=p.ns[0])
        assert not link_exists(name, netns=p.ns[0])
        deadline = time.monotonic() + 30
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(pid), "the daemon outlived its link"
        assert not lock_file(p.ns[0], name).exists()
    finally:
        stop_all(daemons)


def test_the_same_interface_name_in_two_namespaces_gets_a_daemon_each(netns, tmp_path):
    """A kernel device is a name in its namespace (containers each with their own wg0):
    each gets its own daemon and lock, and destroying one leaves the other serving."""
    p = Pair(netns)
    name = unique("sdn")
    for i in (0, 1):
        run("ip", "-n", p.ns[i], "link", "set", p.dev[i], "down")
        run("ip", "-n", p.ns[i], "link", "set", p.dev[i], "name", name)
        run("ip", "-n", p.ns[i], "link", "set", name, "up")
    p.dev = (name, name)
    daemons = []
    try:
        daemons = p.daemons(tmp_path)
        locks = [lock_file(p.ns[i], name) for i in (0, 1)]
        assert [int(lock.read_text()) for lock in locks] == [d.pid for d in daemons]
        ping(p.ns[0], "10.243.0.2")
        ping(p.ns[1], "10.243.0.1")  # (taking the link down to rename it flushed its IPv6 addresses)
        with in_netns(p.ns[0]):  # what `sswctl destroy` runs, without a process start under emulation
            destroy_device(name)
        assert daemons[0].wait() == 0 and not locks[0].exists()
        assert daemons[1].poll() is None and locks[1].exists()
        assert p.device(1).peers[0].status.last_handshake is not None
    finally:
        stop_all(daemons)


def test_a_more_specific_allowed_ip_of_another_peer_wins_both_ways(netns, tmp_path):
    """Cryptokey routing with three real daemons: A's peer B holds 10.243.0.0/24 and its
    peer C (behind a second veth) the more specific 10.243.0.3/32. A's traffic to .3 goes to
    C alone; a packet B sends from .3 (C's address) is dropped by A's inner-source check."""
    p = Pair(netns)
    nsc, devc = netns(), unique("sdc")
    privc = keys.clamp(os.urandom(32))
    pubc = keys.public_key(privc)
    va, vc = unique("va"), unique("vc")
    run("ip", "link", "add", va, "netns", p.ns[0], "type", "veth", "peer", "name", vc, "netns", nsc)
    for ns, veth, addr in ((p.ns[0], va, "192.168.244.1/24"), (nsc, vc, "192.168.244.3/24")):
        run("ip", "-n", ns, "addr", "add", addr, "dev", veth)
        run("ip", "-n", ns, "link", "set", veth, "up")
    run("ip", "-n", nsc, "link", "set", "lo", "up")
    run("ip", "-n", nsc, "link", "add", devc, "type", "secureswift")
    run("ip", "-n", nsc, "addr", "add", "10.243.0.3/24", "dev", devc)
    with in_netns(nsc):
        p.kb.set_device(Device(name=devc, private_key=privc, listen_port=52003, peers=[
            Peer(public_key=p.pub[0], endpoint=Endpoint("192.168.244.1", 52001),
                 allowed_ips=[net("10.243.0.1/32")])]))
    run("ip", "-n", nsc, "link", "set", devc, "up")
    # A: B gets the whole /24, C the /32 inside it.
    p.set(0, Device(name=p.dev[0], peers=[
        Peer(public_key=p.pub[1], allowed_ips=[net("10.243.0.0/24")], replace_allowed_ips=True),
        Peer(public_key=pubc, endpoint=Endpoint("192.168.244.3", 52003), allowed_ips=[net("10.243.0.3/32")])]))
    daemons = []
    try:
        daemons = p.daemons(tmp_path) + [Daemon(nsc, devc, tmp_path, "--backend", "kernel")]

        def peers_of_a():
            return {peer.public_key: peer for peer in p.device(0).peers}

        ping(p.ns[0], "10.243.0.2")  # B still answers for its own address
        before = peers_of_a()
        ping(p.ns[0], "10.243.0.3", count=5)  # answered only if it reached C
        after = peers_of_a()
        assert after[pubc].status.tx_packets >= before[pubc].status.tx_packets + 5
        assert after[pubc].status.rx_packets >= before[pubc].status.rx_packets + 5
        # Nothing for .3 went to B (B's keepalives may pass; a ping would be 5 or more).
        assert after[p.pub[1]].status.tx_packets - before[p.pub[1]].status.tx_packets < 5

        # B sends from C's address: A's table gives 10.243.0.3 to C, so A refuses what B
        # sends from there (authentic but dishonest: rx_errors, as WireGuard counts it).
        run("ip", "-n", p.ns[1], "addr", "add", "10.243.0.3/32", "dev", p.dev[1])
        errors = link_stats(p.ns[0], p.dev[0])["rx"]["errors"]
        spoofed = run("ping", "-c", "4", "-i", "0.3", "-W", "2", "-I", "10.243.0.3", "10.243.0.1",
                      check=False, netns=p.ns[1])
        assert spoofed.returncode != 0 and " 0 received" in spoofed.stdout, spoofed.stdout
        assert link_stats(p.ns[0], p.dev[0])["rx"]["errors"] >= errors + 4
        ping(p.ns[1], "10.243.0.1")  # from B's own address: still delivered
    finally:
        stop_all(daemons)
