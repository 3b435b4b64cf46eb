"""The module in `Protocol = wireguard` against the kernel's own WireGuard (wireguard.ko, `wg`),
as responder and as initiator.

The handshakes are run by the Python protocol engine (handshakes only), driven by a
minimal loop in the test that does what the daemon's kernel backend will do: read the
module's upcalls, feed them to the engine, send its messages with XMIT_HANDSHAKE and
install its keypairs with INSTALL_KEYPAIR. Data packets are the module's alone.
"""

from __future__ import annotations

import ipaddress
import os
import select
import subprocess
import time

from conftest import in_netns, load_module, run, unique

from sswctl import keys
from sswctl.ipc.genl import GenlBackend
from sswctl.model import Device, Endpoint, Peer
from sswctl.protocol import Engine, KeypairCreated, ProtocolError, Transmit

net = ipaddress.ip_network


class Setup:
    """ns1: secureswift device `ssw` (wireguard mode); ns2: wireguard.ko device `wg0`."""

    def __init__(self, netns, tmp_path):
        load_module()
        run("modprobe", "wireguard")
        self.kb = GenlBackend()
        self.kb.family_id()
        self.ns1, self.ns2 = netns(), netns()
        va, vb = unique("va"), unique("vb")
        run("ip", "link", "add", va, "netns", self.ns1, "type", "veth", "peer", "name", vb, "netns", self.ns2)
        for ns, veth, i in ((self.ns1, va, 1), (self.ns2, vb, 2)):
            run("ip", "-n", ns, "addr", "add", f"192.168.242.{i}/24", "dev", veth)
            run("ip", "-n", ns, "link", "set", veth, "up")
        self.k1, self.k2 = keys.clamp(os.urandom(32)), keys.clamp(os.urandom(32))
        self.p1, self.p2 = keys.public_key(self.k1), keys.public_key(self.k2)

        run("ip", "-n", self.ns1, "link", "add", "ssw", "type", "secureswift")
        run("ip", "-n", self.ns1, "addr", "add", "10.242.0.1/24", "dev", "ssw")
        run("ip", "-n", self.ns1, "link", "set", "ssw", "up")
        with in_netns(self.ns1):
            self.kb.set_device(Device(name="ssw", private_key=self.k1, listen_port=51001, protocol="wireguard",
                                      cipher="chacha20-poly1305",
                                      peers=[Peer(public_key=self.p2, endpoint=Endpoint("192.168.242.2", 51002),
                                                  allowed_ips=[net("10.242.0.2/32")])]))
            self.ups = self.kb.handshake_upcalls()

        keyfile = tmp_path / "wg.key"
        keyfile.write_text(keys.to_base64(self.k2) + "\n")
        run("ip", "-n", self.ns2, "link", "add", "wg0", "type", "wireguard")
        run("wg", "set", "wg0", "private-key", str(keyfile), "listen-port", "51002",
            "peer", keys.to_base64(self.p1), "endpoint", "192.168.242.1:51001", "allowed-ips", "10.242.0.1/32",
            netns=self.ns2)
        run("ip", "-n", self.ns2, "addr", "add", "10.242.0.2/24", "dev", "wg0")
        run("ip", "-n", self.ns2, "link", "set", "wg0", "up")

        self.engine = Engine(self.k1, "wireguard", "chacha20-poly1305", wall_offset=time.time() - time.monotonic())
        self.engine.add_peer(self.p2, endpoint=("192.168.242.2", 51002))
        self.installed: list = []

    def handle(self, events) -> None:
        # Keys first: the peer's first data packet must find them.
        with in_netns(self.ns1):
            for ev in events:
                if isinstance(ev, KeypairCreated):
                    kp = ev.keypair
                    self.kb.install_keypair("ssw", ev.peer, local_index=kp.local_index,
                                            remote_index=kp.remote_index, send_key=bytes(kp.send_key),
                                            receive_key=bytes(kp.receive_key), initiator=kp.is_initiator,
                                            cipher=kp.cipher)
                    self.installed.append(kp.is_initiator)
            for ev in events:
                if isinstance(ev, Transmit):
                    dest = Endpoint(*ev.dest[:2]) if ev.dest else None
                    self.kb.xmit_handshake("ssw", bytes(ev.data), endpoint=dest,
                                           peer_public_key=None if dest else ev.peer)

    def serve_until_done(self, proc: subprocess.Popen, timeout: float = 90) -> int:
        """The daemon's loop, until ``proc`` exits."""
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if not select.select([self.ups], [], [], 0.2)[0]:
                self.handle(self.engine.tick(time.monotonic()))
                continue
            for up in self.ups.read():
                now = time.monotonic()
                if up.kind == "need_handshake":
                    self.handle(self.engine.initiate(up.peer_public_key, now))
                    continue
                try:
                    r = self.engine.receive(up.packet, (up.endpoint.host, up.endpoint.port), now)
                except ProtocolError as e:
                    raise AssertionError(f"engine refused wireguard.ko's message: {e.reason}") from None
                self.handle(r.events)
        if proc.poll() is None:
            proc.kill()
        return proc.wait()

    def close(self) -> None:
        self.ups.close()


def ping(ns: str, dst: str) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.3", "-W", "60", dst],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_wireguard_ko_initiates_module_responds(netns, tmp_path):
    s = Setup(netns, tmp_path)
    try:
        proc = ping(s.ns2, "10.242.0.1")
        assert s.serve_until_done(proc) == 0, proc.stdout.read()
        assert s.installed == [False]
        dump = run("wg", "show", "wg0", "dump", netns=s.ns2).stdout.splitlines()[1].split("\t")
        assert int(dump[4]) > 0 and int(dump[5]) > 0 and int(dump[6]) > 0  # handshake, rx, tx
        with in_netns(s.ns1):
            peer = s.kb.get_device("ssw").peer(s.p2)
        assert peer.status.rx_packets >= 3 and peer.status.tx_packets >= 3
    finally:
        s.close()


def test_module_initiates_wireguard_ko_responds(netns, tmp_path):
    s = Setup(netns, tmp_path)
    try:
        proc = ping(s.ns1, "10.242.0.2")
        assert s.serve_until_done(proc) == 0, proc.stdout.read()
        assert s.installed == [True]
        # and the other way over the same session
        run("ping", "-c", "2", "-i", "0.3", "-W", "5", "10.242.0.1", netns=s.ns2)
    finally:
        s.close()
