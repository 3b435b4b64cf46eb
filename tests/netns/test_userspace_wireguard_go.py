"""Interop: our daemon in ``Protocol = wireguard`` against the real wireguard-go.

A runs ``sswctl daemon``; B runs Debian's wireguard-go, configured with
wireguard-tools' ``wg``. Each side in turn sends first, so we are both the
handshake initiator and the responder. Ping v4/v6 and iperf3 both ways.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from nslab import iperf_end, ping

from sswctl import keys
from sswctl.model import Device, Endpoint, Peer

pytestmark = [pytest.mark.root, pytest.mark.netns]


def start_wireguard_go(lab, side) -> None:
    if shutil.which("wireguard-go") is None:
        pytest.skip("wireguard-go not installed (make deps installs it)")
    log = open(f"/tmp/{side.iface}.wggo.log", "w")
    side.proc = lab.popen(side, "env", "LOG_LEVEL=error", "wireguard-go", "-f", side.iface,
                          stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not os.path.exists(f"/var/run/wireguard/{side.iface}.sock"):
        assert side.proc.poll() is None, open(f"/tmp/{side.iface}.wggo.log").read()
        assert time.monotonic() < deadline, "wireguard-go did not start"
        time.sleep(0.05)


def configure(lab, psk: bytes | None) -> None:
    a, b = lab.a, lab.b
    lab.backend.set_device(Device(
        name=a.iface, private_key=a.private_key, listen_port=51821, protocol="wireguard",
        peers=[Peer(public_key=b.public_key, preshared_key=psk, endpoint=Endpoint(b.underlay4, 51822),
                    allowed_ips=[_net(f"{b.tun4}/32"), _net(f"{b.tun6}/128")])],
    ))
    keyfile = f"/tmp/{b.iface}.key"
    with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(keys.to_base64(b.private_key))
    args = ["wg", "set", b.iface, "private-key", keyfile, "listen-port", "51822",
            "peer", keys.to_base64(a.public_key), "endpoint", f"{a.underlay4}:51821",
            "allowed-ips", f"{a.tun4}/32,{a.tun6}/128"]
    if psk is not None:
        pskfile = f"/tmp/{b.iface}.psk"
        with open(os.open(pskfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(keys.to_base64(psk))
        args[args.index("endpoint"):args.index("endpoint")] = ["preshared-key", pskfile]
    subprocess.run(args, check=True, capture_output=True, timeout=30)
    for side in (a, b):
        side.run("ip", "addr", "add", f"{side.tun4}/24", "dev", side.iface)
        side.run("ip", "-6", "addr", "add", f"{side.tun6}/64", "dev", side.iface, "nodad")
        side.run("ip", "link", "set", side.iface, "up")


def _net(text: str):
    import ipaddress

    return ipaddress.ip_network(text)


@pytest.mark.parametrize("we_initiate", [True, False], ids=["we-initiate", "wireguard-go-initiates"])
@pytest.mark.parametrize("psk", [False, True], ids=["nopsk", "psk"])
def test_interop_with_wireguard_go(lab, we_initiate, psk):
    lab.start_daemon(lab.a)
    start_wireguard_go(lab, lab.b)
    configure(lab, keys.generate_preshared_key() if psk else None)
    first, second = (lab.a, lab.b) if we_initiate else (lab.b, lab.a)
    assert ping(first, second.tun4).returncode == 0
    hs = subprocess.run(["wg", "show", lab.b.iface, "latest-handshakes"], capture_output=True, text=True).stdout
    assert hs.split("\t")[1].strip() != "0"
    assert ping(second, first.tun6).returncode == 0
    # Goodput depends on the machine: > 0, and the counters hold at least what iperf3 received.
    up = iperf_end(lab, lab.a, lab.b, nbytes=2 << 20)["sum_received"]["bytes"]
    down = iperf_end(lab, lab.a, lab.b, nbytes=2 << 20, reverse=True)["sum_received"]["bytes"]
    assert up > 0 and down > 0
    ours = lab.backend.get_device(lab.a.iface).peer(lab.b.public_key)
    assert ours.status.last_handshake and ours.status.tx_bytes >= up and ours.status.rx_bytes >= down
