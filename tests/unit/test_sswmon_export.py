"""sswmon's machine-readable outputs: the JSON snapshot and Prometheus metrics."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import urllib.error
import urllib.request

import pytest

from sswctl.model import Cipher, Device, DeviceStatus, Endpoint, Peer, PeerStatus, Protocol
from sswmon.export import PROMETHEUS_CONTENT_TYPE, parse_listen, prometheus_text, serve_in_thread, snapshot_json
from sswmon.memory import MemorySource

T0 = 1_700_000_000.0
DEV_KEY, KEY_A, KEY_B = bytes([9]) * 32, bytes([1]) * 32, bytes([2]) * 32
B64 = {k: base64.b64encode(k).decode() for k in (DEV_KEY, KEY_A, KEY_B)}


def _source() -> MemorySource:
    alice = Peer(
        KEY_A,
        name='alice "laptop"',
        endpoint=Endpoint("192.0.2.7", 51820),
        allowed_ips=[ipaddress.ip_network("10.0.0.2/32"), ipaddress.ip_network("fd00::2/128")],
        persistent_keepalive=25,
        status=PeerStatus(
            last_handshake=T0 - 42.7,
            rx_bytes=123456789012,
            tx_bytes=42,
            rx_packets=7,
            tx_packets=3,
            drops={"replay": 2, "allowed_ips": 1},
        ),
    )
    bob = Peer(KEY_B, allowed_ips=[ipaddress.ip_network("10.0.0.3/32")], status=PeerStatus())
    dev = Device(
        name="ssw0",
        public_key=DEV_KEY,
        listen_port=51820,
        protocol=Protocol.SECURESWIFT,
        cipher=Cipher.AES_256_GCM,
        peers=[alice, bob],
        status=DeviceStatus(backend="userspace", drops={"garbage": 5}),
    )
    return MemorySource([dev], now=T0)


def test_json_snapshot_schema_and_values():
    doc = snapshot_json(_source().snapshot())
    assert json.loads(json.dumps(doc)) == doc  # plain JSON types only
    assert doc["version"] == 1 and doc["time"] == int(T0) and doc["errors"] == {}
    (iface,) = doc["interfaces"]
    assert {k: iface[k] for k in iface if k != "peers"} == {
        "name": "ssw0",
        "backend": "userspace",
        "protocol": "secureswift",
        "cipher": "aes-256-gcm",
        "public_key": B64[DEV_KEY],
        "listen_port": 51820,
        "fwmark": 0,
        "rx_bytes": 123456789012,
        "tx_bytes": 42,
        "drops": {"garbage": 5},
    }
    alice, bob = iface["peers"]
    assert alice == {
        "public_key": B64[KEY_A],
        "name": 'alice "laptop"',
        "endpoint": "192.0.2.7:51820",
        "allowed_ips": ["10.0.0.2/32", "fd00::2/128"],
        "latest_handshake": int(T0 - 42.7),
        "handshake_age": 42,
        "handshake_state": "fresh",
        "rx_bytes": 123456789012,
        "tx_bytes": 42,
        "rx_packets": 7,
        "tx_packets": 3,
        "persistent_keepalive": 25,
        "drops": {"allowed_ips": 1, "replay": 2},
    }
    assert (bob["latest_handshake"], bob["handshake_age"], bob["handshake_state"]) == (None, None, "never")
    assert bob["name"] is None and bob["endpoint"] is None and bob["persistent_keepalive"] == 0


def test_json_reports_unreadable_interfaces():
    src = _source()
    src.errors = {"ssw1": "ssw1: permission denied"}
    assert snapshot_json(src.snapshot())["errors"] == {"ssw1": "ssw1: permission denied"}


_SAMPLE = re.compile(r"^([a-z_]+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """(metric -> TYPE, samples); asserts every line is well-formed."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line.startswith("# HELP "):
            continue
        else:
            m = _SAMPLE.match(line)
            assert m, f"malformed sample line: {line!r}"
            labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2))}
            samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples


def _value(samples, metric, **labels) -> float:
    hits = [v for n, lab, v in samples if n == metric and all(lab.get(k) == w for k, w in labels.items())]
    assert len(hits) == 1, (metric, labels, hits)
    return hits[0]


def test_prometheus_names_types_labels_and_values():
    types, samples = parse_prometheus(prometheus_text(_source().snapshot()))
    assert types == {
        "wireguard_sent_bytes_total": "counter",
        "wireguard_received_bytes_total": "counter",
        "wireguard_latest_handshake_seconds": "gauge",
        "secureswift_peer_drops_total": "counter",
        "secureswift_interface_info": "gauge",
        "secureswift_interface_up": "gauge",
    }
    a = {"interface": "ssw0", "public_key": B64[KEY_A]}
    assert _value(samples, "wireguard_sent_bytes_total", **a) == 42
    assert _value(samples, "wireguard_received_bytes_total", **a) == 123456789012
    assert _value(samples, "wireguard_latest_handshake_seconds", **a) == int(T0 - 42.7)
    assert _value(samples, "wireguard_latest_handshake_seconds", public_key=B64[KEY_B]) == 0
    assert _value(samples, "secureswift_peer_drops_total", reason="replay", **a) == 2
    full = next(lab for n, lab, _ in samples if n == "wireguard_sent_bytes_total" and lab["public_key"] == B64[KEY_A])
    assert full == {**a, "allowed_ips": "10.0.0.2/32,fd00::2/128", "friendly_name": 'alice "laptop"'}
    assert (
        _value(
            samples,
            "secureswift_interface_info",
            interface="ssw0",
            public_key=B64[DEV_KEY],
            listen_port="51820",
            backend="userspace",
            protocol="secureswift",
            cipher="aes-256-gcm",
        )
        == 1
    )
    assert _value(samples, "secureswift_interface_up", interface="ssw0") == 1


def test_prometheus_escapes_label_values_and_marks_failed_interfaces_down():
    src = _source()
    src.peer('alice "laptop"').name = 'a\\b "c"\nd'
    src.errors = {"ssw9": "gone"}
    text = prometheus_text(src.snapshot())
    assert 'friendly_name="a\\\\b \\"c\\"\\nd"' in text
    _, samples = parse_prometheus(text)
    assert _value(samples, "secureswift_interface_up", interface="ssw9") == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9586", ("127.0.0.1", 9586)),
        ("0.0.0.0:9586", ("0.0.0.0", 9586)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_parse_listen(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["", "abc", ":9586", "::1:9586", "1.2.3.4:99999", "1.2.3.4:-1"])
def test_parse_listen_rejects(text):
    with pytest.raises(ValueError):
        parse_listen(text)


def test_metrics_endpoint_serves_a_fresh_snapshot_per_scrape_over_loopback():
    src = _source()
    server = serve_in_thread(src.snapshot, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            assert r.status == 200 and r.headers["Content-Type"] == PROMETHEUS_CONTENT_TYPE
            _, samples = parse_prometheus(r.read().decode())
        assert _value(samples, "wireguard_sent_bytes_total", public_key=B64[KEY_A]) == 42
        src.tick(1.0, {'alice "laptop"': (0, 1000)})
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            _, samples = parse_prometheus(r.read().decode())
        assert _value(samples, "wireguard_sent_bytes_total", public_key=B64[KEY_A]) == 1042
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + "/nope", timeout=5)
        assert e.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_endpoint_on_ipv6_loopback():
    server = serve_in_thread(_source().snapshot, "::1", 0)
    try:
        with urllib.request.urlopen(f"http://[::1]:{server.server_address[1]}/metrics", timeout=5) as r:
            assert b"wireguard_received_bytes_total" in r.read()
    finally:
        server.shutdown()
        server.server_close()
