"""sswctl.paths: per-interface file names carry the network namespace outside pid 1's."""

from __future__ import annotations

import os

import pytest

from sswctl import paths


@pytest.fixture
def pid1_netns(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pretend pid 1's namespace has inode 100 (ours may or may not be it)."""
    real = paths.netns_inode

    def inode(path: str = "/proc/self/ns/net") -> int:
        return 100 if path == "/proc/1/ns/net" else real(path)

    monkeypatch.setattr(paths, "netns_inode", inode)
    return 100


def test_names_are_plain_in_pid1_namespace_and_tagged_elsewhere(pid1_netns):
    assert paths.socket_path("ssw0", "/d", netns=100) == "/d/ssw0.sock"
    assert paths.lock_path("ssw0", "/d", netns=7) == "/d/ssw0@net-7.lock"
    assert paths.stamps_path("ssw0", "/d", netns=7) == "/d/ssw0@net-7.stamps"
    assert paths.wg_socket_path("ssw0") == os.path.join(paths.WG_SOCK_DIR, "ssw0.sock")  # one for all


def test_listing_shows_only_the_namespace_asked_for(tmp_path, pid1_netns):
    for entry in ("ssw0.sock", "ssw1.sock", "ssw0@net-7.sock", "x@net-8.sock", "ssw0.lock", ".sock"):
        (tmp_path / entry).touch()
    assert paths.device_names(str(tmp_path), paths.SOCK, netns=100) == ["ssw0", "ssw1"]
    assert paths.device_names(str(tmp_path), paths.SOCK, netns=7) == ["ssw0"]
    assert paths.device_names(str(tmp_path), paths.SOCK, netns=9) == []
    assert paths.device_names(str(tmp_path / "missing"), paths.SOCK) == []


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a b", "a:b", "x" * 16, "x@net-7", "@net-4026531840"])
def test_names_the_kernel_refuses_or_that_read_as_another_namespace_are_invalid(name):
    with pytest.raises(paths.InvalidName):
        paths.check_ifname(name)


@pytest.mark.parametrize("name", ["ssw0", "x" * 15, "a@b", "wg.1", "net-7"])
def test_ordinary_names_are_valid(name):
    assert paths.check_ifname(name) == name
