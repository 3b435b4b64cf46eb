"""UAPI text codec: round trips, wireguard-go's formats, hostile input."""

from __future__ import annotations

import errno
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sswctl.ipc.uapi_codec import (
    UAPIError,
    decode_get,
    decode_set,
    encode_get,
    encode_set,
    parse_endpoint,
    split_lines,
)
from sswctl.model import Cipher, Device, DeviceStatus, Endpoint, Peer, PeerStatus, Protocol

keys = st.binary(min_size=32, max_size=32)
nz_keys = keys.filter(lambda k: any(k))
v4nets = st.builds(
    lambda a, n: ipaddress.IPv4Network((a, n), strict=False), st.integers(0, 2**32 - 1), st.integers(0, 32)
)
v6nets = st.builds(
    lambda a, n: ipaddress.IPv6Network((a, n), strict=False), st.integers(0, 2**128 - 1), st.integers(0, 128)
)
ports = st.integers(1, 65535)
endpoints = st.one_of(
    st.builds(lambda a, p: Endpoint(str(ipaddress.IPv4Address(a)), p), st.integers(0, 2**32 - 1), ports),
    st.builds(lambda a, p: Endpoint(str(ipaddress.IPv6Address(a)), p), st.integers(0, 2**128 - 1), ports),
)
names = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters="\x7f"), min_size=1, max_size=20
)


@st.composite
def set_peers(draw):
    p = Peer(public_key=draw(keys))
    if draw(st.booleans()):
        p.remove = True
        return p
    p.update_only = draw(st.booleans())
    p.preshared_key = draw(st.none() | keys)
    p.endpoint = draw(st.none() | endpoints)
    p.persistent_keepalive = draw(st.none() | st.integers(0, 65535))
    p.name = draw(st.none() | names)
    p.replace_allowed_ips = draw(st.booleans())
    p.allowed_ips = draw(st.lists(v4nets | v6nets, max_size=4))
    return p


@st.composite
def set_devices(draw):
    return Device(
        private_key=draw(st.none() | keys),
        listen_port=draw(st.none() | st.integers(0, 65535)),
        fwmark=draw(st.none() | st.integers(0, 2**32 - 1)),
        protocol=draw(st.none() | st.sampled_from(Protocol)),
        cipher=draw(st.none() | st.sampled_from(Cipher)),
        replace_peers=draw(st.booleans()),
        peers=draw(st.lists(set_peers(), max_size=4)),
    )


def _body(request: str) -> list[tuple[str, str]]:
    first, _, rest = request.partition("\n")
    assert first == "set=1"
    return split_lines(rest)


@settings(max_examples=200, deadline=None)
@given(set_devices())
def test_set_request_round_trips(dev):
    text = encode_set(dev)
    assert text.endswith("\n\n") and text.count("\n\n") == 1
    assert decode_set(_body(text)) == dev


@st.composite
def running_devices(draw):
    peers = []
    for pk in draw(st.lists(keys, max_size=4, unique=True)):
        sec = draw(st.integers(0, 2**34))
        nsec = draw(st.integers(0, 999_999_999)) if sec else 0
        peers.append(
            Peer(
                public_key=pk,
                preshared_key=draw(st.none() | nz_keys),
                endpoint=draw(st.none() | endpoints),
                allowed_ips=draw(st.lists(v4nets | v6nets, max_size=3)),
                persistent_keepalive=draw(st.integers(0, 65535)),
                name=draw(st.none() | names),
                status=PeerStatus(
                    last_handshake=(sec, nsec),
                    rx_bytes=draw(st.integers(0, 2**64 - 1)),
                    tx_bytes=draw(st.integers(0, 2**64 - 1)),
                    rx_packets=draw(st.integers(0, 2**64 - 1)),
                    tx_packets=draw(st.integers(0, 2**64 - 1)),
                    drops=draw(st.dictionaries(st.sampled_from(["replay", "decrypt", "allowed_ips"]),
                                               st.integers(0, 99))),
                ),
            )
        )
    return Device(
        private_key=draw(st.none() | nz_keys),
        listen_port=draw(st.none() | st.integers(1, 65535)),
        fwmark=draw(st.none() | st.integers(1, 2**32 - 1)),
        protocol=draw(st.sampled_from(Protocol)),
        cipher=draw(st.sampled_from(Cipher)),
        peers=peers,
        status=DeviceStatus(
            backend="userspace",
            drops=draw(st.dictionaries(st.sampled_from(["junk", "unknown_index"]), st.integers(0, 99))),
        ),
    )


@settings(max_examples=200, deadline=None)
@given(running_devices())
def test_get_reply_round_trips_with_extensions(dev):
    # Handshake times travel as (sec, nsec) text; the model keeps a float, so
    # nanoseconds survive only to float precision (wg prints whole seconds).
    times = [p.status.last_handshake for p in dev.peers]
    for p, (sec, nsec) in zip(dev.peers, times, strict=True):
        p.status.last_handshake = None if not sec else sec + nsec / 1e9
    text = encode_get(dev, extensions=True)
    got = decode_get(text)
    for (sec, nsec), p in zip(times, got.peers, strict=True):
        t = sec + nsec / 1e9
        assert f"last_handshake_time_sec={int(t)}\n" in text
        if sec:
            assert abs(p.status.last_handshake - (sec + nsec / 1e9)) < 1e-3
        else:
            assert p.status.last_handshake is None
    for p in dev.peers + got.peers:
        p.status.last_handshake = None
    dev.public_key = got.public_key
    assert got == dev


def test_get_reply_without_extensions_has_only_wireguard_go_keys():
    dev = Device(
        private_key=bytes(range(1, 33)),
        listen_port=51820,
        protocol=Protocol.WIREGUARD,
        peers=[
            Peer(public_key=b"\x02" * 32, endpoint=Endpoint("::1", 9),
                 allowed_ips=[ipaddress.ip_network("10.0.0.0/24")], name="n", status=PeerStatus()),
        ],
        status=DeviceStatus(backend="userspace", drops={"junk": 3}),
    )
    text = encode_get(dev)
    assert text == (
        f"private_key={bytes(range(1, 33)).hex()}\n"
        "listen_port=51820\n"
        f"public_key={'02' * 32}\n"
        f"preshared_key={'00' * 32}\n"
        "protocol_version=1\n"
        "endpoint=[::1]:9\n"
        "last_handshake_time_sec=0\n"
        "last_handshake_time_nsec=0\n"
        "tx_bytes=0\n"
        "rx_bytes=0\n"
        "persistent_keepalive_interval=0\n"
        "allowed_ip=10.0.0.0/24\n"
        "errno=0\n\n"
    )


@pytest.mark.parametrize(
    "lines, err",
    [
        ("listen_port=65536", errno.EINVAL),
        ("listen_port=+1", errno.EINVAL),
        ("listen_port= 1", errno.EINVAL),
        ("fwmark=-1", errno.EINVAL),
        ("private_key=abc", errno.EINVAL),
        ("replace_peers=false", errno.EINVAL),
        ("bogus=1", errno.EINVAL),
        ("no equals sign", errno.EPROTO),
        (f"public_key={'11' * 32}\nendpoint=example.com:1", errno.EINVAL),
        (f"public_key={'11' * 32}\nendpoint=::1:5", errno.EINVAL),
        (f"public_key={'11' * 32}\nendpoint=[::1]5", errno.EINVAL),
        (f"public_key={'11' * 32}\nallowed_ip=10.0.0.0/33", errno.EINVAL),
        (f"public_key={'11' * 32}\nallowed_ip=10.0.0.0", errno.EINVAL),
        (f"public_key={'11' * 32}\nprotocol_version=2", errno.EINVAL),
        (f"public_key={'11' * 32}\nremove=yes", errno.EINVAL),
        (f"public_key={'11' * 32}\nlisten_port=1", errno.EINVAL),
        (f"public_key={'11' * 32}\nssw_name=a\tb", errno.EINVAL),
        ("ssw_protocol=ipsec", errno.EINVAL),
    ],
)
def test_bad_set_lines_are_typed_errors(lines, err):
    with pytest.raises(UAPIError) as e:
        decode_set(split_lines(lines + "\n\n"))
    assert e.value.errno == err


def test_endpoint_forms():
    assert parse_endpoint("192.0.2.1:51820") == Endpoint("192.0.2.1", 51820)
    assert parse_endpoint("[fe80::1%eth0]:1") == Endpoint("fe80::1%eth0", 1)
    assert str(Endpoint("fe80::1", 1)) == "[fe80::1]:1"


def test_a_get_reply_always_fills_every_status():
    assert decode_get("errno=0\n\n").status == DeviceStatus(backend="userspace")
    got = decode_get(f"listen_port=1\npublic_key={'02' * 32}\npublic_key={'03' * 32}\nrx_bytes=5\nerrno=0\n\n")
    assert [p.status for p in got.peers] == [PeerStatus(), PeerStatus(rx_bytes=5)]
    assert got.peers[0].status.drops is not got.peers[1].status.drops
    assert got.status == DeviceStatus(backend="userspace")


def test_get_reply_with_errno_raises_it():
    with pytest.raises(UAPIError) as e:
        decode_get("errno=-19\n\n")
    assert e.value.errno == errno.ENODEV
    with pytest.raises(UAPIError) as e:
        decode_get("listen_port=1\n\n")
    assert e.value.errno == errno.EPROTO


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_set_text_is_accepted_or_a_typed_error(text):
    try:
        decode_set(split_lines(text))
    except UAPIError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([
    "public_key=" + "ab" * 32, "preshared_key=" + "00" * 32, "endpoint=1.2.3.4:5", "endpoint=[::1]:x",
    "allowed_ip=::/0", "allowed_ip=1.2.3.4/40", "rx_bytes=5", "tx_bytes=-1", "errno=0", "errno=x",
    "last_handshake_time_sec=1", "last_handshake_time_nsec=2000000000", "private_key=" + "01" * 32,
    "listen_port=99999", "ssw_drop_junk=1", "ssw_drop_X=1", "junk", "=", "",
]), max_size=20))
def test_arbitrary_get_reply_parses_or_is_a_typed_error(lines):
    try:
        decode_get("\n".join(lines) + "\n\n")
    except UAPIError:
        pass


@pytest.mark.parametrize("line", [
    "ab" * 32,  # a bare key where a key=value line belongs
    "private_key" + "ab" * 32,
    "ab" * 32 + "=1",  # a key where the name belongs
    "ssw_protocol=" + "ab" * 32,
    "public_key=" + "11" * 32 + "\nprotocol_version=" + "ab" * 32,
])
def test_error_messages_never_echo_what_could_be_a_key(line):
    with pytest.raises(UAPIError) as e:
        decode_set(split_lines(line + "\n\n"))
    assert "abab" not in str(e.value)


def _slow_daemon(path: str, delay, reply: bytes):
    """A real UNIX socket that accepts at once and answers one request after ``delay``
    (seconds, or a threading.Event: when it is set)."""
    import socket
    import threading
    import time

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        with conn:
            while not conn.recv(4096).endswith(b"\n\n"):
                pass
            if isinstance(delay, threading.Event):
                delay.wait(60)
            else:
                time.sleep(delay)
            try:
                conn.sendall(reply)
            except BrokenPipeError:  # the client gave up first
                pass
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_a_daemon_busy_applying_a_large_set_is_waited_for(tmp_path, monkeypatch):
    """Connecting is quick or fails fast; the answer may take as long as applying 10,000
    peers takes (wg waits without a limit). A 0.3 s connect limit must not cut a 1 s answer."""
    from sswctl.ipc import uapi_socket

    monkeypatch.setattr(uapi_socket, "TIMEOUT", 0.3)
    path = str(tmp_path / "slow.sock")
    t = _slow_daemon(path, 1.0, b"errno=0\n\n")
    assert uapi_socket.transact(path, "set=1\nlisten_port=1\n\n") == b"errno=0\n\n"
    t.join()


def test_a_daemon_that_never_answers_is_a_clear_timeout(tmp_path, monkeypatch):
    import threading

    from sswctl.ipc import IPCError, uapi_socket

    monkeypatch.setattr(uapi_socket, "ANSWER_TIMEOUT", 0.3)
    path = str(tmp_path / "mute.sock")
    gave_up = threading.Event()  # it answers only once the client gave up, however slow the machine
    t = _slow_daemon(path, gave_up, b"errno=0\n\n")
    with pytest.raises(IPCError, match="did not answer in time") as e:
        uapi_socket.transact(path, "set=1\nlisten_port=1\n\n")
    gave_up.set()
    assert e.value.errno == errno.ETIMEDOUT
    t.join()
