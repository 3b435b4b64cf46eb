"""The module's load-time self-tests (module parameter selftest=1, which every load here sets)."""

from __future__ import annotations

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
