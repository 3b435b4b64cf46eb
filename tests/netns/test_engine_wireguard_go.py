"""The engine's wireguard mode against a real wireguard-go, byte for byte.

Our side is the transport oracle (tests/transport_oracle.py): the package's
handshake engine with the Python reference transport on top, so both the
handshake and the transport bytes meet wireguard-go's.

Each test creates its own network namespace with loopback and a wireguard-go
interface in it, talks to it over a UDP socket bound inside that namespace,
and removes everything (by PID and namespace name) afterwards.
"""

from __future__ import annotations

import base64
import ctypes
import os
import shutil
import socket
import struct
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from sswctl.protocol import HandshakeCompleted, KeypairCreated, Transmit
from tests.transport_oracle import TransportEngine

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("wireguard-go") is None, reason="wireguard-go not installed"),
    pytest.mark.skipif(shutil.which("wg") is None, reason="wireguard-tools (wg) not installed"),
]

CLONE_NEWNET = 0x40000000
OUR_IP = "10.99.0.1"
THEIR_IP = "10.99.0.2"
# Waits poll and return as soon as their condition holds; the limit only ends a
# wait that would never succeed, so it is generous for a slow, busy machine.
WAIT = 60.0


def poll(cond) -> bool:
    """Poll ``cond`` until true (True) or WAIT passes (False)."""
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _run(*args: str, ns: str | None = None, check: bool = True, **kw) -> subprocess.CompletedProcess:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=20, **kw)


@contextmanager
def _in_netns(name: str):
    """Run the body with this thread inside network namespace ``name``."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/ns/net") as home, open(f"/var/run/netns/{name}") as target:
        if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            yield
        finally:
            if libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")


def _ip_checksum(header: bytes) -> int:
    s = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _udp_reply(request: bytes, payload: bytes) -> bytes:
    """An IPv4/UDP packet answering ``request`` (addresses and ports swapped;
    UDP checksum 0, which IPv4 allows)."""
    ihl = (request[0] & 0x0F) * 4
    assert request[9] == 17, "expected a UDP packet"
    sport, dport = struct.unpack("!HH", request[ihl:ihl + 4])
    udp = struct.pack("!HHHH", dport, sport, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                               request[16:20], request[12:16]))
    ip[10:12] = _ip_checksum(bytes(ip)).to_bytes(2, "big")
    return bytes(ip) + udp


@pytest.fixture
def wggo(tmp_path: Path):
    """A namespace with wireguard-go up on ``wgpe<pid>``; yields a dict."""
    tag = f"{os.getpid() % 100000}"
    ns, dev = f"sswpe{tag}", f"wgpe{tag}"
    proc = None
    _run("ip", "netns", "add", ns)
    try:
        _run("ip", "link", "set", "lo", "up", ns=ns)
        env = dict(os.environ, WG_PROCESS_FOREGROUND="1")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "wireguard-go", dev], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sock_path = Path(f"/var/run/wireguard/{dev}.sock")
        if not poll(sock_path.exists):
            pytest.fail("wireguard-go did not create its UAPI socket")
        their_priv = _run("wg", "genkey").stdout.strip()
        key_file = tmp_path / "wg.key"
        key_file.write_text(their_priv + "\n")
        key_file.chmod(0o600)
        their_pub = _run("wg", "pubkey", input=their_priv + "\n").stdout.strip()
        _run("wg", "set", dev, "private-key", str(key_file), "listen-port", "0", ns=ns)
        _run("ip", "addr", "add", f"{THEIR_IP}/24", "dev", dev, ns=ns)
        _run("ip", "link", "set", dev, "up", ns=ns)
        port = int(_run("wg", "show", dev, "listen-port", ns=ns).stdout.strip())
        with _in_netns(ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(WAIT)
        try:
            yield {"ns": ns, "dev": dev, "pub": base64.b64decode(their_pub), "port": port,
                   "sock": sock, "tmp": tmp_path}
        finally:
            sock.close()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _run("ip", "netns", "del", ns, check=False)


def _add_us_as_peer(w, engine: TransportEngine, psk: bytes) -> None:
    psk_file = w["tmp"] / "psk"
    psk_file.write_text(base64.b64encode(psk).decode() + "\n")
    psk_file.chmod(0o600)
    our_port = w["sock"].getsockname()[1]
    _run("wg", "set", w["dev"], "peer", base64.b64encode(engine.public_key).decode(),
         "preshared-key", str(psk_file), "endpoint", f"127.0.0.1:{our_port}",
         "allowed-ips", f"{OUR_IP}/32", ns=w["ns"])


def _latest_handshake(w) -> int:
    out = _run("wg", "show", w["dev"], "latest-handshakes", ns=w["ns"]).stdout.split()
    return int(out[1]) if len(out) == 2 else 0


def _send(w, events) -> None:
    for ev in events:
        if isinstance(ev, Transmit):
            w["sock"].sendto(ev.data, ("127.0.0.1", w["port"]))


def _udp_probe(w) -> socket.socket:
    """A UDP socket inside the namespace; what it sends to OUR_IP goes
    through wireguard-go to the engine."""
    with _in_netns(w["ns"]):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((THEIR_IP, 0))
    probe.settimeout(WAIT)
    return probe


def _echo_through_engine(w, engine: TransportEngine, r) -> bytes:
    """Answer the inner UDP packet of data result ``r`` through the engine."""
    assert r.kind == "data" and r.packet[9] == 17
    dg, events = engine.encrypt(w["pub"], _udp_reply(r.packet, b"pong:" + r.packet[28:]), time.monotonic())
    assert dg is not None and events == []
    w["sock"].sendto(dg, ("127.0.0.1", w["port"]))
    return dg


def test_engine_initiates_to_wireguard_go_and_both_sides_accept(wggo):
    w = wggo
    psk = os.urandom(32)
    engine = TransportEngine(os.urandom(32), "wireguard", wall_offset=time.time() - time.monotonic())
    engine.add_peer(w["pub"], preshared_key=psk, endpoint=("127.0.0.1", w["port"]))
    _add_us_as_peer(w, engine, psk)
    now = time.monotonic()
    init = engine.initiate(w["pub"], now)
    assert len(init[0].data) == 148
    _send(w, init)
    resp, src = w["sock"].recvfrom(2048)
    assert len(resp) == 92 and resp[0] == 2
    r = engine.receive(resp, src, now)
    assert r.kind == "response"
    assert any(isinstance(e, HandshakeCompleted) for e in r.events)
    keepalive = [e for e in r.events if isinstance(e, Transmit)]
    assert [e.kind for e in keepalive] == ["keepalive"] and len(keepalive[0].data) == 32
    _send(w, r.events)  # wireguard-go records the handshake only after this key confirmation
    assert poll(lambda: _latest_handshake(w) > 0)
    probe = _udp_probe(w)
    probe.sendto(b"ping", (OUR_IP, 9999))
    data, src = w["sock"].recvfrom(2048)
    r = engine.receive(data, src, time.monotonic())
    assert r.packet[28:] == b"ping"
    _echo_through_engine(w, engine, r)
    assert probe.recvfrom(2048)[0] == b"pong:ping"
    probe.close()


def test_wireguard_go_initiates_to_engine_and_data_flows(wggo):
    w = wggo
    psk = os.urandom(32)
    engine = TransportEngine(os.urandom(32), "wireguard", wall_offset=time.time() - time.monotonic())
    engine.add_peer(w["pub"], preshared_key=psk)
    _add_us_as_peer(w, engine, psk)
    # A packet to OUR_IP makes wireguard-go initiate; the engine responds,
    # then the packet arrives as data under the new keypair and is answered.
    probe = _udp_probe(w)
    probe.sendto(b"hello", (OUR_IP, 9999))
    init, src = w["sock"].recvfrom(2048)
    assert len(init) == 148 and init[0] == 1
    now = time.monotonic()
    r = engine.receive(init, src, now)
    assert r.kind == "initiation"
    assert any(isinstance(e, KeypairCreated) and not e.keypair.is_initiator for e in r.events)
    _send(w, r.events)
    while True:
        data, src = w["sock"].recvfrom(2048)
        r = engine.receive(data, src, time.monotonic())
        if r.kind == "data":
            break
    assert any(isinstance(e, HandshakeCompleted) for e in r.events)
    assert r.packet[28:] == b"hello"
    _echo_through_engine(w, engine, r)
    assert probe.recvfrom(2048)[0] == b"pong:hello"
    probe.close()
    assert _latest_handshake(w) > 0
