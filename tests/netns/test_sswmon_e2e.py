"""sswmon against two real userspace daemons passing traffic between namespaces.

``sswmon --once --json`` and the Prometheus endpoint (a real ``sswmon
--prometheus`` process, scraped over loopback) must report exactly the
handshake time and byte counters that ``sswctl show IFACE dump`` reports.
Uses the namespace lab of the userspace-backend tests (nslab.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
from nslab import PY, WAIT, inside, ping

from sswctl import keys
from sswctl.model import Device, Peer

pytestmark = [pytest.mark.root, pytest.mark.netns]

METRIC = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$", re.M)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(inside(PY, *args), capture_output=True, text=True, timeout=60)


def dump(iface: str) -> dict[str, tuple[int, int, int]]:
    """public key -> (latest handshake, rx, tx) from ``sswctl show IFACE dump``."""
    r = run("-m", "sswctl", "show", iface, "dump")
    assert r.returncode == 0, r.stderr
    peers = {}
    for line in r.stdout.splitlines()[1:]:
        f = line.split("\t")
        peers[f[0]] = (int(f[4]), int(f[5]), int(f[6]))
    return peers


def quiet_read(iface: str, read):
    """(dump, ``read()``) with the counters the same in a dump before and after the read:
    nothing (a keepalive, say) moved them meanwhile, however long the read took."""
    deadline = time.monotonic() + WAIT
    while True:
        before = dump(iface)
        got = read()
        if dump(iface) == before:
            return before, got
        assert time.monotonic() < deadline, f"{iface}: counters never settled"


def up_with_traffic(lab) -> None:
    lab.start_daemon(lab.a)
    lab.start_daemon(lab.b)
    lab.configure_pair()
    lab.backend.set_device(Device(name=lab.a.iface, peers=[Peer(lab.b.public_key, name="bee", update_only=True)]))
    assert ping(lab.a, lab.b.tun4, count=5).returncode == 0
    assert ping(lab.b, lab.a.tun4, count=5).returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_once_json_matches_sswctl_dump(lab):
    up_at = time.time()
    up_with_traffic(lab)
    for side, other in ((lab.a, lab.b), (lab.b, lab.a)):
        t0 = time.time()
        expected, r = quiet_read(side.iface, lambda side=side: run("-m", "sswmon", "--once", "--json", side.iface))
        t1 = time.time()
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        (iface,) = doc["interfaces"]
        assert iface["name"] == side.iface and iface["backend"] == "userspace"
        assert iface["public_key"] == keys.to_base64(side.public_key)
        assert iface["listen_port"] == 51820 + side.index
        (peer,) = iface["peers"]
        pub = keys.to_base64(other.public_key)
        hs, rx, tx = expected[pub]
        assert peer["public_key"] == pub
        assert (peer["latest_handshake"], peer["rx_bytes"], peer["tx_bytes"]) == (hs, rx, tx)
        assert hs > 0 and rx > 0 and tx > 0
        # The handshake happened after up_at; the document was made during the read (whole seconds).
        assert 0 <= peer["handshake_age"] <= t1 - up_at + 1
        assert peer["handshake_state"] == ("fresh" if peer["handshake_age"] < 180 else "stale")
        assert t0 - 1 <= doc["time"] <= t1 + 1
        assert peer["endpoint"] == f"{other.underlay4}:{51820 + other.index}"
    assert peer["name"] is None  # b's peer has no name; a's is "bee"
    a_doc = json.loads(run("-m", "sswmon", "--once", "--json", lab.a.iface).stdout)
    assert a_doc["interfaces"][0]["peers"][0]["name"] == "bee"

    # `all` is every interface of the namespace sswmon runs in, and no other's.
    every = json.loads(lab.b.run(PY, "-m", "sswmon", "--once", "--json", "all").stdout)
    assert lab.b.iface in {i["name"] for i in every["interfaces"]}
    assert lab.a.iface not in {i["name"] for i in every["interfaces"]}


def test_prometheus_endpoint_serves_the_same_figures(lab):
    up_with_traffic(lab)
    port = free_port()
    # In the interface's namespace (`ip netns exec` execs: the pid is sswmon's), scraped there.
    proc = subprocess.Popen(
        inside(PY, "-m", "sswmon", "--prometheus", f"127.0.0.1:{port}", lab.a.iface),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        get = ("import sys, urllib.request; "
               "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode())")
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + WAIT
        while lab.a.run(PY, "-c", get, url, "5", check=False).returncode != 0:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "metrics endpoint did not come up"
            time.sleep(0.2)

        def scrape() -> str:
            return lab.a.run(PY, "-c", get, url, str(WAIT), timeout=WAIT + 10).stdout

        expected, text = quiet_read(lab.a.iface, scrape)
        samples = {(m[0], m[1]): float(m[2]) for m in METRIC.findall(text)}
        pub = keys.to_base64(lab.b.public_key)
        hs, rx, tx = expected[pub]
        labels = (
            f'interface="{lab.a.iface}",public_key="{pub}",'
            f'allowed_ips="{lab.b.tun4}/32,{lab.b.tun6}/128",friendly_name="bee"'
        )
        assert samples[("wireguard_received_bytes_total", labels)] == rx > 0
        assert samples[("wireguard_sent_bytes_total", labels)] == tx > 0
        assert samples[("wireguard_latest_handshake_seconds", labels)] == hs > 0
        assert samples[("secureswift_interface_up", f'interface="{lab.a.iface}"')] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_missing_interface_and_access_denied_exit_1_with_a_clear_message(lab):
    lab.start_daemon(lab.a)
    r = run("-m", "sswmon", "--once", "nosuch0")
    assert r.returncode == 1
    assert (
        r.stderr.strip() == "sswmon: nosuch0: no such SecureSwift interface (is its daemon running? "
        "try `sswctl show interfaces`)"
    )
    # An unprivileged user cannot read the daemon's socket directory (mode 0700).
    r = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PY, "-m", "sswmon", "--once", lab.a.iface],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": "/tmp"},
    )
    assert r.returncode == 1, r.stderr
    assert "permission denied" in r.stderr and r.stderr.startswith("sswmon: ")
