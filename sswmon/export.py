"""Machine-readable output: the ``--once --json`` document and Prometheus metrics.

Both are built from one :class:`~sswmon.stats.Snapshot`; the field and metric
names are a stable interface documented in docs/sswmon.md.
"""

from __future__ import annotations

import base64
import http.server
import socket
import threading
from collections.abc import Callable

from sswctl.model import Device, Peer, Protocol

from .stats import STALE_AFTER, Snapshot, freshness

JSON_VERSION = 1


def _b64(key: bytes | None) -> str | None:
    return base64.b64encode(key).decode() if key else None


def _unix(t: float | None) -> int | None:
    return int(t) if t else None


def peer_json(peer: Peer, now: float, stale_after: float = STALE_AFTER) -> dict:
    st = peer.status
    age, state = freshness(st.last_handshake, now, stale_after)
    return {
        "public_key": _b64(peer.public_key),
        "name": peer.name,
        "endpoint": str(peer.endpoint) if peer.endpoint else None,
        "allowed_ips": [str(n) for n in peer.allowed_ips],
        "latest_handshake": _unix(st.last_handshake),
        "handshake_age": None if age is None else int(age),
        "handshake_state": state,
        "rx_bytes": int(st.rx_bytes),
        "tx_bytes": int(st.tx_bytes),
        "rx_packets": int(st.rx_packets),
        "tx_packets": int(st.tx_packets),
        "persistent_keepalive": peer.persistent_keepalive or 0,
        "drops": {k: int(v) for k, v in sorted(st.drops.items())},
    }


def interface_json(dev: Device, now: float, stale_after: float = STALE_AFTER) -> dict:
    return {
        "name": dev.name,
        "backend": dev.status.backend,
        "protocol": str(dev.protocol or Protocol.SECURESWIFT),
        "cipher": str(dev.cipher) if dev.cipher else None,
        "public_key": _b64(dev.public_key),
        "listen_port": dev.listen_port,
        "fwmark": dev.fwmark or 0,
        "rx_bytes": sum(int(p.status.rx_bytes) for p in dev.peers),
        "tx_bytes": sum(int(p.status.tx_bytes) for p in dev.peers),
        "drops": {k: int(v) for k, v in sorted(dev.status.drops.items())},
        "peers": [peer_json(p, now, stale_after) for p in dev.peers],
    }


def snapshot_json(snap: Snapshot, stale_after: float = STALE_AFTER) -> dict:
    return {
        "version": JSON_VERSION,
        "time": int(snap.wall),
        "interfaces": [interface_json(d, snap.wall, stale_after) for d in snap.devices],
        "errors": dict(snap.errors),
    }


# -- Prometheus text exposition (format 0.0.4) --
#
# Per-peer names and labels follow MindFlavor/prometheus_wireguard_exporter
# (the exporter most Grafana dashboards are built for); SecureSwift-only
# figures carry the ``secureswift_`` prefix so they never collide.

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_PEER_METRICS = (
    ("wireguard_sent_bytes_total", "counter", "Bytes sent to the peer", lambda p: p.status.tx_bytes),
    ("wireguard_received_bytes_total", "counter", "Bytes received from the peer", lambda p: p.status.rx_bytes),
    (
        "wireguard_latest_handshake_seconds",
        "gauge",
        "Unix time of the latest handshake with the peer (0 = never)",
        lambda p: int(p.status.last_handshake or 0),
    ),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _peer_labels(dev: Device, peer: Peer) -> list[tuple[str, str]]:
    return [
        ("interface", dev.name),
        ("public_key", _b64(peer.public_key) or ""),
        ("allowed_ips", ",".join(str(n) for n in peer.allowed_ips)),
        ("friendly_name", peer.name or ""),
    ]


def prometheus_text(snap: Snapshot) -> str:
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[list[tuple[str, str]], int]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{_labels(labels)} {value}" for labels, value in samples)

    for name, kind, help_text, value in _PEER_METRICS:
        family(name, kind, help_text, [(_peer_labels(d, p), int(value(p))) for d in snap.devices for p in d.peers])
    family(
        "secureswift_peer_drops_total",
        "counter",
        "Packets from or to the peer dropped, by reason",
        [
            ([*_peer_labels(d, p), ("reason", reason)], int(n))
            for d in snap.devices
            for p in d.peers
            for reason, n in sorted(p.status.drops.items())
        ],
    )
    family(
        "secureswift_interface_info",
        "gauge",
        "Interface metadata (always 1)",
        [
            (
                [
                    ("interface", d.name),
                    ("public_key", _b64(d.public_key) or ""),
                    ("listen_port", str(d.listen_port or 0)),
                    ("backend", d.status.backend or ""),
                    ("protocol", str(d.protocol or Protocol.SECURESWIFT)),
                    ("cipher", str(d.cipher or "")),
                ],
                1,
            )
            for d in snap.devices
        ],
    )
    family(
        "secureswift_interface_up",
        "gauge",
        "1 if the interface was read at this scrape, 0 if reading it failed",
        [([("interface", d.name)], 1) for d in snap.devices]
        + [([("interface", name)], 0) for name in sorted(snap.errors)],
    )
    return "\n".join(out) + "\n"


def parse_listen(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``PORT``, ``ADDR:PORT`` or ``[V6ADDR]:PORT`` -> (host, port); ValueError if malformed."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host = default_host
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif not host or ":" in host:
        raise ValueError(f"invalid listen address {text!r} (write [ADDR]:PORT for IPv6)")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid port in {text!r}")
    return host, int(port_text)


class _Handler(http.server.BaseHTTPRequestHandler):
    snapshot: Callable[[], Snapshot]  # set on the subclass made by serve()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body, ctype, status = prometheus_text(type(self).snapshot()).encode(), PROMETHEUS_CONTENT_TYPE, 200
        elif path == "/":
            body = b'<html><body><h1>sswmon</h1><a href="/metrics">/metrics</a></body></html>\n'
            ctype, status = "text/html; charset=utf-8", 200
        else:
            body, ctype, status = b"not found\n", "text/plain; charset=utf-8", 404
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature from the base class
        pass  # one line per scrape would drown the journal


class MetricsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(snapshot: Callable[[], Snapshot], host: str, port: int) -> MetricsServer:
    """A bound (not yet serving) metrics server; each scrape takes a fresh snapshot."""
    handler = type("MetricsHandler", (_Handler,), {"snapshot": staticmethod(snapshot)})
    server_cls = MetricsServer
    if ":" in host:
        server_cls = type("MetricsServer6", (MetricsServer,), {"address_family": socket.AF_INET6})
    return server_cls((host, port), handler)


def serve_in_thread(snapshot: Callable[[], Snapshot], host: str, port: int) -> MetricsServer:
    server = serve(snapshot, host, port)
    threading.Thread(target=server.serve_forever, name="sswmon-metrics", daemon=True).start()
    return server
