"""Two network namespaces joined by a veth pair, and daemons inside them.

Every namespace, veth and process a test creates is removed at teardown,
also when the test fails: processes are stopped by their own PID (SIGTERM,
then SIGKILL), namespaces deleted (which deletes their links).

Underlay: A = 192.168.77.1/24 + fd77::1/64, B = .2 / ::2 on veth ``va``/``vb``.
Tunnel addresses: 10.99.0.A/24 and fd99::A/64 with A = 1 or 2.

The test process stays in the namespace it started in; ``lab.backend`` talks to
each daemon in the namespace that runs it (a UAPI client given that namespace's
inode, as sswctl inside it would find it).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from sswctl import keys
from sswctl.ipc import IPCError
from sswctl.ipc.uapi import UAPIBackend
from sswctl.model import Device, Endpoint, Peer
from sswctl.paths import netns_inode, socket_path

PY = sys.executable
_seq = itertools.count()
# Waits poll and return as soon as their condition holds; the limit only ends a
# wait that would never succeed, so it is generous for a slow, busy machine.
WAIT = 60.0


def sh(*cmd: str, check: bool = True, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, text=True, input=input)


@dataclass
class Side:
    ns: str
    index: int  # 1 or 2
    underlay4: str
    underlay6: str
    iface: str = ""
    private_key: bytes = b""
    public_key: bytes = b""
    proc: subprocess.Popen | None = None

    @property
    def tun4(self) -> str:
        return f"10.99.0.{self.index}"

    @property
    def tun6(self) -> str:
        return f"fd99::{self.index}"

    def run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.ns, *cmd, check=check, timeout=timeout)

    @property
    def netns(self) -> int:
        """The namespace's inode: what its daemons' file names carry."""
        return netns_inode(f"/run/netns/{self.ns}")

    @property
    def backend(self) -> UAPIBackend:
        """The UAPI client of this namespace's daemons."""
        return UAPIBackend(netns=self.netns)

    def socket(self, iface: str | None = None) -> str:
        """The UAPI socket of ``iface`` (default: the side's) in this namespace."""
        return socket_path(iface or self.iface, netns=self.netns)


class LabBackend:
    """get/set for a daemon in either side's namespace, picked by interface name."""

    def __init__(self, *sides: Side):
        self.sides = sides

    def _for(self, name: str) -> UAPIBackend:
        for side in self.sides:
            b = side.backend
            if b.has_device(name):
                return b
        raise IPCError(f"{name}: no userspace daemon in the lab's namespaces")

    def get_device(self, name: str) -> Device:
        return self._for(name).get_device(name)

    def set_device(self, device: Device) -> None:
        self._for(device.name).set_device(device)


@dataclass
class Lab:
    a: Side
    b: Side
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def backend(self) -> LabBackend:
        return LabBackend(self.a, self.b)

    def popen(self, side: Side, *cmd: str, **kw) -> subprocess.Popen:
        p = subprocess.Popen(["ip", "netns", "exec", side.ns, *cmd], **kw)
        self.procs.append(p)
        return p

    def start_daemon(self, side: Side, *extra: str, wait: bool = True) -> subprocess.Popen:
        """``python -m sswctl.daemon --backend userspace`` in ``side``'s namespace, foreground
        (explicit: with secureswift.ko loaded, ``auto`` would pick the module)."""
        log = open(f"/tmp/{side.iface}.daemon.log", "w")
        p = self.popen(side, PY, "-m", "sswctl.daemon", side.iface, "--backend", "userspace",
                       "--log-level", "debug", *extra,
                       stdout=log, stderr=subprocess.STDOUT)
        side.proc = p
        if wait:
            wait_for_socket(side, p)
        return p

    def stop_daemon(self, side: Side) -> int:
        p = side.proc
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=15)
        side.proc = None
        return rc

    def configure_pair(self, *, protocol: str = "secureswift", cipher: str = "chacha20-poly1305",
                       psk: bytes | None = None, v6_underlay: bool = False, keepalive: int = 0) -> None:
        """Keys, ports, one peer each way, tunnel addresses; no traffic yet."""
        for me, other in ((self.a, self.b), (self.b, self.a)):
            other_ep = Endpoint(other.underlay6 if v6_underlay else other.underlay4, 51820 + other.index)
            self.backend.set_device(Device(
                name=me.iface, private_key=me.private_key, listen_port=51820 + me.index,
                protocol=protocol, cipher=cipher, replace_peers=True,
                peers=[Peer(public_key=other.public_key, preshared_key=psk, endpoint=other_ep,
                            allowed_ips=_nets(f"{other.tun4}/32", f"{other.tun6}/128"),
                            persistent_keepalive=keepalive)],
            ))
            me.run("ip", "addr", "add", f"{me.tun4}/24", "dev", me.iface)
            me.run("ip", "-6", "addr", "add", f"{me.tun6}/64", "dev", me.iface, "nodad")

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        for side in (self.a, self.b):
            sh("ip", "netns", "del", side.ns, check=False)
            _LIVE.pop(side.iface, None)


def _nets(*texts: str):
    import ipaddress

    return [ipaddress.ip_network(t) for t in texts]


_LIVE: dict[str, Side] = {}  # a live lab's interface -> its side


def inside(*cmd: str) -> list[str]:
    """``cmd`` made to run in the namespace of the lab interface it names, where an
    operator would run sswctl, sswmon or wg for it; unchanged when it names none."""
    for arg in cmd:
        side = _LIVE.get(arg)
        if side is not None:
            return ["ip", "netns", "exec", side.ns, *cmd]
    return list(cmd)


def wait_for_socket(side: Side, proc: subprocess.Popen | None = None, timeout: float = WAIT) -> None:
    """Until ``side``'s daemon has its UAPI socket (in its namespace's name)."""
    iface = side.iface
    path = side.socket()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon for {iface} exited with {proc.returncode}: "
                                 f"{open(f'/tmp/{iface}.daemon.log').read()}")
        time.sleep(0.05)
    raise AssertionError(f"no UAPI socket for {iface} after {timeout}s")


def wait_for(cond, timeout: float, what: str):
    """Poll ``cond`` every 0.2 s until it returns something true (returned), else fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def ping(side: Side, target: str, count: int = 3, timeout: float = WAIT) -> subprocess.CompletedProcess:
    """Ping until ``count`` replies in a row succeed (the first may wait for a handshake)."""
    v6 = ":" in target
    deadline = time.monotonic() + timeout
    while True:
        r = side.run("ping", "-6" if v6 else "-4", "-c", str(count), "-i", "0.2", "-W", "2", target, check=False)
        if r.returncode == 0 or time.monotonic() > deadline:
            return r


def iperf(lab: Lab, client: Side, server: Side, seconds: int = 2, reverse: bool = False,
          addr: str | None = None, nbytes: int | None = None) -> float:
    """TCP goodput (bit/s) of an iperf3 run (see iperf_end). Goodput is no test of
    correctness: a slow machine may carry little, so assert > 0 (bench/ measures speed)."""
    return iperf_end(lab, client, server, seconds, reverse, addr, nbytes)["sum_received"]["bits_per_second"]


def iperf_end(lab: Lab, client: Side, server: Side, seconds: int = 2, reverse: bool = False,
              addr: str | None = None, nbytes: int | None = None) -> dict:
    """The summary ("end" of iperf3 -J) of an iperf3 TCP run to ``addr`` (default: the
    server's tunnel address), client -> server (server -> client with ``reverse``), for
    ``seconds`` or, with ``nbytes``, until the client has written that many bytes (the
    server may get a little less: the test ends with data still in flight). A count
    checked afterwards derives from ``["sum_received"]["bytes"]``, what really arrived."""
    import json

    addr = addr or server.tun4
    srv = lab.popen(server, "iperf3", "-s", "-1", "-B", addr,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT
        while ":5201" not in server.run("ss", "-ltnH", check=False).stdout:
            assert time.monotonic() < deadline, "iperf3 server did not start"
            time.sleep(0.1)
        amount = ["-n", str(nbytes)] if nbytes else ["-t", str(seconds)]
        args = ["iperf3", "-c", addr, *amount, "-J", *(["-R"] if reverse else [])]
        r = client.run(*args, check=False, timeout=(600 if nbytes else seconds + WAIT))
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    finally:
        srv.wait(timeout=15)
    return json.loads(r.stdout)["end"]


def make_lab():
    """Create the two namespaces; the caller must call ``close()``."""
    n = next(_seq)
    tag = f"{os.getpid() % 100000}{n}"
    a = Side(f"sswt{tag}a", 1, "192.168.77.1", "fd77::1", iface=f"sa{tag}"[:15])
    b = Side(f"sswt{tag}b", 2, "192.168.77.2", "fd77::2", iface=f"sb{tag}"[:15])
    lab = Lab(a, b)
    _LIVE.update({a.iface: a, b.iface: b})
    try:
        for side in (a, b):
            sh("ip", "netns", "add", side.ns)
            side.run("ip", "link", "set", "lo", "up")
            side.private_key = keys.generate_private_key()
            side.public_key = keys.public_key(side.private_key)
        sh("ip", "link", "add", "va", "netns", a.ns, "type", "veth", "peer", "name", "vb", "netns", b.ns)
        for side, dev in ((a, "va"), (b, "vb")):
            side.run("ip", "addr", "add", f"{side.underlay4}/24", "dev", dev)
            side.run("ip", "-6", "addr", "add", f"{side.underlay6}/64", "dev", dev, "nodad")
            side.run("ip", "link", "set", dev, "up")
    except BaseException:
        lab.close()
        raise
    return lab
