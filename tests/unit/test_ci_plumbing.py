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
