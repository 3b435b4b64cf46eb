"""``sswctl set IFACE ...``'s short path (sswctl/main.py) against a socket that
answers as one of our userspace daemons would: it is taken whenever a daemon
answers for IFACE, imports none of what made the command slow (click, the
kernel's transports, dataclasses, socket), and sends the same request and
prints the same errors with the same exit codes as the full CLI, for good
input, bad input (nothing sent) and a daemon's refusal; without a live daemon
it leaves the command to the full CLI."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading

import pytest

from sswctl import cli, keys, paths
from sswctl import main as entry
from sswctl.ipc import dispatch
from sswctl.ipc.uapi import UAPIBackend

NAME = "ssw9"
K1 = keys.to_base64(b"\x01" * 32)
K2 = keys.to_base64(b"\x02" * 32)
FULL_CLI = cli.main


class FakeDaemon:
    """Answers every request with ``reply`` and records it; a connection that
    sends nothing (the probe finding a live daemon) is only accepted."""

    def __init__(self, path: str):
        self.reply = b"errno=0\n\n"
        self.requests: list[bytes] = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                request = b""
                for line in lines:  # up to the blank line that ends a request, or the end
                    request += line
                    if line == b"\n":
                        break
                if request:
                    self.requests.append(request)
                    conn.sendall(self.reply)

    def close(self) -> None:
        self.srv.shutdown(socket.SHUT_RDWR)
        self.srv.close()
        self.thread.join(10)


@pytest.fixture
def rundir(tmp_path, monkeypatch):
    """Our daemons' run directory, for the short path and the full CLI alike."""
    directory = str(tmp_path)
    monkeypatch.setattr(dispatch, "SOCK_DIR", directory)
    monkeypatch.setattr(dispatch, "backends", lambda: [UAPIBackend(directories=(directory,))])
    return directory


@pytest.fixture
def daemon(rundir):
    d = FakeDaemon(paths.socket_path(NAME, rundir))
    yield d
    d.close()


def short_path(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """(exit status, stderr) of the console entry, which must take the short path
    and freeze its objects before it exits (here, not this test process's)."""

    def no_full_cli(*_args: object) -> None:
        raise AssertionError("the full CLI ran")

    frozen: list[bool] = []
    monkeypatch.setattr(sys, "argv", ["sswctl", "set", NAME, *args])
    monkeypatch.setattr(cli, "main", no_full_cli)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    with pytest.raises(SystemExit) as e:
        entry.main()
    assert frozen == [True]
    return e.value.code, capsys.readouterr().err


def full_cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        FULL_CLI(["set", NAME, *args])
    return e.value.code, capsys.readouterr().err


def test_good_input_sends_what_the_full_cli_sends(daemon, tmp_path, monkeypatch, capsys):
    priv, psk = tmp_path / "priv", tmp_path / "psk"
    priv.write_text(keys.to_base64(keys.generate_private_key()) + "\n")
    psk.write_text(keys.to_base64(keys.generate_preshared_key()) + "\n")
    good = [
        ["peer", K1, "allowed-ips", "10.255.255.1/32,fd00:ffff::1/128"],
        ["peer", K1, "remove"],
        ["listen-port", "51821", "fwmark", "0x10", "peer", K1, "endpoint", "192.0.2.1:51820",
         "persistent-keepalive", "25", "update-only", "peer", K2, "endpoint", "[fd00::2]:7", "allowed-ips", ""],
        ["private-key", str(priv), "peer", K2, "preshared-key", str(psk), "name", "alice"],
        ["private-key", os.devnull, "protocol", "wireguard", "cipher", "chacha20-poly1305"],  # remove the key
        ["peer", K1, "endpoint", "localhost:51820"],  # resolved before it is sent
        [],
    ]
    for args in good:
        assert short_path(args, monkeypatch, capsys) == (0, ""), args
        assert full_cli(args, capsys) == (0, ""), args
        assert len(daemon.requests) == 2 and daemon.requests[0] == daemon.requests[1], args
        if args == ["peer", K1, "remove"]:
            assert daemon.requests[0] == f"set=1\npublic_key={'01' * 32}\nremove=true\n\n".encode()
        daemon.requests.clear()


BAD_ARGS = [
    ["listen-port", "99999"],
    ["fwmark", "nope"],
    ["peer", "not-a-key"],
    ["peer"],
    ["peer", K1, "allowed-ips", "10.0.0.0/33"],
    ["peer", K1, "endpoint", "1.2.3.4"],
    ["peer", K1, "peer", K1],
    ["protocol", "wireguard", "cipher", "aes-256-gcm"],
    ["private-key", "/nonexistent/key"],
    ["bogus"],
    ["-h"],
    ["--", "remove"],
]


@pytest.mark.parametrize("args", BAD_ARGS, ids=[" ".join(a) for a in BAD_ARGS])
def test_bad_input_is_refused_as_the_full_cli_refuses_it_and_nothing_is_sent(daemon, args, monkeypatch, capsys):
    short = short_path(args, monkeypatch, capsys)
    assert short == full_cli(args, capsys)
    assert short[0] == 2 and short[1].startswith("<args>:") and short[1].count("\n") == 1, short
    assert daemon.requests == []


@pytest.mark.parametrize("reply, status, message", [
    (b"errno=-22\n\n", 2, f"sswctl: {NAME}: daemon refused the change (Invalid argument)\n"),
    (b"errno=-12\n\n", 1, f"sswctl: {NAME}: daemon refused the change (Cannot allocate memory)\n"),
    (b"errno=x\n\n", 1, "sswctl: malformed set reply\n"),
], ids=["refused", "out of memory", "malformed reply"])
def test_a_daemons_answer_is_reported_as_the_full_cli_reports_it(daemon, reply, status, message, monkeypatch,
                                                                  capsys):
    daemon.reply = reply
    args = ["peer", K1, "remove"]
    assert short_path(args, monkeypatch, capsys) == full_cli(args, capsys) == (status, message)


def test_no_daemon_or_a_stale_socket_leaves_it_to_the_full_cli(rundir, capsys):
    assert entry._set(NAME, ["peer", K1, "remove"]) is None
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(paths.socket_path(NAME, rundir))
    stale.close()  # the file stays and nobody listens: a daemon killed with SIGKILL
    assert entry._set(NAME, ["peer", K1, "remove"]) is None
    assert entry._set("not/a/name", ["peer", K1, "remove"]) is None
    assert capsys.readouterr() == ("", "")


# The console entry in a fresh interpreter; argv[1] is our daemons' run directory.
ENTRY = """
import atexit, sys
atexit.register(lambda: sys.stderr.write(" ".join(sorted(sys.modules))))
from sswctl.ipc import dispatch
dispatch.SOCK_DIR = sys.argv[1]
sys.argv = ["sswctl", *sys.argv[2:]]
from sswctl.main import main
main()
"""
# What `sswctl set` spent most of its 57 ms importing.
SLOW = {"click", "sswctl.cli", "sswctl.ipc.genl", "sswctl.ipc.rtnl", "sswctl.ipc.genl_schema", "dataclasses",
        "inspect", "typing", "socket", "subprocess", "cryptography"}


def test_the_short_path_imports_none_of_what_made_set_slow(daemon, rundir):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", ENTRY, rundir, "set", NAME, "peer", K1, "allowed-ips", "10.0.0.1/32"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    loaded = set(r.stderr.split())
    assert "sswctl.commands.set" in loaded and not loaded & SLOW, sorted(loaded & SLOW)
    assert daemon.requests == [f"set=1\npublic_key={'01' * 32}\nreplace_allowed_ips=true\n"
                               "allowed_ip=10.0.0.1/32\n\n".encode()]
