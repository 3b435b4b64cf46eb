"""Sticky source address: replies leave from the address the peer wrote to.

B is multi-homed: its veth carries B1 (192.168.77.2 / fd77::2, the address
routing picks towards A) and B2 (192.168.77.3 / fd77::3, a secondary and a
deprecated address, never picked as a source). A's peer endpoint is B2 and
A's firewall (nft, in A's namespace) drops all UDP from B1. B has no
endpoint for A (a server). So the tunnel works only if B's handshake
response and its data leave from B2, where A wrote to: B must carry the
local address with the peer's endpoint and send from it (IP_PKTINFO /
IPV6_PKTINFO), as WireGuard does. Then B2 is removed from B while the
tunnel is up: B's sends from it are refused, B forgets it and sends from B1;
once A's drop rule is lifted, traffic resumes and A's endpoint roams to B1.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from nslab import PY, WAIT, Lab, _nets, iperf, ping, wait_for

from sswctl.model import Device, Endpoint, Peer

pytestmark = [pytest.mark.root, pytest.mark.netns]

PORT_A, PORT_B = 51821, 51822
PROBE_PORT = 40000
TABLE = "sswsticky"

# family -> (B1, B2, prefix length)
ADDRS = {4: ("192.168.77.2", "192.168.77.3", 24), 6: ("fd77::2", "fd77::3", 64)}

# Says "ready" once bound; then prints the source of the first datagram, or
# nothing when its stdin closes (or the time limit passes) before one came.
LISTEN = """
import select, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
r, _, _ = select.select([s, sys.stdin], [], [], float(sys.argv[3]))
print(s.recvfrom(64)[1][0] if s in r else "")
"""

SEND = """
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
if sys.argv[3]:
    s.bind((sys.argv[3], 0))
s.sendto(b"probe", (sys.argv[1], int(sys.argv[2])))
"""


def multihome(lab: Lab, family: int) -> tuple[str, str, str]:
    """B2 on B's veth, A's drop rule for B1; returns (A's address, B1, B2)."""
    b1, b2, plen = ADDRS[family]
    a_addr = lab.a.underlay4 if family == 4 else lab.a.underlay6
    if family == 4:
        lab.b.run("ip", "addr", "add", f"{b2}/{plen}", "dev", "vb")
    else:
        lab.b.run("ip", "-6", "addr", "add", f"{b2}/{plen}", "dev", "vb", "nodad", "preferred_lft", "0")
    ip = "ip" if family == 4 else "ip6"
    lab.a.run("nft", "add", "table", "inet", TABLE)
    lab.a.run("nft", "add", "chain", "inet", TABLE, "input", "{ type filter hook input priority 0 ; }")
    lab.a.run("nft", "add", "rule", "inet", TABLE, "input", ip, "saddr", b1, "meta", "l4proto", "udp",
              "counter", "drop")
    # The premise: towards A, routing picks B1 (which A drops), not B2.
    route = json.loads(lab.b.run("ip", "-j", f"-{family}", "route", "get", a_addr).stdout)[0]
    assert route["prefsrc"] == b1, route
    return a_addr, b1, b2


def firewall_drops(lab: Lab) -> int:
    """Packets A's drop rule has dropped so far."""
    chain = json.loads(lab.a.run("nft", "-j", "list", "chain", "inet", TABLE, "input").stdout)["nftables"]
    return sum(e["counter"]["packets"] for item in chain if "rule" in item
               for e in item["rule"]["expr"] if "counter" in e)


def probe(lab: Lab, a_addr: str, source: str, *, dropped: bool = False) -> list[str]:
    """Sources of the datagrams A's probe listener got from B (bound to ``source``, '' = unbound).
    The listener is bound before B sends. It waits for the datagram; with ``dropped`` it
    stops once A's firewall has counted the probe (nothing can come after that)."""
    listener = lab.popen(lab.a, PY, "-c", LISTEN, a_addr, str(PROBE_PORT), str(WAIT),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert listener.stdout.readline() == "ready\n"
    before = firewall_drops(lab)
    lab.b.run(PY, "-c", SEND, a_addr, str(PROBE_PORT), source)
    if dropped:
        wait_for(lambda: firewall_drops(lab) > before, WAIT, "A's firewall to drop the probe")
        listener.stdin.close()
    out = listener.stdout.read()
    listener.wait(timeout=WAIT)
    if not listener.stdin.closed:
        listener.stdin.close()
    return out.split()


def configure(lab: Lab, b2: str) -> None:
    """A -> B's endpoint is B2; B has no endpoint for A (it learns it)."""
    for me, other, port, endpoint in ((lab.a, lab.b, PORT_A, Endpoint(b2, PORT_B)),
                                      (lab.b, lab.a, PORT_B, None)):
        lab.backend.set_device(Device(
            name=me.iface, private_key=me.private_key, listen_port=port, replace_peers=True,
            peers=[Peer(public_key=other.public_key, endpoint=endpoint,
                        allowed_ips=_nets(f"{other.tun4}/32", f"{other.tun6}/128"))],
        ))
        me.run("ip", "addr", "add", f"{me.tun4}/24", "dev", me.iface)
        me.run("ip", "-6", "addr", "add", f"{me.tun6}/64", "dev", me.iface, "nodad")


def endpoint_of_b(lab: Lab) -> Endpoint | None:
    return lab.backend.get_device(lab.a.iface).peer(lab.b.public_key).endpoint


def dump_endpoint_of_b(lab: Lab) -> str:
    """The endpoint column of ``sswctl show IFACE dump`` (wg's format) for B."""
    r = lab.a.run(PY, "-m", "sswctl", "show", lab.a.iface, "dump")
    for line in r.stdout.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) > 2:
            return fields[2]
    raise AssertionError(r.stdout)


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_replies_leave_from_the_address_the_peer_wrote_to(lab, family):
    a_addr, b1, b2 = multihome(lab, family)
    # The firewall really drops what routing sends from B, and passes B2's.
    assert probe(lab, a_addr, "", dropped=True) == []
    assert probe(lab, a_addr, b2) == [b2]

    lab.start_daemon(lab.a)
    lab.start_daemon(lab.b)
    configure(lab, b2)
    # A initiates; B's response, and all its data after it, must leave from B2.
    assert ping(lab.a, lab.b.tun4).returncode == 0
    assert ping(lab.b, lab.a.tun6).returncode == 0
    assert iperf(lab, lab.a, lab.b, nbytes=1 << 20) > 0
    assert iperf(lab, lab.a, lab.b, nbytes=1 << 20, reverse=True) > 0
    assert endpoint_of_b(lab) == Endpoint(b2, PORT_B)
    bracket = f"[{b2}]" if family == 6 else b2
    assert dump_endpoint_of_b(lab) == f"{bracket}:{PORT_B}"

    # B2 disappears while the tunnel is up: B's sends from it are refused, so
    # B forgets it and sends from B1 (still dropped by A, until lifted).
    lab.b.run("ip", f"-{family}", "addr", "del", f"{b2}/{ADDRS[family][2]}", "dev", "vb")
    lab.a.run("nft", "delete", "table", "inet", TABLE)
    assert ping(lab.b, lab.a.tun4).returncode == 0
    wait_for(lambda: endpoint_of_b(lab) == Endpoint(b1, PORT_B), WAIT, "A's endpoint to roam to B1")
    assert ping(lab.a, lab.b.tun6).returncode == 0
    assert iperf(lab, lab.a, lab.b, nbytes=1 << 20) > 0
    dev = lab.backend.get_device(lab.b.iface)  # the refused source cost no packet
    assert dev.status.drops.get("send_error", 0) == 0
    assert dev.peer(lab.a.public_key).status.drops.get("send_error", 0) == 0


def test_a_handshake_retransmit_clears_the_source(lab):
    """WireGuard clears the source on every handshake retransmit, in case it
    is the trouble. Here it is: A starts dropping UDP from B2 (and lets B1
    through). B's data gets no answer, so after KEEPALIVE_TIMEOUT +
    REKEY_TIMEOUT B initiates, from B2 (dropped); the retransmit REKEY_TIMEOUT
    later leaves from B1, gets through, and A's endpoint roams to B1. Kept
    sticky, every retransmit would leave from B2 and be dropped."""
    _a_addr, b1, b2 = multihome(lab, 4)
    lab.start_daemon(lab.a)
    lab.start_daemon(lab.b)
    configure(lab, b2)
    assert ping(lab.a, lab.b.tun4).returncode == 0
    assert endpoint_of_b(lab) == Endpoint(b2, PORT_B)
    lab.a.run("nft", "flush", "chain", "inet", TABLE, "input")
    lab.a.run("nft", "add", "rule", "inet", TABLE, "input", "ip", "saddr", b2, "meta", "l4proto", "udp", "drop")
    # B sends into the void (a ping every second) until its handshake gets through.
    pinger = lab.popen(lab.b, "ping", "-4", "-i", "1", "-W", "1", lab.a.tun4,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: endpoint_of_b(lab) == Endpoint(b1, PORT_B), 60, "a retransmit from B1")
    finally:
        pinger.terminate()
        pinger.wait(timeout=10)
    assert ping(lab.b, lab.a.tun4).returncode == 0
    assert ping(lab.a, lab.b.tun4).returncode == 0
