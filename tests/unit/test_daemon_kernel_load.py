"""The kernel backend's daemon leaves "under load" to the module (issue 13): the module
answers floods with cookie replies itself and hands up only what passed, so the daemon's
engine must process what it is handed, however many handshake messages came before,
and never answer a peer's initiation with a cookie reply of its own."""

from __future__ import annotations

import os

import pytest

from sswctl import keys
from sswctl.daemon.kernel import KernelDaemon
from sswctl.model import Endpoint
from sswctl.protocol import Engine
from sswctl.protocol.modes import mode_for
from tests.floodgen import initiation
from tests.unit.test_daemon_kernel_endpoint import A_ADDR, B_ADDR, WALL, KernelRecorder, first_transmit, upcall


@pytest.mark.parametrize("protocol", ["secureswift", "wireguard"])
def test_a_burst_of_upcalls_does_not_make_the_engine_demand_mac2(protocol):
    ka, kb = keys.clamp(os.urandom(32)), keys.clamp(os.urandom(32))
    d = KernelDaemon("t0", genl=KernelRecorder())
    d.ifindex = 7
    d.engine = Engine(ka, protocol, wall_offset=WALL)
    peer = Engine(kb, protocol, wall_offset=WALL)
    d.engine.add_peer(peer.public_key, endpoint=(B_ADDR.host, B_ADDR.port))
    peer.add_peer(d.engine.public_key, endpoint=(A_ADDR.host, A_ADDR.port))
    # A burst of mac1-valid initiations in one second (more than the 200/s a
    # daemon-side threshold would have allowed), from unknown identities: the
    # module handed them up, the engine refuses each.
    junk = initiation(d.engine.public_key, protocol)
    for i in range(250):
        d._upcall(upcall(junk, Endpoint("198.18.0.1", 1024 + i)), 1.0)
    assert d.kb.calls == []
    assert not d.engine.under_load
    # A real peer's initiation without a cookie (mac2 zero) in the same second: answered
    # with a handshake response and a keypair, not with a cookie reply.
    init = first_transmit(peer.initiate(d.engine.public_key, 1.0))
    assert init[-16:] == bytes(16)
    d._upcall(upcall(init, B_ADDR), 1.0)
    kinds = [c[0] for c in d.kb.calls]
    assert kinds == ["install", "xmit"], kinds
    response = d.kb.calls[1][1]
    assert response[0] == mode_for(protocol, "chacha20-poly1305").type_response
