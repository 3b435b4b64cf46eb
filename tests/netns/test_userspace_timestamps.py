"""A restarted daemon is not refused by its peer when its clock went back.

The real daemon runs first with its real-time clock an hour fast (libfaketime
shifts CLOCK_REALTIME for that process only; the monotonic clock is left
alone), handshakes with Debian's wireguard-go, which remembers the greatest
initiation timestamp it accepted. Then the daemon is stopped and started
again on the true clock: as an RTC-less router after NTP stepped its clock
back, or after a wrong manual setting. WireGuard refuses any initiation not
newer than the last one (replay protection), so the restarted daemon
completes a handshake only because it kept the last timestamp it sent in its
state file and sends a newer one."""

from __future__ import annotations

import os
import stat
import subprocess
import time

import pytest
from nslab import PY, wait_for, wait_for_socket
from test_userspace_wireguard_go import _net, configure, start_wireguard_go

from sswctl.daemon.stamps import RECORD
from sswctl.model import Device, Endpoint, Peer
from sswctl.paths import stamps_path

pytestmark = [pytest.mark.root, pytest.mark.netns]

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def latest_handshake(iface: str) -> int:
    out = subprocess.run(["wg", "show", iface, "latest-handshakes"], capture_output=True, text=True,
                         check=True).stdout
    return int(out.split("\t")[1])


SINK = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("{addr}", 9999))
while True:
    s.recv(2048)
"""


def send_until_handshake(a, b, after: int) -> int:
    """One datagram A -> B's sink; B's latest handshake if newer than ``after``, else 0."""
    a.run(PY, "-c", f"import socket; socket.socket(2, 2).sendto(b'x', ('{b.tun4}', 9999))")
    t = latest_handshake(b.iface)
    return t if t > after else 0


def last_sent(path: str) -> int:
    """Seconds (Unix) of the last initiation the daemon recorded in its state file
    (one peer: the record after the header; sswctl/daemon/stamps.py)."""
    with open(path, "rb") as f:
        rec = f.read()[RECORD:2 * RECORD]
    return int.from_bytes(rec[32:40], "big") - 0x400000000000000A


def start_daemon(lab, side, *wrapper: str):
    log = open(f"/tmp/{side.iface}.daemon.log", "a")
    side.proc = lab.popen(side, *wrapper, PY, "-m", "sswctl.daemon", side.iface, "--backend", "userspace",
                          "--log-level", "debug", stdout=log, stderr=subprocess.STDOUT)
    wait_for_socket(side, side.proc)


def test_restarted_daemon_with_a_clock_stepped_back_is_accepted_by_wireguard_go(lab):
    if not os.path.exists(LIBFAKETIME):
        pytest.skip("libfaketime not installed (make deps installs the faketime package)")
    a, b = lab.a, lab.b
    stamps = stamps_path(a.iface, netns=a.netns)
    # env execs the daemon (the faketime wrapper would fork, and SIGTERM would miss it).
    start_daemon(lab, a, "env", f"LD_PRELOAD={LIBFAKETIME}", "FAKETIME=+1h", "FAKETIME_DONT_FAKE_MONOTONIC=1")
    start_wireguard_go(lab, b)
    configure(lab, None)
    # wireguard-go's own initiations are dropped on their way out (type word 1
    # at the start of the UDP payload): every handshake below is one A initiated.
    b.run("nft", "add table ip t ; add chain ip t out { type filter hook output priority 0 ; } ; "
          "add rule ip t out udp dport 51821 @th,64,32 0x01000000 counter drop")
    lab.popen(b, PY, "-c", SINK.format(addr=b.tun4), stdout=subprocess.DEVNULL)
    first = wait_for(lambda: send_until_handshake(a, b, 0), 30, "the first handshake")
    assert last_sent(stamps) > time.time() + 3000  # what wireguard-go saw: our clock an hour fast
    assert stat.S_IMODE(os.lstat(stamps).st_mode) == 0o600

    lab.stop_daemon(a)
    start_daemon(lab, a)  # the true clock: an hour behind what wireguard-go saw
    lab.backend.set_device(Device(
        name=a.iface, private_key=a.private_key, listen_port=51821, protocol="wireguard",
        peers=[Peer(public_key=b.public_key, endpoint=Endpoint(b.underlay4, 51822),
                    allowed_ips=[_net(f"{b.tun4}/32")])]))
    a.run("ip", "addr", "add", f"{a.tun4}/24", "dev", a.iface)
    a.run("ip", "link", "set", a.iface, "up")
    # A has no session: its datagrams start a handshake that wireguard-go must
    # accept. Refused, A would retry every 5 s in vain: 30 s is six tries.
    # (Without the nft rule wireguard-go would end it after ~15 s with a
    # handshake of its own: its data went unanswered.)
    time.sleep(1.1)  # latest-handshakes counts seconds
    wait_for(lambda: send_until_handshake(a, b, first), 30, "wireguard-go to accept the restarted daemon")
    assert last_sent(stamps) > time.time() + 3000  # still above what wireguard-go saw
    log = open(f"/tmp/{a.iface}.daemon.log").read()
    assert "Traceback" not in log
