"""The module's load-time self-tests (module parameter selftest=1, which every load here sets)."""

from __future__ import annotations

import os

from conftest import load_module, run, unload_module


def kernel_log() -> str:
    return run("dmesg").stdout


def test_allowedips_lookup_selftest_passes_at_load():
    load_module()
    unload_module()
    before = kernel_log().count("allowedips self-test: pass")
    load_module()
    log = kernel_log()
    assert log.count("allowedips self-test: pass") == before + 1
    assert "allowedips self-test: FAIL" not in log
    assert open("/sys/module/secureswift/parameters/selftest").read().strip() == "Y"


TIMER_KNOBS = {"rekey_after_time", "reject_after_time", "keepalive_timeout", "zero_keys_after_time"}


def module_params(ko: str) -> set[str]:
    return {line.split(":", 1)[0] for line in run("modinfo", "-F", "parm", ko).stdout.splitlines() if line}


def test_shipped_module_cannot_change_the_protocol_times():
    """The protocol times are knobs of the test build only: the module DKMS ships has
    no parameter that could extend a key's lifetime."""
    shipped, test_build = os.environ["SSW_KO_SHIPPED"], os.environ["SSW_KO"]
    assert shipped != test_build
    assert module_params(shipped) & TIMER_KNOBS == set()
    assert module_params(shipped) == {"selftest"}
    assert module_params(test_build) >= TIMER_KNOBS
