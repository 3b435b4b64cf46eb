"""Shared pytest setup for every test layer.

- Tests marked ``root`` (network namespaces, TUN, wireguard-go) skip with a
  reason when not run as root; ``make test`` runs as root, so they run there.
- ``SSW_FAIL_ON_SKIP=1`` (set by ``.ci/run``) turns any skipped test into a
  failed run: on a machine prepared by ``make deps`` nothing may skip.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def in_netns(name: str):
    """Run the block in network namespace ``name`` (this thread only; netlink and UDP
    sockets opened inside stay in it, subprocesses started inside run in it)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        yield
    finally:
        if _libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(target)
        os.close(home)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (network namespaces); run via `make test` as root")
    for item in items:
        if item.get_closest_marker("root"):
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("SSW_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"SSW_FAIL_ON_SKIP=1: {len(skipped)} test(s) skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def need_binary(name: str) -> str:
    """Absolute path of a program the test needs, or skip naming the package that has it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (make deps installs it)")
    return path
