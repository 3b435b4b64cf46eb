"""Many clients handshaking with one server, in one process: the load a
server meets when all its clients come back at once (after its restart).

Each client is a protocol engine (the transport oracle's TransportEngine: the
daemon's handshake engine, sswctl.protocol, plus the Python reference
transport for the one keepalive) with its own key and its own UDP socket (one address, a port each, as
clients behind a NAT). Each sends an initiation at the start and, until a
response completes its handshake, again every REKEY_TIMEOUT plus up to
1/3 s of jitter, as WireGuard's retransmit timer does; a cookie reply (the
server under load) is taken by the engine, so the next retry carries mac2.
A client through sends one keepalive (its session's first packet, which
confirms the server's keypair), and nothing more.
No client sends faster than that: the time they take is the server's.

Run inside the clients' namespace (``ip netns exec NS python hsclients.py
SPEC``), SPEC a JSON file (mode 0600: it holds private keys):
``{"server": hex public key, "dst": [ip, port], "src": ip, "protocol": ...,
"keys": [base64 private keys], "deadline": seconds}``. Prints one JSON line:
``done`` (clients through), ``elapsed`` (until the last one or the
deadline), ``times`` (each completion, seconds from the start, sorted),
``initiations`` (sent), ``cookies`` (cookie replies taken), ``cpu``.
"""

from __future__ import annotations

import json
import os
import random
import resource
import selectors
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sswctl import keys  # noqa: E402
from sswctl.protocol import ProtocolError, Transmit  # noqa: E402
from sswctl.wire import REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX  # noqa: E402
from tests.transport_oracle import TransportEngine  # noqa: E402


def run(spec: dict) -> dict:
    n = len(spec["keys"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    server = bytes.fromhex(spec["server"])
    dst = tuple(spec["dst"])
    fam = socket.AF_INET6 if ":" in dst[0] else socket.AF_INET
    sel = selectors.DefaultSelector()
    wall = time.time() - time.monotonic()
    clients = []
    for priv in spec["keys"]:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((spec["src"], 0))
        s.setblocking(False)
        e = TransportEngine(keys.from_base64(priv), spec["protocol"], wall_offset=wall)
        e.add_peer(server, endpoint=dst)
        c = {"sock": s, "engine": e, "due": 0.0, "done": None}
        clients.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    initiations = cookies = 0
    rng = random.Random(os.getpid())

    def send(c: dict, now: float) -> None:
        nonlocal initiations
        for ev in c["engine"].initiate(server, now):
            if isinstance(ev, Transmit):
                try:
                    c["sock"].sendto(ev.data, dst)
                except OSError:
                    pass  # a full queue: lost as on a real link; the retry follows
                initiations += 1
        c["due"] = now + REKEY_TIMEOUT + rng.uniform(0, REKEY_TIMEOUT_JITTER_MAX)

    t0 = time.monotonic()
    deadline = t0 + float(spec["deadline"])
    waiting = list(clients)
    for c in waiting:
        send(c, time.monotonic())
    done = []
    while waiting and time.monotonic() < deadline:
        for key, _ in sel.select(0.05):
            c = key.data
            try:
                data = c["sock"].recv(4096)
                r = c["engine"].receive(data, dst, time.monotonic())
            except (BlockingIOError, ProtocolError):
                continue
            if r.kind == "response" and c["done"] is None:
                c["done"] = time.monotonic() - t0
                done.append(c["done"])
                # A keepalive, as a client's first packet: the server's keypair is confirmed.
                for ev in c["engine"].send_keepalive(server, time.monotonic()):
                    if isinstance(ev, Transmit):
                        try:
                            c["sock"].sendto(ev.data, dst)
                        except OSError:
                            pass
            elif r.kind == "cookie":
                cookies += 1
        now = time.monotonic()
        still = []
        for c in waiting:
            if c["done"] is not None:
                continue
            if now >= c["due"]:
                send(c, now)
            still.append(c)
        waiting = still
    elapsed = max(done) if done and not waiting else time.monotonic() - t0
    for c in clients:
        c["sock"].close()
    return {"done": len(done), "clients": n, "elapsed": elapsed, "times": sorted(done),
            "initiations": initiations, "cookies": cookies, "cpu": time.process_time()}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text()))))
