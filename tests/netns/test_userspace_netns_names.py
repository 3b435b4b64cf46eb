"""A userspace interface is a name in its network namespace, as a kernel link is.

Two namespaces each create their own ``ssw0``-like interface with the userspace
backend, configure it differently, and each sees only its own: ``show`` gives
back its own config, ``show interfaces`` lists only its own, and destroying
one leaves the other serving. The wg socket, one path for every namespace,
is refused to the second daemon that asks for it rather than taken from the
first, and is not listed in a namespace whose daemon does not serve it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest

from sswctl import keys
from sswctl.paths import lock_path, netns_inode, socket_path, stamps_path, wg_socket_path

pytestmark = [pytest.mark.root, pytest.mark.netns]

PY = sys.executable


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"{' '.join(cmd)}: rc={r.returncode} {r.stderr}"
    return r


class Namespace:
    def __init__(self, name: str):
        self.name = name
        sh("ip", "netns", "add", name)
        self.inode = netns_inode(f"/run/netns/{name}")

    def sswctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, PY, "-m", "sswctl", *args, check=check)

    def daemon_pid(self, iface: str) -> int:
        try:
            with open(lock_path(iface, netns=self.inode)) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0


@pytest.fixture
def two_namespaces():
    tag = f"{os.getpid() % 100000}"
    iface = f"ssn{tag}"
    spaces: list[Namespace] = []
    try:
        for side in "ab":
            spaces.append(Namespace(f"sswnn{tag}{side}"))
        yield iface, spaces
    finally:
        for ns in spaces:
            pid = ns.daemon_pid(iface)
            if pid > 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            sh("ip", "netns", "del", ns.name, check=False)
            for path in (lock_path(iface, netns=ns.inode), socket_path(iface, netns=ns.inode),
                         stamps_path(iface, netns=ns.inode)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def test_same_name_in_two_namespaces_each_with_its_own_daemon_and_config(two_namespaces, tmp_path):
    iface, (a, b) = two_namespaces
    private = {}
    for port, ns in ((41001, a), (41002, b)):
        ns.sswctl("create", iface, "--backend", "userspace")
        private[ns.name] = keys.generate_private_key()
        keyfile = tmp_path / f"{ns.name}.key"
        keyfile.write_text(keys.to_base64(private[ns.name]) + "\n")
        os.chmod(keyfile, 0o600)
        ns.sswctl("set", iface, "listen-port", str(port), "private-key", str(keyfile))
    assert a.daemon_pid(iface) != b.daemon_pid(iface) > 0

    for port, ns in ((41001, a), (41002, b)):
        assert ns.sswctl("show", iface, "listen-port").stdout == f"{port}\n"
        assert ns.sswctl("show", iface, "public-key").stdout == keys.to_base64(keys.public_key(private[ns.name])) + "\n"
        assert ns.sswctl("show", "interfaces").stdout.split() == [iface]

    a.sswctl("destroy", iface)
    assert a.sswctl("show", "interfaces").stdout.split() == []
    assert a.sswctl("show", iface, check=False).returncode == 1
    assert not os.path.exists(socket_path(iface, netns=a.inode))
    assert b.sswctl("show", iface, "listen-port").stdout == "41002\n"  # untouched
    assert b.sswctl("show", "interfaces").stdout.split() == [iface]


def test_wg_socket_is_refused_to_a_second_namespace_and_listed_only_in_its_own(two_namespaces):
    iface, (a, b) = two_namespaces
    a.sswctl("create", iface, "--backend", "userspace", "--wg-socket", "--listen-port", "41003")
    try:
        r = b.sswctl("create", iface, "--backend", "userspace", "--wg-socket", check=False)
        assert r.returncode == 1 and wg_socket_path(iface) in r.stderr and "another running daemon" in r.stderr
        assert a.sswctl("show", iface, "listen-port").stdout == "41003\n"  # a still serves it
        assert b.sswctl("show", "interfaces").stdout.split() == []
        # Without the wg socket, b's interface of that name starts; each namespace lists its own.
        b.sswctl("create", iface, "--backend", "userspace", "--listen-port", "41004")
        assert b.sswctl("show", iface, "listen-port").stdout == "41004\n"
        assert a.sswctl("show", iface, "listen-port").stdout == "41003\n"
        # wg in a's namespace reads a's daemon through the shared socket.
        if sh("which", "wg", check=False).returncode == 0:
            out = sh("ip", "netns", "exec", a.name, "wg", "show", iface, "listen-port").stdout
            assert out == "41003\n"
    finally:
        for ns in (a, b):
            ns.sswctl("destroy", iface, check=False)
    assert not os.path.exists(wg_socket_path(iface))
