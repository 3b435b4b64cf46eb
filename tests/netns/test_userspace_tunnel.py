"""Two userspace daemons in two namespaces: the tunnel carries v4, v6 and TCP."""

from __future__ import annotations

import pytest
from nslab import iperf, iperf_end, ping

from sswctl import keys

pytestmark = [pytest.mark.root, pytest.mark.netns]

MATRIX = [
    ("secureswift", "chacha20-poly1305", True),
    ("secureswift", "chacha20-poly1305", False),
    ("secureswift", "aes-256-gcm", True),
    ("secureswift", "aes-256-gcm", False),
    ("wireguard", "chacha20-poly1305", True),
    ("wireguard", "chacha20-poly1305", False),
]


IDS = [f"{p}-{c}-{'psk' if k else 'nopsk'}" for p, c, k in MATRIX]


@pytest.mark.parametrize("protocol,cipher,psk", MATRIX, ids=IDS)
def test_ping_and_tcp_both_ways(lab, protocol, cipher, psk):
    lab.start_daemon(lab.a)
    lab.start_daemon(lab.b)
    lab.configure_pair(protocol=protocol, cipher=cipher, psk=keys.generate_preshared_key() if psk else None)

    assert ping(lab.a, lab.b.tun4).returncode == 0
    assert ping(lab.b, lab.a.tun6).returncode == 0
    # Goodput depends on the machine: > 0, and the counters hold at least what iperf3 received.
    up = iperf_end(lab, lab.a, lab.b, nbytes=2 << 20)["sum_received"]["bytes"]
    down = iperf_end(lab, lab.a, lab.b, nbytes=2 << 20, reverse=True)["sum_received"]["bytes"]
    assert up > 0 and down > 0
    assert iperf(lab, lab.a, lab.b, nbytes=1 << 20, addr=lab.b.tun6) > 0  # TCP over IPv6 (TSO6 path)

    for me, other in ((lab.a, lab.b), (lab.b, lab.a)):
        dev = lab.backend.get_device(me.iface)
        assert str(dev.protocol) == protocol and str(dev.cipher) == cipher
        peer = dev.peer(other.public_key)
        assert peer.status.last_handshake is not None
        assert min(peer.status.rx_bytes, peer.status.tx_bytes) >= min(up, down)  # each way carried what iperf3 received
        assert peer.status.rx_packets > 0 and peer.status.tx_packets > 0
        assert (peer.preshared_key is not None) == psk
