"""``sswctl show IFACE dump``'s short path (sswctl/main.py) against a socket
that answers as a daemon would: it prints the daemon's dump text, and leaves
the answer to the full CLI when the daemon refuses the request (an older
daemon without ``ssw_dump``) or no daemon listens."""

from __future__ import annotations

import socket
import threading

import pytest

from sswctl import main as entry
from sswctl import paths


def _serve_once(path: str, reply: bytes, seen: list) -> threading.Thread:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def run():
        with srv:
            conn, _ = srv.accept()
            with conn:
                buf = b""
                while not buf.endswith(b"\n\n"):
                    buf += conn.recv(4096)
                seen.append(buf)
                conn.sendall(reply)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.fixture
def sock(tmp_path, monkeypatch):
    path = str(tmp_path / "ssw9.sock")
    monkeypatch.setattr(paths, "socket_path", lambda name: path)
    return path


def test_prints_the_daemons_dump(sock, capfdbinary):
    seen: list = []
    text = b"priv\tpub\t51820\toff\npeer\t(none)\t(none)\t10.0.0.1/32\t0\t0\t0\toff\n"
    t = _serve_once(sock, text + b"errno=0\n\n", seen)
    assert entry._dump("ssw9") is True
    t.join(10)
    assert seen == [b"get=1\nssw_dump=1\n\n"]
    assert capfdbinary.readouterr().out == text


def test_a_refusing_daemon_leaves_it_to_the_full_cli(sock, capfdbinary):
    seen: list = []
    t = _serve_once(sock, b"errno=-22\n\n", seen)
    assert entry._dump("ssw9") is False
    t.join(10)
    assert seen and capfdbinary.readouterr().out == b""


def test_no_daemon_leaves_it_to_the_full_cli(sock, capfdbinary):
    assert entry._dump("ssw9") is False
    assert capfdbinary.readouterr().out == b""
