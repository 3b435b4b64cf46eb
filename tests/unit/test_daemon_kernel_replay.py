"""Kernel backend: sessions outlive the daemon, so the replay timestamp must too.
A daemon restarted on the same state file refuses an initiation recorded
before the restart (it would otherwise move the peer's endpoint in the module).
The module is replaced by a recorder of the daemon's calls, as in
test_daemon_kernel_endpoint.py; the state file is real."""

from __future__ import annotations

import os
import time

from sswctl import keys
from sswctl.daemon.kernel import KernelDaemon
from sswctl.daemon.stamps import TimestampFile
from sswctl.model import Device, Endpoint, Peer
from sswctl.protocol import Engine, Transmit

from .test_daemon_kernel_endpoint import KernelRecorder, upcall

A_ADDR, ATTACKER = Endpoint("192.0.2.1", 51820), Endpoint("198.51.100.66", 4000)


def start(tmp_path, device: Device) -> KernelDaemon:
    """What KernelDaemon.start does once it holds the lock, without a real link."""
    d = KernelDaemon("t0", sock_dir=str(tmp_path), genl=KernelRecorder())
    d.ifindex = 7
    d.stamps = TimestampFile(d.sock_dir, d.name)
    d._apply(device)
    return d


def test_recorded_initiation_is_refused_after_a_daemon_restart(tmp_path):
    ka, kb = keys.clamp(os.urandom(32)), keys.clamp(os.urandom(32))
    peer = Engine(kb, "secureswift", wall_clock=time.time)
    device = Device(name="t0", private_key=ka, protocol="secureswift", cipher="chacha20-poly1305",
                    peers=[Peer(public_key=keys.public_key(kb), endpoint=A_ADDR)])
    peer.add_peer(keys.public_key(ka))
    d = start(tmp_path, device)
    recorded = next(e for e in peer.initiate(keys.public_key(ka), 1.0) if isinstance(e, Transmit)).data
    d._upcall(upcall(recorded, A_ADDR), time.monotonic())
    assert [c[0] for c in d.kb.calls] == ["install", "xmit"]
    d.close()

    d = start(tmp_path, device)
    d._upcall(upcall(recorded, ATTACKER), time.monotonic())
    assert d.kb.calls == []  # no keypair installed, so the endpoint did not move
    assert d.errors["replay"] == 1
    d.close()
