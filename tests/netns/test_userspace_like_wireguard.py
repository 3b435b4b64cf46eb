"""The userspace backend against WireGuard's own namespace test (netns.sh).

Each test replays one of netns.sh's scenarios (tools/testing/selftests/
wireguard/netns.sh in the kernel tree) with real daemons in two namespaces
joined by veth, and asserts what WireGuard does there:

- a new listen port keeps the session, and the endpoint roams with the next
  authenticated data packet, over IPv4 and IPv6 ("roaming works");
- that data packet moves the endpoint even when its inner source then fails
  the allowed-IPs check ("crypto-RP filter");
- a new private key expires the old sessions at once and handshakes at once
  ("change private keys and immediately handshake");
- padding never takes a packet past the link MTU ("route MTUs work with the
  padding"), and a large tunnel MTU carries TCP and big datagrams;
- the sticky source follows a route change ("another interface route takes
  precedence");
- `show private-key` prints the key clamped;
- a daemon whose TUN device is deleted, or whose namespace is, cleans up and
  exits instead of spinning.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from nslab import PY, _nets, iperf, ping, sh, wait_for

from sswctl import datapath, keys
from sswctl.model import Device, Endpoint, Peer
from sswctl.paths import lock_path

pytestmark = [pytest.mark.root, pytest.mark.netns]

PORT = {1: 51821, 2: 51822}


@pytest.fixture(autouse=True)
def _native_built():
    if datapath.native is None:
        pytest.fail("sswctl._datapath is not built (pip install -e . builds it; needs libssl-dev)")


def sswctl(side, *args: str) -> subprocess.CompletedProcess:
    r = side.run(PY, "-m", "sswctl", *args, check=False)
    assert r.returncode == 0, f"sswctl {' '.join(args)}: rc={r.returncode} {r.stderr}"
    return r


def peer_of(lab, side, other):
    return lab.backend.get_device(side.iface).peer(other.public_key)


def up(lab, *extra: str, protocol: str = "secureswift") -> None:
    lab.start_daemon(lab.a, *extra)
    lab.start_daemon(lab.b, *extra)
    lab.configure_pair(protocol=protocol)
    assert ping(lab.a, lab.b.tun4).returncode == 0


def ping_once(side, target: str, wait: float, size: int | None = None) -> bool:
    args = ["ping", "-c", "1", "-W", str(wait)] + (["-M", "do", "-s", str(size)] if size else [])
    return side.run(*args, target, check=False).returncode == 0


def test_a_new_listen_port_keeps_the_session_and_the_endpoint_roams_v4_then_v6(lab):
    """netns.sh "roaming works", IPv4 then IPv6 at once after it: A moves to a
    new port (and for IPv6 to B's IPv6 address); its next data packet, under
    the session it already has, moves B's endpoint for A. WireGuard keeps its
    sessions over a rebind, so no new handshake is needed or made."""
    up(lab)
    a, b = lab.a, lab.b
    shaken = peer_of(lab, b, a).status.last_handshake
    assert shaken
    sswctl(a, "set", a.iface, "listen-port", "9999")
    assert ping_once(a, b.tun6, wait=3)
    assert peer_of(lab, b, a).endpoint == Endpoint(a.underlay4, 9999)
    sswctl(a, "set", a.iface, "listen-port", "9998",
           "peer", keys.to_base64(b.public_key), "endpoint", f"[{b.underlay6}]:{PORT[2]}")
    assert ping_once(a, b.tun4, wait=3)
    assert peer_of(lab, b, a).endpoint == Endpoint(a.underlay6, 9998)
    assert peer_of(lab, b, a).status.last_handshake == shaken, "the session did not survive the new port"
    assert peer_of(lab, a, b).endpoint == Endpoint(b.underlay6, PORT[2])


def test_data_moves_the_endpoint_before_the_allowed_ips_check(lab):
    """netns.sh "crypto-RP filter": B's inner source now belongs to another
    peer on A (a more specific allowed IP), so A drops B's packets, but each
    is authentic and still moves A's endpoint for B to B's new port."""
    up(lab)
    a, b = lab.a, lab.b
    shaken = peer_of(lab, a, b).status.last_handshake
    sswctl(a, "set", a.iface, "peer", keys.to_base64(b.public_key), "allowed-ips", "10.99.0.0/24")
    other = keys.public_key(keys.generate_private_key())
    sswctl(a, "set", a.iface, "peer", keys.to_base64(other), "allowed-ips", f"{b.tun4}/32")
    sswctl(b, "set", b.iface, "listen-port", "9997")
    dropped = peer_of(lab, a, b).status.drops.get("allowed_ips", 0)
    assert not ping_once(b, a.tun4, wait=2)  # A drops it: the source is not B's
    st = peer_of(lab, a, b)
    assert st.status.drops.get("allowed_ips", 0) > dropped
    assert st.endpoint == Endpoint(b.underlay4, 9997)
    assert st.status.last_handshake == shaken  # moved by the data packet itself
    sswctl(a, "set", a.iface, "peer", keys.to_base64(other), "remove")
    assert ping_once(b, a.tun4, wait=3)


def _rekey(lab, old_private: bytes, new_private: bytes) -> None:
    """A takes ``new_private``, B swaps A's old public key for the new one:
    straight over the UAPI sockets from this process, milliseconds apart."""
    a, b = lab.a, lab.b
    lab.backend.set_device(Device(name=a.iface, private_key=new_private))
    lab.backend.set_device(Device(name=b.iface, peers=[
        Peer(public_key=keys.public_key(new_private), allowed_ips=_nets(f"{a.tun4}/32")),
        Peer(public_key=keys.public_key(old_private), remove=True)]))


def test_a_new_private_key_expires_the_sessions_and_handshakes_at_once(lab):
    """netns.sh "change private keys and immediately handshake". A takes a new
    key: its old session is dead at once (B's datagram under it is not
    decrypted, A counts an unknown index). Then, right after a handshake
    (well within REKEY_TIMEOUT, which rate-limits initiations), A takes yet
    another key and B learns it: A's first packet must handshake at once,
    not REKEY_TIMEOUT later (nothing would send it again then)."""
    up(lab)
    a, b = lab.a, lab.b
    k2, k3 = keys.generate_private_key(), keys.generate_private_key()
    lab.backend.set_device(Device(name=a.iface, private_key=k2))
    unknown = lab.backend.get_device(a.iface).status.drops.get("unknown_index", 0)
    b.run(PY, "-c", f"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'X', ('{a.tun4}', 9))")
    wait_for(lambda: lab.backend.get_device(a.iface).status.drops.get("unknown_index", 0) > unknown, 10,
             "A to refuse B's datagram under A's old session")
    _rekey(lab, a.private_key, k2)
    assert ping(a, b.tun4).returncode == 0  # a handshake A initiates, under k2
    shaken = time.time()
    _rekey(lab, k2, k3)
    t0 = time.monotonic()
    assert time.time() - shaken < 4, "the premise: A's last initiation is within REKEY_TIMEOUT"
    assert ping_once(a, b.tun4, wait=4), "no handshake at once under the new key"
    assert time.monotonic() - t0 < 5
    assert lab.backend.get_device(b.iface).peer(keys.public_key(k3)).status.last_handshake


@pytest.mark.parametrize("size", [1297, 1300])
def test_padding_never_takes_a_packet_past_the_link_mtu(lab, size):
    """netns.sh "route MTUs work with the padding", for a userspace device's
    link MTU: both tunnels at 1300 (set with ip link while the daemons run),
    and B drops every outer IPv4 packet longer than 1300 + 60, so only
    packets padded to at most the link MTU cross."""
    up(lab)
    a, b = lab.a, lab.b
    b.run("nft", "add", "table", "inet", "sswmtu")
    b.run("nft", "add", "chain", "inet", "sswmtu", "input", "{ type filter hook input priority 0 ; }")
    b.run("nft", "add", "rule", "inet", "sswmtu", "input", "udp", "dport", str(PORT[2]), "ip", "length", "> 1360",
          "drop")
    # The path limit is real: at MTU 1420 a 1400-byte packet does not get through.
    assert not ping_once(a, b.tun4, wait=2, size=1400 - 28)
    for side in (a, b):
        side.run("ip", "link", "set", side.iface, "mtu", "1300")
    r = a.run("ping", "-c", "3", "-i", "0.2", "-W", "2", "-M", "do", "-s", str(size - 28), b.tun4, check=False)
    assert r.returncode == 0, r.stdout


@pytest.mark.parametrize("underlay", [4, 6], ids=["ipv4", "ipv6"])
def test_a_large_tunnel_mtu_carries_tcp_and_big_datagrams(lab, underlay):
    """netns.sh runs its tests again at a tunnel MTU of 34816 - 1500 + 1420:
    every datagram is then larger than the veth's 1500 bytes and crosses as IP
    fragments (with the daemons' TUN offloads on, as by default)."""
    lab.start_daemon(lab.a)
    lab.start_daemon(lab.b)
    lab.configure_pair(v6_underlay=underlay == 6)
    a, b = lab.a, lab.b
    assert ping(a, b.tun4).returncode == 0
    big = 34816 - 1500 + 1420
    for side in (a, b):
        side.run("ip", "link", "set", side.iface, "mtu", str(big))
    assert ping_once(a, b.tun4, wait=3, size=big - 28)
    assert ping_once(b, a.tun6, wait=3, size=30000)
    assert iperf(lab, a, b, seconds=2) > 1e6
    assert iperf(lab, a, b, seconds=2, reverse=True, addr=b.tun6) > 1e6


def test_the_sticky_source_follows_a_route_change(lab):
    """netns.sh "another interface route takes precedence": A reaches B over
    va (source .1); then a preferred route (metric 1) over a second link va3
    with source .3 appears. WireGuard drops a sticky source once routing leaves
    by another interface than the one it was learned on: A's next packets
    leave from .3 and B's endpoint for A moves there."""
    a, b = lab.a, lab.b
    sh("ip", "link", "add", "va3", "netns", a.ns, "type", "veth", "peer", "name", "vb4", "netns", b.ns)
    a.run("ip", "addr", "add", "192.168.77.3/24", "dev", "va3")
    a.run("ip", "link", "set", "va3", "up")
    b.run("ip", "link", "set", "vb4", "up")
    for side in (a, b):
        for conf in ("all", "default"):
            side.run("sysctl", "-qw", f"net.ipv4.conf.{conf}.rp_filter=0")
    for dev in ("va3", "va"):
        a.run("sysctl", "-qw", f"net.ipv4.conf.{dev}.rp_filter=0")
    b.run("sysctl", "-qw", "net.ipv4.conf.vb4.rp_filter=0")
    a.run("ip", "route", "flush", "dev", "va")
    a.run("ip", "route", "flush", "dev", "va3")
    a.run("ip", "route", "add", "192.168.77.0/24", "dev", "va", "src", a.underlay4, "metric", "2")
    up(lab)
    assert peer_of(lab, b, a).endpoint == Endpoint(a.underlay4, PORT[1])
    a.run("ip", "route", "add", "192.168.77.0/24", "dev", "va3", "src", "192.168.77.3", "metric", "1")
    route = json.loads(a.run("ip", "-j", "-4", "route", "get", b.underlay4).stdout)[0]
    assert route["dev"] == "va3" and route["prefsrc"] == "192.168.77.3", route  # the premise

    def moved():
        a.run("ping", "-c", "1", "-W", "1", b.tun4, check=False)
        return peer_of(lab, b, a).endpoint == Endpoint("192.168.77.3", PORT[1])

    wait_for(moved, 15, "B's endpoint for A to move to A's new source 192.168.77.3")
    assert ping(b, a.tun4).returncode == 0


@pytest.mark.parametrize("protocol", ["secureswift", "wireguard"])
def test_show_private_key_prints_it_clamped(lab, tmp_path, protocol):
    """netns.sh: `wg set wg0 private-key <(echo "/${key1:1}")` then `wg show wg0
    private-key` is "+${key1:1}": the kernel stores the key clamped."""
    a = lab.a
    lab.start_daemon(a, "--protocol", protocol)
    good = keys.generate_private_key()
    text = "/" + keys.to_base64(good)[1:]  # the low bit of byte 0 set: not clamped
    raw = keys.from_base64(text)
    assert keys.clamp(raw) != raw
    key_file = tmp_path / "key"
    key_file.write_text(text + "\n")
    os.chmod(key_file, 0o600)
    sswctl(a, "set", a.iface, "private-key", str(key_file))
    want = "+" + keys.to_base64(good)[1:]
    assert want == keys.to_base64(keys.clamp(raw))
    assert sswctl(a, "show", a.iface, "private-key").stdout.strip() == want
    dev = lab.backend.get_device(a.iface)
    assert dev.private_key == keys.clamp(raw)
    assert dev.public_key == keys.public_key(raw)


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _exits_cleanly_after(lab, side, remove) -> None:
    """``remove()`` takes the TUN device away; the daemon must log it, remove
    its socket and lock, and exit 0 without burning CPU meanwhile."""
    proc = side.proc
    cpu0 = _cpu_seconds(proc.pid)
    t0 = time.monotonic()
    remove()
    deadline = t0 + 30
    cpu = cpu0
    while proc.poll() is None and time.monotonic() < deadline:
        cpu = _cpu_seconds(proc.pid) if os.path.exists(f"/proc/{proc.pid}/stat") else cpu
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    assert proc.poll() is not None, f"the daemon still runs {elapsed:.0f} s after its TUN device went away"
    assert proc.returncode == 0
    # Until it exited it did not spin: a spinning daemon uses ~1 CPU second per second.
    assert cpu - cpu0 < 0.5 * elapsed + 0.5, (cpu - cpu0, elapsed)
    log = open(f"/tmp/{side.iface}.daemon.log").read()
    assert "TUN device is gone" in log, log[-2000:]
    assert not os.path.exists(side.socket())
    assert not os.path.exists(lock_path(side.iface, netns=side.netns))
    r = side.run(PY, "-m", "sswctl", "show", "interfaces", check=False)
    assert side.iface not in r.stdout


def test_the_daemon_exits_when_its_tun_device_is_deleted(lab):
    up(lab)
    a = lab.a
    _exits_cleanly_after(lab, a, lambda: a.run("ip", "link", "del", a.iface))


def test_the_daemon_exits_when_the_namespace_holding_its_tun_is_deleted(lab):
    up(lab)
    a = lab.a
    holder = a.ns + "c"
    sh("ip", "netns", "add", holder)
    try:
        a.run("ip", "link", "set", a.iface, "netns", holder)
        time.sleep(1)
        assert a.proc.poll() is None  # moved, not gone: the device still works
        _exits_cleanly_after(lab, a, lambda: sh("ip", "netns", "del", holder))
    finally:
        sh("ip", "netns", "del", holder, check=False)
