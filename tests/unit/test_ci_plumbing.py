"""The CI rules enforced by tests/conftest.py and the Makefile, run for real."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def run_pytest(tmp_path, body: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(body)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.conftest",
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "SSW_FAIL_ON_SKIP": "0", **env},
    )


SKIPPING = "import pytest\n\ndef test_ok():\n    pass\n\ndef test_skipped():\n    pytest.skip('no tool')\n"


def test_skips_fail_the_run_when_ci_asks(tmp_path):
    assert run_pytest(tmp_path, SKIPPING).returncode == 0
    strict = run_pytest(tmp_path, SKIPPING, SSW_FAIL_ON_SKIP="1")
    assert strict.returncode == 1, strict.stdout
    assert "1 test(s) skipped; failing the run" in strict.stdout


def test_a_layer_without_tests_fails(tmp_path):
    assert run_pytest(tmp_path, "# no tests here\n").returncode == 5


def test_make_test_runs_each_existing_layer():
    dry = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for layer in ("unit", "netns", "vm"):
        assert (f"tests/{layer}" in dry) == (REPO / "tests" / layer).is_dir(), layer
    assert "pytest -q tests/unit" in dry


def test_make_test_vm_runs_the_ci_matrix():
    """make test-vm (what make test and CI run): the whole suite on the oldest kernel,
    the core subset on the others; KERNEL=... runs the whole suite on that one."""
    dry = subprocess.run(["make", "-n", "test-vm"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "tests/vm/run-kernels.sh 6.1 6.12:core 7.2:core debug:core" in dry
    one = subprocess.run(["make", "-n", "test-vm", "KERNEL=7.2"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert "tests/vm/run-kernels.sh 7.2\n" in one


FAKE_RUN_VM = """#!/bin/bash
echo "$*" >>"$CALLS"
[ "$1" != "${FAIL_ON:-none}" ]
"""


def run_kernels(tmp_path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    fake = tmp_path / "run-vm"
    fake.write_text(FAKE_RUN_VM)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    cp = subprocess.run([str(REPO / "tests/vm/run-kernels.sh"), *args], capture_output=True, text=True,
                        env={**os.environ, "RUN_VM": str(fake), "CALLS": str(calls), **env})
    return cp, sorted(calls.read_text().splitlines())


def test_run_kernels_gives_core_runs_the_core_subset(tmp_path):
    cp, calls = run_kernels(tmp_path, "6.1", "6.12:core", "-x", VM_CORE_K="test_a or test_b")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert calls == ["6.1 -x", "6.12 -k test_a or test_b -x"]
    assert "== VM run 6.12:core:" in cp.stdout


def test_run_kernels_fails_when_one_run_fails(tmp_path):
    cp, calls = run_kernels(tmp_path, "6.1", "6.12", FAIL_ON="6.12")
    assert cp.returncode == 1
    assert calls == ["6.1", "6.12"]
    assert "!! VM suite failed on 6.12" in cp.stdout and "failed on 6.1 " not in cp.stdout


def test_run_kernels_refuses_a_core_run_without_the_subset(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VM_CORE_K"}
    cp = subprocess.run([str(REPO / "tests/vm/run-kernels.sh"), "6.1:core"], capture_output=True, text=True,
                        env={**env, "RUN_VM": "/bin/false"})
    assert cp.returncode == 2 and "needs VM_CORE_K" in cp.stderr


def test_a_kernel_cache_the_guest_cannot_see_is_refused():
    """virtme-ng mounts tmpfs over /tmp and /var/tmp in the guest: a kernel cache there
    would leave the guest without its modules, so kernel-info.sh says so at once."""
    for cache in ("/var/tmp/kernels", "/tmp/k"):
        cp = subprocess.run([str(REPO / "tests/vm/kernel-info.sh"), "7.2"], capture_output=True, text=True,
                            env={**os.environ, "SSW_KERNEL_CACHE": cache})
        assert cp.returncode == 2 and "hidden from the guest" in cp.stderr, cp.stderr
        assert cp.stdout == ""
