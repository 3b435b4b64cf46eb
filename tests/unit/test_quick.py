"""The undo journal behind `sswctl up`'s rollback and `sswctl down` (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sswctl.errors import RuntimeFailure
from sswctl.paths import netns_inode
from sswctl.quick.journal import Journal
from sswctl.quick.netconf import run, run_hooks


def journal_path(state_dir: Path, iface: str) -> Path:
    """`ssw9.quick` in pid 1's network namespace, `ssw9@net-INODE.quick` elsewhere (or where
    pid 1's namespace cannot be read, as in some containers)."""
    try:
        if netns_inode("/proc/1/ns/net") == netns_inode():
            return state_dir / f"{iface}.quick"
    except OSError:
        pass
    return state_dir / f"{iface}@net-{netns_inode()}.quick"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "run"
    monkeypatch.setenv("SSW_STATE_DIR", str(d))
    return d


def test_journal_is_persisted_0600_after_every_step(state_dir: Path):
    j = Journal("ssw9", "/etc/secureswift/ssw9.conf")
    j.add({"kind": "cmd", "argv": ["true"]})
    path = journal_path(state_dir, "ssw9")
    assert Path(j.path) == path
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(state_dir).st_mode & 0o777 == 0o700
    again = Journal.load("ssw9")
    assert again.config_path == "/etc/secureswift/ssw9.conf" and again.steps == j.steps


def test_undo_runs_newest_first_past_failures_then_forgets(tmp_path: Path, state_dir: Path, capsys):
    log = tmp_path / "order"
    j = Journal("ssw9")
    for i in range(3):
        j.add({"kind": "cmd", "argv": ["sh", "-c", f"echo {i} >> {log}"]})
    j.add({"kind": "cmd", "argv": ["false"]})  # the newest step fails: the rest still runs
    j.undo()
    assert log.read_text().split() == ["2", "1", "0"]
    assert "warning" in capsys.readouterr().err
    assert not journal_path(state_dir, "ssw9").exists() and Journal.load("ssw9") is None


def test_hooks_replace_percent_i_and_fail_loudly(tmp_path: Path):
    out = tmp_path / "hook"
    run_hooks([f"echo %i-%i > {out}"], "ssw9")
    assert out.read_text() == "ssw9-ssw9\n"
    with pytest.raises(RuntimeFailure, match="hook `exit 3` failed with exit 3"):
        run_hooks(["exit 3"], "ssw9")
    run_hooks(["exit 3"], "ssw9", check=False)  # teardown hooks: errors do not stop teardown


def test_failed_command_reports_its_stderr():
    with pytest.raises(RuntimeFailure, match="no-such-option"):
        run(["ip", "--no-such-option"], quiet=True)
    with pytest.raises(RuntimeFailure, match="command not found"):
        run(["/nonexistent/tool"], quiet=True)
