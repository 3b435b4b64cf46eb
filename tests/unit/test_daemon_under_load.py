"""The Python data plane's "under load" (sswctl/daemon/core.py, issue 13): only
handshake messages whose mac1 verified count toward the 200/s threshold, so a
flood of forged ones cannot push real peers into the cookie round trip. The
native plane decides in C (tests/unit/test_datapath_cookie.py) and leaves the
engine's under_load off."""

from __future__ import annotations

import time

from sswctl import keys
from sswctl.daemon.core import Daemon
from sswctl.daemon.driver import UNDER_LOAD_HANDSHAKES
from sswctl.protocol import Engine
from tests.floodgen import initiation


def python_plane_daemon() -> Daemon:
    d = Daemon("ssw-ul0", native=False)
    d.engine = Engine(keys.generate_private_key(), "wireguard", wall_offset=time.time() - time.monotonic())
    return d


def test_forged_mac1_does_not_count_toward_under_load():
    d = python_plane_daemon()
    forged = bytearray(initiation(d.engine.public_key, "wireguard"))
    forged[-20] ^= 1
    now = time.monotonic()
    for i in range(3 * UNDER_LOAD_HANDSHAKES):
        d._inbound(bytes(forged), ("192.0.2.1", 1000 + i), now)
    assert d.drops["mac"] == 3 * UNDER_LOAD_HANDSHAKES
    assert d.engine.under_load is False


def test_mac1_valid_messages_put_the_engine_under_load():
    d = python_plane_daemon()
    msg = initiation(d.engine.public_key, "wireguard")  # a stranger: mac1 verifies, the peer is unknown
    now = time.monotonic()
    for i in range(UNDER_LOAD_HANDSHAKES):
        d._inbound(msg, ("192.0.2.1", 1000 + i), now)
    assert d.engine.under_load is False
    d._inbound(msg, ("192.0.2.1", 999), now)
    assert d.engine.under_load is True
    assert d.drops["unknown_peer"] == UNDER_LOAD_HANDSHAKES + 1
