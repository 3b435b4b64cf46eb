"""A handshake flood at the userspace daemon's port (native data plane, cookie.c).

B runs the daemon with an established tunnel to A. From A's namespace
tests/floodgen.py sprays mac1-valid initiations toward B's port from 2,000
forged IPv4 sources and 2,000 /64s of an IPv6 /48 (B routes those prefixes
back to A, where the cookie replies die). While it runs:
  (a) iperf3 A -> B through the tunnel keeps moving data (never two seconds
      in a row without);
  (b) a NEW peer (a second daemon, or wireguard-go in wireguard mode) in
      A's namespace completes a handshake with B within its first few
      initiations (JOIN_ATTEMPTS, each REKEY_TIMEOUT plus jitter apart): its
      first initiation gets a cookie reply from C, its retry carries mac2;
  (c) B's daemon CPU time stays under one core (cpu <= elapsed);
  (d) B's counters show cookie replies sent and messages shed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time

import pytest
from nslab import Side, ping, wait_for

from sswctl import datapath, keys, wire
from sswctl.model import Device, Endpoint, Peer
from tests.floodgen import Flood, initiation

pytestmark = [pytest.mark.root, pytest.mark.netns]

FLOOD_SECONDS = 14
# Initiations the newcomer may need: the first is answered with a cookie
# reply, the second carries mac2 and is answered. One more is allowed because
# a datagram can die in B's full socket buffer before C ever sees it (the
# report gives the overflows counted): that is the flooded machine's loss,
# not a failed defence. Each further attempt is the protocol's
# retransmission, REKEY_TIMEOUT plus up to REKEY_TIMEOUT_JITTER_MAX later.
JOIN_ATTEMPTS = 3
JOIN_SECONDS = JOIN_ATTEMPTS * (wire.REKEY_TIMEOUT + wire.REKEY_TIMEOUT_JITTER_MAX)
RATE = 10_000  # per family: 20,000 packets/s in all, if the sender gets there


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` (the daemon: Python and both C workers)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_wait(pid: int) -> float:
    """Seconds the daemon's threads spent runnable but waiting for a CPU
    (schedstat): how much of the flood the machine, not the daemon, decided."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def prioritise(pid: int) -> None:
    """Every thread of ``pid`` (one of this test's own processes) at nice -10.

    The test machine is shared: other jobs' VMs and compilers can leave a
    thread waiting for a CPU most of the time (measured: the receive worker
    ran 6 % of the time it was runnable at load 27 on 2 cores). The tunnel's
    own processes (both daemons, the newcomer, iperf3) get priority over that
    unrelated load and over the flooder, which stands for an attacker whose
    CPU is not ours; the report line still gives the time they waited."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), -10)
        except (ProcessLookupError, PermissionError):
            pass


def newcomer_side(lab) -> Side:
    c = Side(lab.a.ns, 3, lab.a.underlay4, lab.a.underlay6, iface="sc" + lab.a.iface[2:])
    c.private_key = keys.generate_private_key()
    c.public_key = keys.public_key(c.private_key)
    return c


def start_newcomer(lab, c: Side, protocol: str, kind: str) -> None:
    """C (in A's namespace, 10.98.0.3) peers with B (10.98.0.2 on B's device)."""
    if kind == "wireguard-go":
        from test_userspace_wireguard_go import start_wireguard_go

        start_wireguard_go(lab, c)
        keyfile = f"/tmp/{c.iface}.key"
        with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(keys.to_base64(c.private_key))
        subprocess.run(["wg", "set", c.iface, "private-key", keyfile, "listen-port", "51823",
                        "peer", keys.to_base64(lab.b.public_key), "endpoint", f"{lab.b.underlay4}:51822",
                        "allowed-ips", "10.98.0.2/32"], check=True, capture_output=True, timeout=30)
    else:
        lab.start_daemon(c)
        lab.backend.set_device(Device(
            name=c.iface, private_key=c.private_key, listen_port=51823, protocol=protocol,
            peers=[Peer(public_key=lab.b.public_key, endpoint=Endpoint(lab.b.underlay4, 51822),
                        allowed_ips=[ipaddress.ip_network("10.98.0.2/32")])]))
    c.run("ip", "addr", "add", "10.98.0.3/24", "dev", c.iface)
    c.run("ip", "link", "set", c.iface, "up")
    prioritise(c.proc.pid)


def udp_rcvbuf_errors(side: Side) -> int:
    """Datagrams the kernel dropped because the daemon's socket buffer was full."""
    lines = [ln for ln in side.run("cat", "/proc/net/snmp").stdout.splitlines() if ln.startswith("Udp:")]
    return int(dict(zip(lines[0].split()[1:], lines[1].split()[1:], strict=True))["RcvbufErrors"])


def drops(lab) -> dict:
    return lab.backend.get_device(lab.b.iface).status.drops


@pytest.mark.parametrize("protocol,newcomer", [
    ("secureswift", "daemon"), ("wireguard", "daemon"), ("wireguard", "wireguard-go"),
])
def test_flood_while_a_tunnel_carries_iperf3_and_a_new_peer_joins(lab, protocol, newcomer):
    if datapath.native is None:
        pytest.skip("sswctl._datapath is not built")
    lab.start_daemon(lab.a)
    lab.start_daemon(lab.b)
    lab.configure_pair(protocol=protocol)
    assert ping(lab.a, lab.b.tun4).returncode == 0
    b = lab.b
    for side in (lab.a, b):
        prioritise(side.proc.pid)  # after configure: the C workers run by now
    b.run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.vb.rp_filter=0")
    b.run("ip", "route", "add", "198.18.0.0/16", "via", lab.a.underlay4)
    b.run("ip", "-6", "route", "add", "2001:db8:77::/48", "via", lab.a.underlay6)
    b.run("ip", "addr", "add", "10.98.0.2/24", "dev", b.iface)
    c = newcomer_side(lab)
    lab.backend.set_device(Device(name=b.iface, peers=[Peer(
        public_key=c.public_key, allowed_ips=[ipaddress.ip_network("10.98.0.3/32")])]))
    msg = initiation(b.public_key, protocol)

    srv = lab.popen(b, "iperf3", "-s", "-1", "-B", b.tun4, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prioritise(srv.pid)
    wait_for(lambda: ":5201" in b.run("ss", "-ltnH", check=False).stdout, 10, "iperf3 server")
    client = lab.popen(lab.a, "iperf3", "-c", b.tun4, "-t", str(FLOOD_SECONDS + 2), "-i", "1", "-J",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    prioritise(client.pid)
    # the newcomer is configured now (starting a daemon on a busy machine takes
    # seconds) but stays silent until the ping below makes it initiate
    start_newcomer(lab, c, protocol, newcomer)
    time.sleep(1)  # iperf3 under way before the flood
    cpu0, t0, rcvbuf0 = cpu_seconds(b.proc.pid), time.monotonic(), udp_rcvbuf_errors(b)
    wait0 = runqueue_wait(b.proc.pid)
    # The flood runs until the newcomer is through (or its JOIN_SECONDS are up), however long a
    # busy machine takes to get there; FLOOD_SECONDS + 120 only bounds a lost flood. The
    # sender runs at nice 19: an attacker's CPU is another machine's, not the server's.
    floods = {family: Flood(dst, 51822, msg, sources=2000, src_base=base, rate=RATE,
                            seconds=FLOOD_SECONDS + 120, netns=lab.a.ns, nice=19)
              for family, dst, base in (("v4", b.underlay4, "198.18.0.1"),
                                        ("v6", b.underlay6, "2001:db8:77::1"))}
    try:
        time.sleep(2)  # the flood is established before the newcomer initiates
        joined = time.monotonic()
        took = None
        while time.monotonic() - joined < JOIN_SECONDS:
            if c.run("ping", "-c", "1", "-W", "1", "10.98.0.2", check=False).returncode == 0:
                took = time.monotonic() - joined
                break
        flooding_still = all(f.running() for f in floods.values())
        # the tunnel's iperf3 keeps going under the flood for its planned time
        while time.monotonic() - t0 < FLOOD_SECONDS and all(f.running() for f in floods.values()):
            time.sleep(0.5)
    finally:
        results = {family: f.stop() for family, f in floods.items()}
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(b.proc.pid) - cpu0
    overflowed = udp_rcvbuf_errors(b) - rcvbuf0
    waited = runqueue_wait(b.proc.pid) - wait0
    out, err = client.communicate(timeout=60)
    srv.wait(timeout=30)
    sent = sum(r["sent"] for r in results.values())
    rate = sent / max(r["elapsed"] for r in results.values())
    d = drops(lab)
    intervals = [i["sum"]["bytes"] for i in json.loads(out)["intervals"]]
    report = (f"{protocol}/{newcomer}: flood {sent} initiations at {rate:.0f}/s, new peer in {took} s "
              f"(initiation {1 + int(took // wire.REKEY_TIMEOUT) if took is not None else '-'}), "
              f"daemon cpu {cpu:.1f} s over {elapsed:.1f} s (its threads waited {waited:.1f} s for a CPU), "
              f"socket overflows {overflowed}, drops {d}, "
              f"iperf3 bytes/s {intervals}")
    print(report)
    assert took is not None, (f"the new peer got no handshake through the flood in {JOIN_ATTEMPTS} "
                              f"initiations ({JOIN_SECONDS:.1f} s): " + report)
    assert flooding_still, "the flood ended before the new peer got through: it proved nothing"
    assert all(r["errors"] == 0 for r in results.values()), results
    # (b) above; (a): iperf3 kept moving data through the flood. TCP may lose a
    # second to a retransmission timeout when a datagram dies in a full socket
    # buffer (the machine is shared), never two in a row.
    assert len(intervals) >= FLOOD_SECONDS, (intervals, report)
    assert all(x or y for x, y in zip(intervals, intervals[1:], strict=False)), report
    # (c) the daemon (Python + two C workers) used less than one core over the flood:
    # cookie replies are C's cheap path and Python sees a bounded handshake queue
    assert cpu <= elapsed, report
    # (d) the flood was answered by cookie replies from C and shed, not queued for Python
    assert d.get("handshake_cookie_sent", 0) > 0 and d.get("handshake_shed_no_mac2", 0) > 0, report
    assert d["handshake_shed_no_mac2"] <= sent
    # How much of the flood reached C depends on this machine (socket buffers and
    # the veth backlog drop what a starved worker does not read), so no share of
    # `sent` is asserted: that Python never carried the flood is (c)'s CPU bound.
    # the tunnel survived
    assert ping(lab.a, b.tun4).returncode == 0


def test_the_rate_limit_takes_an_ipv6_64_as_one_source(lab):
    """Under load, two addresses of one /64 share a token bucket (20/s, burst 5);
    a third in another /64 has its own. Real sockets in a namespace, the C data
    path alone (its TUN stands in as a socketpair)."""
    if datapath.native is None:
        pytest.skip("sswctl._datapath is not built")
    import select
    import socket

    from test_datapath import in_netns

    from sswctl.protocol.cookie import CookieMaker
    from sswctl.protocol.messages import parse_cookie_reply
    from sswctl.protocol.modes import mode_for

    b = lab.b
    addrs = {"same1": "fd00:1::1", "same2": "fd00:1::2", "other": "fd00:1:0:1::1", "load": "fd00:1:0:2::1"}
    for a in addrs.values():
        b.run("ip", "-6", "addr", "add", f"{a}/128", "dev", "lo", "nodad")
    mode, pub = mode_for("wireguard"), keys.public_key(keys.generate_private_key())
    with in_netns(b.ns):
        server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        server.bind(("::", 0))
        socks = {k: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for k in addrs}
    for k, s in socks.items():
        s.bind((addrs[k], 0))
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    dp = datapath.Datapath(mode.type_data, 1420, handshake_queue=512)
    dp.set_sockets(theirs.fileno(), -1, server.fileno())
    dp.set_public_key(pub)
    dp.start()
    dst = ("::1", server.getsockname()[1])
    hs = lambda: dp.stats()["device"]["handshake"]  # noqa: E731

    def message(maker: CookieMaker) -> bytes:
        body = bytearray(os.urandom(mode.initiation_len))
        body[0:4] = mode.type_initiation.to_bytes(4, "little")
        return maker.add_macs(body, time.monotonic())

    try:
        for _ in range(64):  # an eighth of the queue waiting: under load
            socks["load"].sendto(message(CookieMaker(mode, pub)), dst)
        wait_for(lambda: hs()["queued"] == 64, 10, "backlog")
        makers = {}
        for k in ("same1", "same2", "other"):
            makers[k] = CookieMaker(mode, pub)
            socks[k].sendto(message(makers[k]), dst)
            assert select.select([socks[k]], [], [], 5)[0], "no cookie reply"
            makers[k].consume_reply(parse_cookie_reply(socks[k].recv(100), mode), time.monotonic())
        before = hs()
        t0 = time.monotonic()
        for _ in range(20):
            for k in ("same1", "same2", "other"):
                socks[k].sendto(message(makers[k]), dst)
        wait_for(lambda: hs()["received"] - before["received"] == 60, 10, "all 60 seen")
        elapsed = time.monotonic() - t0
        got = {k: 0 for k in addrs}
        for ev in dp.poll_events():
            got[next(k for k, a in addrs.items() if a == ev.addr[0])] += 1
        bound = 5 + 20 * elapsed + 1
        assert got["same1"] + got["same2"] <= bound, (got, elapsed)
        assert got["other"] >= 5, (got, elapsed)  # its own bucket, full
        assert hs()["shed_ratelimit"] - before["shed_ratelimit"] == 60 - got["same1"] - got["same2"] - got["other"]
    finally:
        dp.stop()
        for s in (server, mine, theirs, *socks.values()):
            s.close()


def test_wireguard_go_takes_our_cookie_reply_and_we_take_its_mac2(lab):
    """Byte-exact with WireGuard, without a flood: B's native data path is kept
    under load (its handshake queue holds an eighth), wireguard-go in A
    initiates, gets a cookie reply from C, retries with mac2 on its next
    attempt; C passes that one up, and B's engine answers it: wireguard-go
    reports a completed handshake."""
    if datapath.native is None:
        pytest.skip("sswctl._datapath is not built")
    import socket

    from test_datapath import in_netns
    from test_userspace_wireguard_go import start_wireguard_go

    from sswctl.protocol import Engine, Transmit
    from sswctl.protocol.cookie import CookieMaker
    from sswctl.protocol.modes import mode_for

    a, b = lab.a, lab.b
    engine = Engine(b.private_key, "wireguard", wall_offset=time.time() - time.monotonic())
    engine.add_peer(a.public_key)
    with in_netns(b.ns):
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server.bind((b.underlay4, 51822))
        loader = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        loader.bind(("127.0.0.1", 0))
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    dp = datapath.Datapath(4, 1420, handshake_queue=16)
    dp.set_sockets(theirs.fileno(), server.fileno(), -1)
    dp.set_public_key(b.public_key)
    dp.start()
    hs = lambda: dp.stats()["device"]["handshake"]  # noqa: E731
    try:
        mode = mode_for("wireguard")
        for _ in range(2):  # 2 of 16 waiting: under load while nobody drains them
            body = bytearray(os.urandom(mode.initiation_len))
            body[0:4] = (1).to_bytes(4, "little")
            loader.sendto(CookieMaker(mode, b.public_key).add_macs(body, 0.0), (b.underlay4, 51822))
        wait_for(lambda: hs()["queued"] == 2, 10, "backlog")
        start_wireguard_go(lab, a)
        keyfile = f"/tmp/{a.iface}.key"
        with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(keys.to_base64(a.private_key))
        subprocess.run(["wg", "set", a.iface, "private-key", keyfile, "listen-port", "51821",
                        "peer", keys.to_base64(b.public_key), "endpoint", f"{b.underlay4}:51822",
                        "allowed-ips", "10.99.0.2/32"], check=True, capture_output=True, timeout=30)
        a.run("ip", "addr", "add", "10.99.0.1/24", "dev", a.iface)
        a.run("ip", "link", "set", a.iface, "up")
        a.run("ping", "-c", "1", "-W", "1", "10.99.0.2", check=False)  # wireguard-go initiates
        wait_for(lambda: hs()["cookie_sent"] >= 1, 10, "a cookie reply to wireguard-go")
        assert hs()["queued"] == 2  # its first initiation (no mac2) did not go up
        # wireguard-go retries after REKEY_TIMEOUT (5 s) with mac2 from our cookie
        wait_for(lambda: hs()["queued"] == 3, 20, "wireguard-go's retry with mac2 passed up")
        ev = [e for e in dp.poll_events() if e.addr == (a.underlay4, 51821)]
        assert len(ev) == 1 and ev[0].data[-16:] != bytes(16)
        r = engine.receive(ev[0].data, ev[0].addr, time.monotonic())
        assert r.kind == "initiation"
        for e in r.events:
            if isinstance(e, Transmit):
                server.sendto(e.data, ev[0].addr)
        wait_for(lambda: subprocess.run(["wg", "show", a.iface, "latest-handshakes"], capture_output=True,
                                        text=True).stdout.split("\t")[-1].strip() not in ("", "0"),
                 10, "wireguard-go's handshake completed")
    finally:
        dp.stop()
        for s in (server, loader, mine, theirs):
            s.close()
