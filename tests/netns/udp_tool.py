"""Hostile-datagram tool, run inside a namespace: ``python udp_tool.py MODE HOST PORT [ARGS]``.

Modes:
  garbage N          N datagrams of every bad kind: random bytes, truncated and
                     oversized data headers, both modes' handshake types with
                     random bodies, empty datagrams.
  wrongkey PUBKEYHEX a well-formed initiation (valid mac1) from a static key
                     the target does not know, in both protocol modes.
  replay IFACE       capture one transport data datagram to HOST:PORT on IFACE
                     and send it again (twice) from another socket.

Prints one JSON line: {"sent": n}.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time


def _sock(host: str) -> socket.socket:
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)


def garbage(host: str, port: int, n: int) -> int:
    s = _sock(host)
    sent = 0
    kinds = [
        lambda: os.urandom(1 + int.from_bytes(os.urandom(2), "big") % 1400),
        lambda: b"",
        lambda: bytes([4, 0, 0, 0]) + os.urandom(8),  # truncated data header
        lambda: bytes([0x14, 0, 0, 0]) + os.urandom(40),  # data, unknown index
        lambda: bytes([4, 0, 0, 0]) + os.urandom(60000),  # oversized
        lambda: bytes([1, 0, 0, 0]) + os.urandom(144),  # WireGuard initiation size, bad mac1
        lambda: bytes([0x11, 0, 0, 0]) + os.urandom(1328),  # SecureSwift initiation size, bad mac1
        lambda: bytes([0x12, 0, 0, 0]) + os.urandom(10),
        lambda: bytes([3, 0, 0, 0]) + os.urandom(60),
        lambda: bytes([0x14, 1, 0, 0]) + os.urandom(40),  # reserved bytes set
    ]
    for i in range(n):
        try:
            s.sendto(kinds[i % len(kinds)](), (host, port))
            sent += 1
        except OSError:
            pass
    return sent


def wrongkey(host: str, port: int, pub_hex: str) -> int:
    from sswctl import keys
    from sswctl.protocol import Engine, Transmit

    s = _sock(host)
    sent = 0
    for protocol in ("wireguard", "secureswift"):
        eng = Engine(keys.generate_private_key(), protocol, wall_offset=time.time() - time.monotonic())
        target = bytes.fromhex(pub_hex)
        eng.add_peer(target)
        for ev in eng.initiate(target, time.monotonic()):
            if isinstance(ev, Transmit):
                s.sendto(ev.data, (host, port))
                sent += 1
    return sent


def replay(host: str, port: int, iface: str) -> int:
    # ETH_P_ALL: only "all protocols" taps see outgoing packets.
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
    raw.bind((iface, 0))
    raw.settimeout(10)
    dst = socket.inet_aton(host)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pkt, addr = raw.recvfrom(65535)
        if addr[1] != 0x0800:
            continue
        ihl = (pkt[0] & 15) * 4
        if pkt[9] != 17 or pkt[16:20] != dst:
            continue
        udp = pkt[ihl:]
        if int.from_bytes(udp[2:4], "big") != port:
            continue
        payload = udp[8:]
        if payload[:1] in (b"\x04", b"\x14") and len(payload) > 32:
            s = _sock(host)
            s.sendto(payload, (host, port))
            s.sendto(payload, (host, port))
            return 2
    raise SystemExit("no data datagram seen")


def main() -> None:
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "garbage":
        n = garbage(host, port, int(sys.argv[4]))
    elif mode == "wrongkey":
        n = wrongkey(host, port, sys.argv[4])
    elif mode == "replay":
        n = replay(host, port, sys.argv[4])
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps({"sent": n}))


if __name__ == "__main__":
    main()
