"""The flood generator the DoS tests rely on (tests/floodgen.py, tests/tools/hsflood.c)
delivers what it claims: the exact payload, from the number of distinct forged sources
asked for (IPv4: consecutive addresses; IPv6: one /64 each inside a /48), with valid
UDP checksums (a receiving socket gets them), and reports what it sent."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

import pytest
from nslab import sh

from tests.floodgen import flood, initiation

pytestmark = pytest.mark.root

RECEIVER = r"""
import json, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 1 << 24)  # SO_RCVBUFFORCE (root)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
s.settimeout(3)
payload = open(sys.argv[3], "rb").read()
srcs, good, bad = set(), 0, 0
try:
    while True:
        data, src = s.recvfrom(65535)
        srcs.add(src[0])
        if data == payload:
            good += 1
        else:
            bad += 1
except socket.timeout:
    pass
print(json.dumps({"sources": sorted(srcs), "good": good, "bad": bad}))
"""


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_hsflood_sends_the_payload_from_distinct_forged_sources(lab, tmp_path, family):
    from sswctl import keys

    msg = initiation(keys.public_key(keys.generate_private_key()), "secureswift")
    assert len(msg) == 1332 and msg[0] == 0x11
    (tmp_path / "msg").write_bytes(msg)
    v6 = family == "ipv6"
    dst = lab.b.underlay6 if v6 else lab.b.underlay4
    src_base = "2001:db8:77::1" if v6 else "198.18.0.1"
    # B accepts packets from sources it has no route to (no reverse-path filter).
    lab.b.run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.vb.rp_filter=0")
    # Resolve B's link-layer address first: while ARP/ND is pending the kernel
    # queues only a few packets and drops the rest.
    lab.a.run("ping", "-c", "1", "-W", "5", dst)
    rx = subprocess.Popen(["ip", "netns", "exec", lab.b.ns, sys.executable, "-c", RECEIVER,
                           dst, "40000", str(tmp_path / "msg")],
                          stdout=subprocess.PIPE, text=True)
    try:
        assert rx.stdout.readline().strip() == "ready"
        sources, count = 200, 1000
        r = flood(dst, 40000, msg, sources=sources, src_base=src_base, rate=5000, count=count,
                  netns=lab.a.ns)
        out, _ = rx.communicate(timeout=60)
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.wait()
    got = json.loads(out)
    assert r["sent"] + r["errors"] == count and r["errors"] == 0, r
    # Paced at 5,000/s: never faster than the rate promises (elapsed >= count / rate).
    assert r["elapsed"] >= (count - 64) / 5000, r
    assert got["bad"] == 0
    # A veth in one machine drops nothing at this rate (the receive buffer holds it all).
    assert got["good"] == count
    assert len(got["sources"]) == sources
    addrs = [ipaddress.ip_address(a) for a in got["sources"]]
    if v6:
        assert {ipaddress.ip_network(f"{a}/48", strict=False) for a in addrs} == {
            ipaddress.ip_network("2001:db8:77::/48")}
        assert len({ipaddress.ip_network(f"{a}/64", strict=False) for a in addrs}) == sources
    else:
        assert set(addrs) == {ipaddress.ip_address("198.18.0.1") + i for i in range(sources)}


def test_hsflood_refuses_bad_arguments(tmp_path):
    from tests.floodgen import hsflood_path

    cp = sh(hsflood_path(), "--dst", "192.0.2.1", "--port", "0", "--src-base", "198.18.0.1",
            "--sources", "1", "--payload", str(tmp_path / "none"), "--count", "1", check=False)
    assert cp.returncode == 2 and "usage" in cp.stderr
