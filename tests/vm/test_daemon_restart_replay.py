"""Kernel backend: sessions outlive the daemon, so the greatest initiation
timestamp per peer must too. A real `sswctl daemon` accepts A's initiation;
the daemon is stopped (SIGTERM) or killed (SIGKILL) and started again with
the module's sessions intact; the recorded initiation, replayed from a third
address, passes the module's mac1 check and reaches the new daemon, which
refuses it from its state file: no answer, and the module's endpoint for the
peer stays where the authenticated handshake put it.
(Without the state file the restarted daemon accepted it once and moved the
endpoint to the replayer.)"""

from __future__ import annotations

import time

import pytest
from test_daemon import Daemon
from test_endpoint import A_PORT, B_ADDR, B_PORT, ROAMED, STRANGER, Roam, _nothing_arrives, _only, _wait_endpoint

from sswctl.model import Endpoint
from sswctl.protocol import KeypairCreated, Transmit


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_recorded_initiation_is_refused_after_the_daemon_restarts(netns, tmp_path, how):
    r = Roam(netns, tmp_path)
    try:
        roamed, stranger = r.sock(ROAMED), r.sock(STRANGER)
        init = _only(r.a.initiate(r.b_pub, time.monotonic()), Transmit).data
        roamed.sendto(init, (B_ADDR, B_PORT))
        resp, src = roamed.recvfrom(4096)
        _only(r.a.receive(resp, src, time.monotonic()).events, KeypairCreated)
        assert r.endpoint() == Endpoint(ROAMED, A_PORT)

        r.daemon.stop() if how == "stop" else r.daemon.kill()
        r.daemon = Daemon(r.ns[1], r.dev, tmp_path, "--backend", "kernel")
        stranger.sendto(init, (B_ADDR, B_PORT))
        assert _nothing_arrives(stranger, 3), "the restarted daemon answered a recorded initiation"
        assert _wait_endpoint(r, Endpoint(STRANGER, A_PORT), timeout=2) == Endpoint(ROAMED, A_PORT)
        assert r.daemon.poll() is None, r.daemon.output()
    finally:
        r.close()
