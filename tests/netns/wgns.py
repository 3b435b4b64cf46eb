"""One throwaway network namespace with one wireguard-go interface, for tests that
need the real `wg` tools to judge something (config acceptance, showconf).

`hosts` maps names to addresses through /etc/netns/NS/hosts, which
`ip netns exec` bind-mounts over /etc/hosts for that namespace only.
Everything is removed by close(): wireguard-go stopped by its PID, the
namespace deleted, the /etc/netns entry and the UAPI socket removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sswctl.errors import ConfigError
from sswctl.paths import WG_SOCK_DIR


def need(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (make deps installs it)")
    return path


class WgNamespace:
    def __init__(self, prefix: str, hosts: dict[str, str] | None = None) -> None:
        tag = f"{os.getpid() % 100000}"
        self.ns = f"{prefix}{tag}"
        self.iface = f"{prefix[:5]}{tag}"[:15]
        self.etc = Path("/etc/netns") / self.ns
        self.hosts = hosts or {}
        self.proc: subprocess.Popen | None = None

    def run(self, *cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *cmd], capture_output=True, text=True, timeout=60, check=check, input=input
        )

    def start(self) -> None:
        wg_go = need("wireguard-go")
        need("wg")
        subprocess.run(["ip", "netns", "add", self.ns], check=True, capture_output=True)
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "hosts").write_text(
            "127.0.0.1 localhost\n" + "".join(f"{ip} {name}\n" for name, ip in self.hosts.items())
        )
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "env", "WG_PROCESS_FOREGROUND=1", wg_go, self.iface],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        sock = Path(WG_SOCK_DIR) / f"{self.iface}.sock"
        deadline = time.monotonic() + 20
        while not sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"wireguard-go did not start: {self.proc.stdout.read() if self.proc.poll() else ''}"
                )
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.etc, ignore_errors=True)
        (Path(WG_SOCK_DIR) / f"{self.iface}.sock").unlink(missing_ok=True)


def namespace_fixture(prefix: str, hosts: Callable[[], dict[str, str]] | None = None):
    """A module-scoped pytest fixture yielding a started WgNamespace, closed afterwards."""

    @pytest.fixture(scope="module")
    def fixture():
        if os.geteuid() != 0:
            pytest.skip("needs root (network namespaces)")
        ns = WgNamespace(prefix, hosts() if hosts else None)
        try:
            ns.start()
            yield ns
        finally:
            ns.close()

    return fixture


def judge(ns: WgNamespace, wg_args: list[str], ours: Callable[[], object]) -> tuple[bool, bool]:
    """(does `wg ARGS` succeed, does ``ours()`` return without ConfigError)."""
    wg_ok = ns.run("wg", *wg_args, check=False).returncode == 0
    try:
        ours()
    except ConfigError:
        return wg_ok, False
    return wg_ok, True
