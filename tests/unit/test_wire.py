"""sswctl/wire.py is the one source of the wire constants: the generated C header
must match it, and no other C file may spell one of them again."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from sswctl import wire as W
from sswctl.protocol.modes import mode_for

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "secureswift_kmod" / "wire.h"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_genl", ROOT / "tools" / "gen_genl.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _defines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#define (SSW_\w+) (\S+)", text, re.M))


def _c_constants() -> dict[str, object]:
    """C name -> value, for every constant the header carries."""
    gen = _generator().gen_wire
    return {gen.c_name(name): getattr(W, name) for kind, name, _, _ in gen.entries() if kind == "const"}


def test_wire_header_in_tree_is_fresh():
    gen = _generator()
    assert HEADER in gen.outputs()
    assert HEADER not in gen.stale(), "secureswift_kmod/wire.h is stale: run tools/gen_genl.py"


def test_check_mode_detects_a_changed_constant(tmp_path, monkeypatch):
    gen = _generator()
    copy = tmp_path / "wire.h"
    copy.write_text(gen.outputs()[HEADER])
    monkeypatch.setattr(gen, "outputs", lambda: {copy: HEADER.read_text()})
    assert gen.stale() == []
    copy.write_text(copy.read_text().replace("#define SSW_REKEY_AFTER_TIME 120", "#define SSW_REKEY_AFTER_TIME 121"))
    assert gen.stale() == [copy]
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main(["--check"]) == 1


def test_header_values_equal_the_python_values():
    defines = _defines(HEADER.read_text())
    for c_name, value in _c_constants().items():
        text = defines[c_name]
        if isinstance(value, bytes):
            assert text == '"' + value.decode() + '"', c_name
        else:
            assert int(text.removesuffix("ULL"), 0) == value, c_name
    assert "SSW_REKEY_TIMEOUT_JITTER_MAX" not in defines  # Python only: a fraction


def test_every_constant_has_a_comment_and_a_unique_c_name():
    gen = _generator().gen_wire
    consts = [(name, comment) for kind, name, comment, _ in gen.entries() if kind == "const"]
    assert all(comment for _, comment in consts)
    names = [gen.c_name(name) for name, _ in consts]
    assert len(set(names)) == len(names)
    # the key length the UAPI header already names is not defined twice
    assert "SSW_KEY_LEN" not in names


def test_message_types_of_the_two_modes_never_collide():
    wg, ssw = mode_for("wireguard"), mode_for("secureswift")
    assert wg.types == (1, 2, 3, 4) and ssw.types == (0x11, 0x12, 0x13, 0x14)
    assert not set(wg.types) & set(ssw.types)


def test_handshake_table_matches_the_modes_and_the_field_sizes():
    for mode in (mode_for("wireguard"), mode_for("secureswift")):
        table = {getattr(W, t): getattr(W, n) for t, n in W.HANDSHAKE_LEN_TABLE[
            "WG_TYPE_DATA" if mode.protocol.value == "wireguard" else "SSW_TYPE_DATA"]}
        assert table == {mode.type_initiation: mode.initiation_len, mode.type_response: mode.response_len,
                         mode.type_cookie: W.COOKIE_REPLY_LEN}
    assert (W.WG_INITIATION_LEN, W.WG_RESPONSE_LEN, W.COOKIE_REPLY_LEN) == (148, 92, 64)
    assert W.SSW_INITIATION_LEN - W.WG_INITIATION_LEN == W.MLKEM768_PUBLIC_KEY_LEN
    assert W.SSW_RESPONSE_LEN - W.WG_RESPONSE_LEN == W.MLKEM768_CIPHERTEXT_LEN


def test_no_c_file_defines_a_wire_constant_again():
    """Both data planes take every wire constant from wire.h: a second
    #define of one of its names, or a label spelled out, is a copy."""
    c_names = set(_c_constants())
    labels = [v.decode() for k, v in vars(W).items() if k.startswith("LABEL_") and isinstance(v, bytes)]
    sources = [p for d in ("secureswift_kmod", "sswctl/_datapath") for p in (ROOT / d).rglob("*.[ch]")
               if p != HEADER and ".build" not in p.parts]
    assert sources
    copies = []
    for p in sources:
        text = p.read_text()
        copies += [f"{p.relative_to(ROOT)}: {n}" for n in set(_defines(text)) & c_names]
        copies += [f"{p.relative_to(ROOT)}: \"{label}\"" for label in labels if f'"{label}"' in text]
    assert not copies, copies
