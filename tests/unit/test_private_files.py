"""Every file sswctl and its daemon write (locks, sockets, journals, key and
config files, timestamp state) refuses a symlink planted at its path and
leaves the link's target untouched; the directories they live in are
checked even when they exist (a group/world-writable or foreign-owned one is
refused with a message naming it); the UAPI socket is 0600 from the moment
it is bound. Real files and sockets in a temporary directory."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from sswctl import keys
from sswctl.commands import init
from sswctl.daemon import uapi_server
from sswctl.daemon.lock import InterfaceLock
from sswctl.daemon.stamps import TimestampFile
from sswctl.files import UnsafePathError, write_atomic
from sswctl.paths import journal_path, lock_path, stamps_path
from sswctl.quick.journal import Journal


@pytest.fixture
def d(tmp_path):
    p = tmp_path / "run"
    p.mkdir(mode=0o700)
    return p


def plant(path, tmp_path):
    """A symlink at ``path`` to a file that must stay as it is."""
    target = tmp_path / "precious"
    target.write_bytes(b"precious")
    os.symlink(target, path)
    return target


def writers(d):
    """(path, write-it) for each kind of file, in directory ``d``."""
    os.environ["SSW_STATE_DIR"] = str(d)
    return [
        (Path(lock_path("ssw0", str(d))), lambda: InterfaceLock(str(d), "ssw0")),
        (Path(stamps_path("ssw0", str(d))), lambda: TimestampFile(str(d), "ssw0")),
        (d / "ssw0.sock", lambda: uapi_server.bind_unix(str(d / "ssw0.sock"))),
        (Path(journal_path("ssw0")), lambda: Journal("ssw0", None, []).save()),
        (d / "ssw0.conf", lambda: keys.write_secret_file(str(d / "ssw0.conf"), "[Interface]\n")),
        (d / "key", lambda: write_atomic(str(d / "key"), b"k" * 44)),
    ]


@pytest.mark.parametrize("which", range(6), ids=["lock", "stamps", "socket", "journal", "config", "key"])
def test_a_planted_symlink_is_refused_and_its_target_untouched(d, tmp_path, which, monkeypatch):
    monkeypatch.setenv("SSW_STATE_DIR", str(d))
    path, write = writers(d)[which]
    if path.name.endswith(".quick"):
        path = d / os.path.basename(Journal("ssw0").path)
    target = plant(path, tmp_path)
    mode = target.stat().st_mode
    with pytest.raises((UnsafePathError, OSError)) as e:
        write()
    assert str(path) in str(e.value)
    assert target.read_bytes() == b"precious" and target.stat().st_mode == mode
    assert os.path.islink(path)


@pytest.mark.parametrize("which", range(4), ids=["lock", "stamps", "socket", "journal"])
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_group_or_world_writable_directory_is_refused(d, which, mode, monkeypatch):
    monkeypatch.setenv("SSW_STATE_DIR", str(d))
    os.chmod(d, mode)
    path, write = writers(d)[which]
    with pytest.raises(UnsafePathError, match=f"{d}: writable by group or others"):
        write()
    assert os.listdir(d) == []


def test_init_refuses_a_world_writable_config_dir(d, monkeypatch):
    monkeypatch.setattr(init, "CONFIG_DIR", str(d))
    os.chmod(d, 0o777)
    with pytest.raises(UnsafePathError, match="writable by group or others"):
        init._write_new(str(d / "ssw0.conf"), "[Interface]\n", force=False)
    assert os.listdir(d) == []


def test_a_foreign_owned_directory_is_refused(d):
    os.chown(d, 12345, 12345)
    with pytest.raises(UnsafePathError, match="owned by uid 12345"):
        InterfaceLock(str(d), "ssw0")


def test_a_symlinked_directory_is_refused(d, tmp_path):
    link = tmp_path / "linkdir"
    os.symlink(d, link)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        InterfaceLock(str(link), "ssw0")


def test_a_missing_directory_is_created_0700(tmp_path):
    lock = InterfaceLock(str(tmp_path / "new" / "run"), "ssw0")
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "run").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(lock.path).st_mode) == 0o600
    lock.release()


def test_the_uapi_socket_is_0600_at_bind(d, monkeypatch):
    seen = []

    class Watched(socket.socket):
        def bind(self, addr):
            super().bind(addr)
            seen.append(stat.S_IMODE(os.lstat(addr).st_mode))  # before anything else runs

    monkeypatch.setattr(uapi_server.socket, "socket", Watched)
    monkeypatch.setattr(os, "chmod", None)  # a chmod after bind would fail the test
    s = uapi_server.bind_unix(str(d / "ssw0.sock"))
    s.close()
    assert seen == [0o600]


def test_atomic_writes_leave_0600_files_and_no_temporaries(d):
    keys.write_secret_file(str(d / "a.conf"), "x")
    os.chmod(d / "a.conf", 0o644)
    keys.write_secret_file(str(d / "a.conf"), "y")
    assert (d / "a.conf").read_text() == "y" and stat.S_IMODE((d / "a.conf").stat().st_mode) == 0o600
    assert sorted(os.listdir(d)) == ["a.conf"]
