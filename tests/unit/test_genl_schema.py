"""The genl schema is the one source: generated C must match it, and it must match the model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sswctl import __version__
from sswctl.ipc import genl_schema as S
from sswctl.model import Cipher, Protocol

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_genl", ROOT / "tools" / "gen_genl.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_files_in_tree_are_fresh():
    gen = _generator()
    stale = [str(p.relative_to(ROOT)) for p in gen.stale()]
    assert not stale, f"stale generated files, run tools/gen_genl.py: {stale}"


def test_check_mode_detects_a_stale_file(tmp_path, monkeypatch):
    gen = _generator()
    outs = gen.outputs()
    fake = {tmp_path / p.name: text for p, text in outs.items()}
    for p, text in fake.items():
        p.write_text(text)
    monkeypatch.setattr(gen, "outputs", lambda: fake)
    assert gen.stale() == []
    victim = tmp_path / "secureswift.h"
    victim.write_text(victim.read_text().replace("SSWPEER_A_FLAGS,", "SSWPEER_A_FLAGZ,"))
    assert gen.stale() == [victim]


def test_uapi_numbers_follow_schema_positions():
    text = (ROOT / "secureswift_kmod" / "uapi" / "secureswift.h").read_text()
    for s in S.ATTRSETS:
        names = [ln.strip().rstrip(",") for ln in text.splitlines() if ln.strip().startswith(s.prefix)]
        assert names == [f"{s.prefix}UNSPEC"] + [f"{s.prefix}{a.name}" for a in s.attrs]


def test_command_numbers_are_unique_and_dense():
    assert sorted(c.number for c in S.COMMANDS) == list(range(len(S.COMMANDS)))
    assert S.command("GET_DEVICE").number == 0 and S.command("SET_DEVICE").number == 1


def test_enums_cover_the_model_exactly():
    proto = S.enum_by_name("ssw_protocol")
    cipher = S.enum_by_name("ssw_cipher")
    assert set(proto.model_values) == {p.value for p in Protocol}
    assert set(cipher.model_values) == {c.value for c in Cipher}


def test_flag_values_match_wireguard_where_shared():
    # Same bits as include/uapi/linux/wireguard.h so the semantics carry over.
    assert S.flagset("device").value("REPLACE_PEERS") == 1
    peer = S.flagset("peer")
    assert (peer.value("REMOVE_ME"), peer.value("REPLACE_ALLOWEDIPS"), peer.value("UPDATE_ONLY")) == (1, 2, 4)


def test_every_binary_and_string_attribute_is_bounded():
    for s in S.ATTRSETS:
        for a in s.attrs:
            if a.type is S.T.BINARY:
                assert a.exact_len or (a.min_len and a.max_len), f"{s.prefix}{a.name}"
            if a.type is S.T.STRING:
                assert a.max_len, f"{s.prefix}{a.name}"
            if a.type is S.T.NESTED_ARRAY:
                assert S.attrset(a.nested)


def test_dkms_and_module_version_follow_the_python_package():
    dkms = (ROOT / "secureswift_kmod" / "dkms.conf").read_text()
    assert f'PACKAGE_VERSION="{__version__}"' in dkms
    uapi = (ROOT / "secureswift_kmod" / "uapi" / "secureswift.h").read_text()
    assert f'#define SSW_MODULE_VERSION "{__version__}"' in uapi
