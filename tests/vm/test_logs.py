"""The module's kernel log lines: every one carries the `secureswift: ` prefix users grep for,
and the rate-limited debug lines (drops by reason, handshake upcalls, key installs, endpoint
changes) appear only once dynamic debug is switched on for the module."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import in_netns, load_module, run, unique

from sswctl import keys
from sswctl.ipc.genl import GenlBackend
from sswctl.model import Device

CONTROL = Path("/sys/kernel/debug/dynamic_debug/control")


def kernel_log() -> str:
    return subprocess.run(["dmesg"], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def dyndbg():
    """Dynamic debug for the module on for the test, off again after it."""
    if not CONTROL.parent.exists():
        run("mount", "-t", "debugfs", "none", "/sys/kernel/debug", check=False)
    assert CONTROL.exists(), "the kernel has no dynamic debug (CONFIG_DYNAMIC_DEBUG)"
    CONTROL.write_text("module secureswift +p\n")
    yield
    CONTROL.write_text("module secureswift -p\n")


def test_device_messages_carry_the_prefix(ssw_link):
    name = ssw_link()
    assert f"secureswift: {name}: interface created" in kernel_log()
    run("ip", "link", "del", name)
    assert f"secureswift: {name}: interface destroyed" in kernel_log()


def drop_lines(name: str) -> list[str]:
    return [ln for ln in kernel_log().splitlines() if f"secureswift: {name}: packet dropped:" in ln]


def test_drops_are_logged_by_reason_only_with_dynamic_debug(netns, request):
    load_module()
    ns, name, port = netns(), unique("sswl"), 52411
    run("ip", "-n", ns, "link", "set", "lo", "up")
    run("ip", "-n", ns, "link", "add", name, "type", "secureswift")
    with in_netns(ns):
        GenlBackend().set_device(Device(name=name, private_key=keys.clamp(os.urandom(32)),
                                        listen_port=port, peers=[]))
    run("ip", "-n", ns, "link", "set", name, "up")

    def junk(n: int) -> None:
        with in_netns(ns):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for _ in range(n):
                    s.sendto(b"\x07\x00\x00\x00not a message", ("127.0.0.1", port))

    def rx_dropped() -> int:
        return int(run("cat", f"/sys/class/net/{name}/statistics/rx_dropped", netns=ns).stdout)

    # Off by default: the drops are counted, not logged.
    junk(5)
    deadline = time.monotonic() + 30
    while rx_dropped() < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rx_dropped() >= 5
    assert drop_lines(name) == []

    # On: the drop is logged with its reason. net_ratelimit() is shared by the whole kernel
    # (10 lines per 5 s): send a few, over more than one rate-limit interval if need be.
    dyndbg = request.getfixturevalue("dyndbg")
    del dyndbg
    deadline = time.monotonic() + 60
    while not drop_lines(name) and time.monotonic() < deadline:
        junk(3)
        time.sleep(1)
    lines = drop_lines(name)
    assert lines, "no drop line with dynamic debug on"
    assert "packet dropped: unknown message type or size" in lines[0]
