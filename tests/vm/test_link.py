"""The secureswift netdev through rtnetlink: create, delete, MTU, namespaces, unload."""

from __future__ import annotations

import json

from conftest import link_exists, load_module, module_loaded, run, unique, unload_module


def link_info(name: str, netns: str | None = None) -> dict:
    return json.loads(run("ip", "-d", "-j", "link", "show", "dev", name, netns=netns).stdout)[0]


def test_create_and_delete_with_ip_link(ssw_link):
    name = ssw_link()
    info = link_info(name)
    assert info["linkinfo"]["info_kind"] == "secureswift"
    assert info["mtu"] == 1420  # 1500 minus the data overhead over IPv6
    assert "POINTOPOINT" in info["flags"] and "NOARP" in info["flags"]
    run("ip", "link", "set", name, "up")
    assert "UP" in link_info(name)["flags"]
    run("ip", "link", "del", name)
    assert not link_exists(name)


def test_mtu_limits(ssw_link):
    name = ssw_link()
    run("ip", "link", "set", name, "mtu", "1280")
    assert link_info(name)["mtu"] == 1280
    assert link_info(name)["min_mtu"] == 68
    assert link_info(name)["max_mtu"] == 65535 - 80
    for bad in ("67", str(65535 - 79)):
        cp = run("ip", "link", "set", name, "mtu", bad, check=False)
        assert cp.returncode != 0, f"MTU {bad} was accepted"
    assert link_info(name)["mtu"] == 1280


def test_two_devices_are_independent(ssw_link):
    a, b = ssw_link(), ssw_link()
    run("ip", "link", "del", a)
    assert link_exists(b) and not link_exists(a)


def test_move_between_namespaces(ssw_link, netns):
    name, ns = ssw_link(), netns()
    run("ip", "link", "set", name, "netns", ns)
    assert not link_exists(name)
    assert link_info(name, netns=ns)["linkinfo"]["info_kind"] == "secureswift"
    run("ip", "link", "set", name, "up", netns=ns)
    # Deleting the namespace the device now lives in deletes the device.
    run("ip", "netns", "del", ns)
    assert not link_exists(name)


def test_device_outlives_its_creating_namespace(netns):
    """Created in A, moved to the root namespace: deleting A leaves the device (configurable,
    deletable), but it cannot come up any more: its UDP sockets lived in A. WireGuard
    answers the same ENONET."""
    load_module()
    ns, name = netns(), unique("sswc")
    run("ip", "link", "add", name, "type", "secureswift", netns=ns)
    run("ip", "link", "set", name, "netns", "1", netns=ns)
    run("ip", "netns", "del", ns)
    try:
        assert link_info(name)["linkinfo"]["info_kind"] == "secureswift"
        cp = run("ip", "link", "set", name, "up", check=False)
        assert cp.returncode != 0 and "Machine is not on the network" in cp.stderr
        run("ip", "link", "set", name, "mtu", "1300")
    finally:
        run("ip", "link", "del", name)


def test_module_unload_with_devices_present(netns):
    """rmmod takes every secureswift device down with it, in every namespace."""
    load_module()
    ns = netns()
    here, there = unique("sswu"), unique("sswu")
    run("ip", "link", "add", here, "type", "secureswift")
    run("ip", "link", "add", there, "type", "secureswift", netns=ns)
    run("ip", "link", "set", here, "up")
    unload_module()
    assert not module_loaded()
    assert not link_exists(here)
    assert not link_exists(there, netns=ns)
    load_module()
    assert module_loaded()
