"""A server's daemon restarted with many peers takes every client back.

B's daemon holds 1,000 peers; 1,000 real clients in A (tests/netns/hsclients.py:
the protocol engine, a UDP port each, retrying as WireGuard does) handshake
with it, the daemon is stopped, started and given the same configuration,
and all of them handshake again at once. Every one must get through: the
restarted daemon keeps the clients' last timestamps (so a replay of their
old initiations is refused, not a fresh one), and a thousand initiations at
once put it under load (cookie replies, then the clients' mac2 retries).
bench/restart.py measures the same at 10,000 peers.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sswctl import keys
from sswctl.model import Device, Peer

pytestmark = [pytest.mark.root, pytest.mark.netns]

CLIENTS = 1000
PORT = 51824
HSCLIENTS = Path(__file__).with_name("hsclients.py")
DEADLINE = 300.0  # a bound on a hang, not a speed: each retry period is 5 s


def _clients(lab, spec: Path) -> dict:
    cp = subprocess.run(["ip", "netns", "exec", lab.a.ns, sys.executable, str(HSCLIENTS), str(spec)],
                        capture_output=True, text=True, timeout=DEADLINE + 120)
    assert cp.returncode == 0, cp.stderr[-3000:]
    return json.loads(cp.stdout)


def test_every_client_is_back_after_a_restart_with_a_thousand_peers(lab, tmp_path):
    b = lab.b
    privs = [keys.generate_private_key() for _ in range(CLIENTS)]
    conf = Device(name=b.iface, private_key=b.private_key, listen_port=PORT, replace_peers=True,
                  peers=[Peer(public_key=keys.public_key(k),
                              allowed_ips=[ipaddress.ip_network(f"10.200.{i >> 8}.{i & 255}/32")])
                         for i, k in enumerate(privs)])

    def serve() -> None:
        lab.start_daemon(b, "--log-level", "info")
        lab.backend.set_device(conf)
        b.run("ip", "link", "set", b.iface, "up")

    serve()
    spec = tmp_path / "clients.json"
    with open(os.open(spec, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        json.dump({"server": b.public_key.hex(), "dst": [b.underlay4, PORT], "src": lab.a.underlay4,
                   "protocol": "secureswift", "keys": [keys.to_base64(k) for k in privs],
                   "deadline": DEADLINE}, f)
    first = _clients(lab, spec)
    assert first["done"] == CLIENTS, first
    assert lab.stop_daemon(b) == 0
    serve()
    again = _clients(lab, spec)
    assert again["done"] == CLIENTS, again
    seen = lab.backend.get_device(b.iface)
    assert sum(1 for p in seen.peers if p.status.last_handshake) == CLIENTS
    assert "Traceback" not in Path(f"/tmp/{b.iface}.daemon.log").read_text()
