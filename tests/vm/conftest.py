"""Fixtures for the tests that run INSIDE the QEMU guest (tests/vm/run-vm.sh).

On any other machine these tests are not collected at all: they need the
secureswift module loaded into a real kernel, which only the guest has.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import _libc, in_netns  # noqa: F401 (in_netns: for the tests here)

IN_GUEST = os.environ.get("SSW_VM_GUEST") == "1"
if not IN_GUEST:
    collect_ignore_glob = ["test_*.py"]

HERE = Path(__file__).resolve().parent
_names = itertools.count()


def run(*argv: str, check: bool = True, netns: str | None = None) -> subprocess.CompletedProcess:
    """Run a command, return its result; raise with its stderr on failure."""
    if netns:
        argv = ("ip", "netns", "exec", netns, *argv)
    cp = subprocess.run(argv, capture_output=True, text=True)
    if check and cp.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({cp.returncode}): {cp.stderr.strip()}")
    return cp


def link_exists(name: str, netns: str | None = None) -> bool:
    return run("ip", "link", "show", "dev", name, check=False, netns=netns).returncode == 0


def module_loaded() -> bool:
    return any(line.split()[0] == "secureswift" for line in Path("/proc/modules").read_text().splitlines())


def load_module() -> None:
    if not module_loaded():
        run(str(HERE / "load-module.sh"), os.environ["SSW_KO"], "selftest=1")


def unload_module() -> None:
    run("rmmod", "secureswift")




def in_new_user_namespace(fn) -> str:
    """Run ``fn()`` in a forked child that is root only in a user namespace of its own
    (no capability over this network namespace); return the string it returned."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 99
        try:
            os.close(r)
            if _libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
                code = 98
            else:
                os.write(w, fn().encode())
                code = 0
        finally:
            os._exit(code)
    os.close(w)
    out = os.read(r, 1000).decode()
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    return out


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 1000}x{next(_names)}"


@pytest.fixture
def netns():
    """Factory for network namespaces that are deleted after the test."""
    made: list[str] = []

    def make() -> str:
        name = unique("sswns")
        run("ip", "netns", "add", name)
        made.append(name)
        return name

    yield make
    for name in made:
        run("ip", "netns", "del", name, check=False)


@pytest.fixture
def ssw_link():
    """Factory for secureswift links in the root namespace, deleted after the test."""
    load_module()
    made: list[str] = []

    def make(name: str | None = None) -> str:
        name = name or unique("ssw")
        run("ip", "link", "add", name, "type", "secureswift")
        made.append(name)
        return name

    yield make
    for name in made:
        if link_exists(name):
            run("ip", "link", "del", name, check=False)
