"""WireGuard-format configuration: parser, canonical writer, strip, ``set`` argv.

Pure: text in, model out (and back). The wg part of a file is a
:class:`sswctl.model.Device`; wg-quick's keys are handed back beside it as a
:class:`sswctl.model.QuickSettings` (:func:`parse_quick`), so ``sswctl up``
sends the Device as it is, with no text round trip. The same value parsers
serve configuration files and ``sswctl set`` argument lists, so a port, key,
endpoint or allowed-IP is accepted or refused identically in both.

Rules follow wireguard-tools (``wg setconf``) and ``wg-quick``:

- ``#`` starts a comment anywhere on a line; blank lines are ignored.
- Section headers ``[Interface]`` and ``[Peer]`` and key names are
  case-insensitive; whitespace anywhere in a ``wg`` line is ignored (wg deletes
  it before parsing), CRLF line endings and tabs therefore work.
- wg-quick keys (Address, DNS, MTU, Table, PreUp, PostUp, PreDown, PostDown,
  SaveConfig) are recognised as wg-quick does: in ``[Interface]``, by the
  key trimmed of surrounding whitespace, with the value trimmed the same way
  (so commands keep their inner spaces). They are accepted only in
  ``mode=QUICK``; ``mode=SETCONF`` refuses them as ``wg setconf`` does.
  :func:`parse_config` checks them and leaves them out (what ``strip``
  needs); :func:`parse_quick` returns them.
- SecureSwift extensions: ``Protocol`` and ``Cipher`` in ``[Interface]``,
  and a peer's friendly name as a whole-line comment ``# Name = ...`` inside
  its ``[Peer]`` section (a comment, so ``wg`` itself ignores it).
- Unknown keys, keys outside a section, and two peers with the same public key
  are errors. Repeating a single-valued key keeps the last value, as wg does.

Every problem raises :class:`sswctl.errors.ConfigError` (``FILE:LINE: message``);
messages never contain key material.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence

from . import keys
from .errors import ConfigError, KeyFormatError, UsageError
from .model import (
    KEY_LEN,
    Cipher,
    Device,
    Endpoint,
    IPInterface,
    IPNetwork,
    Peer,
    Protocol,
    QuickSettings,
    bounded_decimal,
    net_text,
    network,
    parse_address,
)

SETCONF = "setconf"  # only what `wg setconf` accepts, plus Protocol/Cipher/# Name
QUICK = "quick"  # also the wg-quick keys

SPACE = keys.ASCII_SPACE
_REMOVE_SPACE = str.maketrans("", "", SPACE)


def _despace(text: str) -> str:
    """``text`` without any of wg's spaces (C isspace): ten times faster than
    translate alone for the usual line, whose only spaces are blanks."""
    out = text.replace(" ", "")
    if "\t" in out or "\r" in out or "\v" in out or "\f" in out or "\n" in out:
        out = out.translate(_REMOVE_SPACE)
    return out
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_NAME_COMMENT = re.compile(r"[ \t\v\f\r]*name[ \t\v\f\r]*=(.*)", re.IGNORECASE | re.DOTALL)

QUICK_KEYS = ("Address", "DNS", "MTU", "Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig")
_QUICK_LOWER = {k.lower(): k for k in QUICK_KEYS}


class ValueProblem(ValueError):
    """A value is malformed; the caller adds the file and line."""


# --- value parsers (shared by files and `set` argv) ---------------------------------


def _number_text(digits: str) -> str:
    """A decimal number for an error message, without leading zeros, cut short when long."""
    digits = digits.lstrip("0") or "0"
    return digits if len(digits) <= 20 else f"{digits[:12]}... ({len(digits)} digits)"


def _short(value: str) -> str:
    """A value quoted for an error message, cut short when long."""
    return repr(value) if len(value) <= 40 else f"{value[:20]!r}... ({len(value)} characters)"


def parse_port(value: str, *, allow_zero: bool = True) -> int:
    if not _DIGITS.fullmatch(value):
        raise ValueProblem(f"port must be a number from {0 if allow_zero else 1} to 65535, got {_short(value)}")
    port = bounded_decimal(value, 65535)
    if port is None or (port == 0 and not allow_zero):
        raise ValueProblem(f"port {_number_text(value)} out of range ({0 if allow_zero else 1}-65535)")
    return port


def parse_fwmark(value: str) -> int:
    """``off``, decimal, or ``0x`` hex; a 32-bit number. 0 means off."""
    if value.lower() == "off":
        return 0
    if _HEX.fullmatch(value):
        hexdigits = value[2:].lstrip("0") or "0"
        mark = int(hexdigits, 16) if len(hexdigits) <= 8 else None
    elif _DIGITS.fullmatch(value):
        mark = bounded_decimal(value, 0xFFFFFFFF)
    else:
        raise ValueProblem(f"FwMark must be off, a number or 0x-hex, got {_short(value)}")
    if mark is None:
        raise ValueProblem("FwMark does not fit in 32 bits")
    return mark


def parse_keepalive(value: str) -> int:
    """``off`` or 0-65535 seconds; 0 means off."""
    if value.lower() == "off":
        return 0
    n = bounded_decimal(value, 65535) if _DIGITS.fullmatch(value) else None
    if n is None:
        raise ValueProblem(f"PersistentKeepalive must be off or 0-65535 seconds, got {_short(value)}")
    return n


def parse_key(value: str, what: str) -> bytes:
    try:
        return keys.from_base64(value)
    except KeyFormatError as e:
        raise ValueProblem(f"{what}: {e}") from None


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if "%" in text:
        raise ValueProblem(f"scoped address not allowed here: {text!r}")
    try:
        return parse_address(text)
    except ValueError:  # also NUL or non-ASCII in the text
        raise ValueProblem(f"invalid IP address {text!r}") from None


def _parse_cidr(item: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    addr_text, slash, prefix_text = item.partition("/")
    addr = _parse_ip(addr_text)
    if not slash:
        return addr, addr.max_prefixlen
    prefix = bounded_decimal(prefix_text, addr.max_prefixlen) if _DIGITS.fullmatch(prefix_text) else None
    if prefix is None:
        raise ValueProblem(f"invalid prefix length in {_short(item)} (0-{addr.max_prefixlen})")
    return addr, prefix


def _split_list(value: str, what: str) -> list[str]:
    """Comma list; empty value = no items; an empty item is an error."""
    if not value.strip(SPACE):
        return []
    items = [v.strip(SPACE) for v in value.split(",")]
    if "" in items:
        raise ValueProblem(f"empty entry in {what} list")
    return items


def parse_allowed_ips(value: str) -> list[IPNetwork]:
    """Comma list of ``ip[/cidr]``; host bits are cleared as the kernel does."""
    nets: list[IPNetwork] = []
    for item in _split_list(value, "AllowedIPs"):
        nets.append(network(*_parse_cidr(item)))
    return nets


def parse_addresses(value: str) -> list[IPInterface]:
    out: list[IPInterface] = []
    for item in _split_list(value, "Address"):
        addr, prefix = _parse_cidr(item)
        out.append(ipaddress.ip_interface((addr, prefix)))
    return out


def _check_hostname(host: str) -> str:
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueProblem(f"invalid host name {host!r}")
    if all(label.isdigit() for label in labels):
        raise ValueProblem(f"invalid IPv4 address {host!r}")
    return host


def parse_endpoint(value: str) -> Endpoint:
    """``host:port``, ``[v6]:port`` (or bare ``v6:port`` as wg allows); hostnames stay unresolved."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueProblem("endpoint has no matching ']'")
        host, rest = value[1:end], value[end + 1 :]
        if not rest.startswith(":") or len(rest) == 1:
            raise ValueProblem("endpoint has no port (write [v6]:port)")
        port_text = rest[1:]
        try:
            ip: ipaddress.IPv6Address | ipaddress.IPv4Address = ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueProblem(f"invalid IPv6 address in brackets: {host!r}") from None
    else:
        host, colon, port_text = value.rpartition(":")
        if not colon or not port_text or not host:
            raise ValueProblem("endpoint has no port (write host:port or [v6]:port)")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if ":" in host:
                raise ValueProblem(f"invalid IPv6 address {host!r} (write [v6]:port)") from None
            return Endpoint(_check_hostname(host), parse_port(port_text, allow_zero=False))
    return Endpoint(str(ip), parse_port(port_text, allow_zero=False))


def parse_protocol(value: str) -> Protocol:
    try:
        return Protocol(value.lower())
    except ValueError:
        raise ValueProblem(f"Protocol must be one of {', '.join(p.value for p in Protocol)}") from None


def parse_cipher(value: str) -> Cipher:
    try:
        return Cipher(value.lower())
    except ValueError:
        raise ValueProblem(f"Cipher must be one of {', '.join(c.value for c in Cipher)}") from None


def parse_mtu(value: str) -> int:
    mtu = bounded_decimal(value, 65535) if _DIGITS.fullmatch(value) else None
    if mtu is None or mtu < 68:
        raise ValueProblem(f"MTU must be a number from 68 to 65535, got {_short(value)}")
    return mtu


def parse_table(value: str) -> str:
    if value in ("auto", "off"):
        return value
    if _DIGITS.fullmatch(value):
        table = bounded_decimal(value, 0xFFFFFFFF)
        if table is None:
            raise ValueProblem("Table number does not fit in 32 bits")
        return str(table)
    if _TABLE_NAME.fullmatch(value):
        return value
    raise ValueProblem(f"Table must be auto, off, a number or a table name, got {value!r}")


def parse_dns(value: str) -> list[str]:
    out = []
    for item in _split_list(value, "DNS"):
        try:
            out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            out.append(_check_hostname(item))  # a search domain
    return out


def parse_bool(value: str) -> bool:
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueProblem(f"SaveConfig must be true or false, got {value!r}")


def check_name(value: str) -> str:
    if not value or any(ord(c) < 32 or ord(c) == 127 for c in value) or value != value.strip(SPACE):
        raise ValueProblem("Name must be non-empty printable text without surrounding spaces")
    return value


def check_cipher_for_protocol(protocol: Protocol | None, cipher: Cipher | None) -> None:
    if protocol is Protocol.WIREGUARD and cipher not in (None, Cipher.CHACHA20_POLY1305):
        raise ValueProblem(f"Cipher {cipher} needs Protocol = secureswift (WireGuard is ChaCha20-Poly1305 only)")


# --- the file parser -------------------------------------------------------------------


def _set_attr(attr: str, parse: Callable[[str], object]) -> Callable[[object, str], None]:
    def apply(obj: object, value: str) -> None:
        setattr(obj, attr, parse(value))

    return apply


def _extend_attr(attr: str, parse: Callable[[str], list]) -> Callable[[object, str], None]:
    def apply(obj: object, value: str) -> None:
        getattr(obj, attr).extend(parse(value))

    return apply


def _command(value: str) -> list[str]:
    if not value:
        raise ValueProblem("empty command")
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise ValueProblem("command contains control characters")
    return [value]


_INTERFACE_KEYS: dict[str, Callable[[Device, str], None]] = {
    "privatekey": _set_attr("private_key", lambda v: parse_key(v, "PrivateKey")),
    "listenport": _set_attr("listen_port", parse_port),
    "fwmark": _set_attr("fwmark", parse_fwmark),
    "protocol": _set_attr("protocol", parse_protocol),
    "cipher": _set_attr("cipher", parse_cipher),
}
_QUICK_HANDLERS: dict[str, Callable[[QuickSettings, str], None]] = {
    "address": _extend_attr("addresses", parse_addresses),
    "dns": _extend_attr("dns", parse_dns),
    "mtu": _set_attr("mtu", parse_mtu),
    "table": _set_attr("table", parse_table),
    "preup": _extend_attr("pre_up", _command),
    "postup": _extend_attr("post_up", _command),
    "predown": _extend_attr("pre_down", _command),
    "postdown": _extend_attr("post_down", _command),
    "saveconfig": _set_attr("save_config", parse_bool),
}
_PEER_KEYS: dict[str, Callable[[Peer, str], None]] = {
    "publickey": _set_attr("public_key", lambda v: parse_key(v, "PublicKey")),
    "presharedkey": _set_attr("preshared_key", lambda v: parse_key(v, "PresharedKey")),
    "allowedips": _extend_attr("allowed_ips", parse_allowed_ips),
    "endpoint": _set_attr("endpoint", parse_endpoint),
    "persistentkeepalive": _set_attr("persistent_keepalive", parse_keepalive),
}
_SHOWABLE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_ -]{0,39}")


def _shown(key_raw: str) -> str:
    """A key name fit for an error message; anything else may be a pasted secret."""
    key = key_raw.strip(SPACE)
    return repr(key) if _SHOWABLE_KEY.fullmatch(key) else "(not shown)"


class _PeerCollector:
    """Peers in order, each checked for a public key and against duplicates."""

    def __init__(self, fail: Callable[[int, str], ConfigError]):
        self.fail = fail
        self.peers: list[Peer] = []
        self.first_line: dict[bytes, int] = {}

    def add(self, peer: Peer, key_line: int, section_line: int) -> None:
        if not peer.public_key:
            raise self.fail(section_line, "[Peer] section has no PublicKey")
        first = self.first_line.setdefault(peer.public_key, key_line)
        if first != key_line:
            raise self.fail(key_line, f"duplicate peer: same PublicKey as the peer at line {first}")
        self.peers.append(peer)


def _wg_value(value_raw: str) -> str:
    """A wg key's value: every whitespace character removed; empty is an error, as in wg."""
    value = _despace(value_raw)
    if not value:
        raise ValueProblem("empty value")
    return value


def parse_config(text: str, filename: str = "<config>", mode: str = QUICK) -> Device:
    """The wg part of a whole configuration (wg-quick keys, where ``mode`` allows
    them, are checked and left out). Raises ConfigError; never a partial result."""
    return _parse(text, filename, mode)[0]


def parse_quick(text: str, filename: str = "<config>") -> tuple[Device, QuickSettings]:
    """A wg-quick file: its wg part and, separately, its wg-quick settings."""
    return _parse(text, filename, QUICK)


def _parse(text: str, filename: str, mode: str) -> tuple[Device, QuickSettings]:
    if mode not in (SETCONF, QUICK):
        raise ValueError(f"unknown parse mode {mode!r}")

    def fail(line: int, message: str) -> ConfigError:
        return ConfigError(filename, line, message)

    device = Device()
    quick = QuickSettings()
    collector = _PeerCollector(fail)
    section: str | None = None
    peer: Peer | None = None
    peer_line = key_line = cipher_line = 0

    for lineno, raw in enumerate(text.split("\n"), start=1):
        content, hash_, comment = raw.partition("#")
        cleaned = _despace(content)
        if not cleaned:
            if hash_ and peer is not None:
                m = _NAME_COMMENT.fullmatch(comment)
                if m:
                    name = m.group(1).strip(SPACE)
                    try:
                        peer.name = check_name(name) if name else None
                    except ValueProblem as e:
                        raise fail(lineno, str(e)) from None
            continue

        if cleaned.startswith("["):
            header = cleaned.lower()
            if header not in ("[interface]", "[peer]"):
                name = _shown(cleaned[1:].rstrip("]"))
                raise fail(lineno, f"unknown section {name} (expected [Interface] or [Peer])")
            if peer is not None:
                collector.add(peer, key_line, peer_line)
                peer = None
            section = header
            if header == "[peer]":
                peer = Peer(public_key=b"", replace_allowed_ips=True)
                peer_line = key_line = lineno
            continue

        key_raw, eq, value_raw = content.partition("=")
        if not eq:
            raise fail(lineno, "expected 'Key = Value'")
        key = _despace(key_raw).lower()
        if section is None:
            raise fail(lineno, f"key {_shown(key_raw)} outside a section (put it under [Interface] or [Peer])")

        try:
            if section == "[interface]":
                quick_key = key_raw.strip(SPACE).lower()
                if quick_key in _QUICK_HANDLERS:
                    if mode != QUICK:
                        what = _QUICK_LOWER[quick_key]
                        raise fail(lineno, f"{what} is a wg-quick key, not accepted by setconf (use strip)")
                    _QUICK_HANDLERS[quick_key](quick, value_raw.strip(SPACE))
                elif key in _INTERFACE_KEYS:
                    _INTERFACE_KEYS[key](device, _wg_value(value_raw))
                    if key == "cipher":
                        cipher_line = lineno
                else:
                    raise fail(lineno, f"unknown key {_shown(key_raw)} in [Interface]")
            else:
                assert peer is not None
                if key not in _PEER_KEYS:
                    raise fail(lineno, f"unknown key {_shown(key_raw)} in [Peer]")
                _PEER_KEYS[key](peer, _wg_value(value_raw))
                if key == "publickey":
                    key_line = lineno
        except ValueProblem as e:
            raise fail(lineno, str(e)) from None

    if peer is not None:
        collector.add(peer, key_line, peer_line)
    try:
        check_cipher_for_protocol(device.protocol, device.cipher)
    except ValueProblem as e:
        raise fail(cipher_line, str(e)) from None
    device.peers = collector.peers
    return device, quick


def decode_config(data: bytes, filename: str) -> str:
    """Bytes of a config file to text; invalid UTF-8 is a ConfigError at its line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(filename, data.count(b"\n", 0, e.start) + 1, "not valid UTF-8 text") from None


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise UsageError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    return decode_config(data, path)


def load_config(path: str, mode: str = QUICK) -> Device:
    """:func:`parse_config` of the file at ``path``."""
    return parse_config(_read_text(path), path, mode)


def load_quick(path: str) -> tuple[Device, QuickSettings]:
    """:func:`parse_quick` of the file at ``path``."""
    return parse_quick(_read_text(path), path)


# --- the writer ----------------------------------------------------------------------


def _one_line(value: str, what: str, *, comment: bool = False) -> str:
    """A value fit for one config line; '#' only inside a comment (a peer name)."""
    if "\n" in value or "\r" in value or ("#" in value and not comment):
        raise ValueError(f"{what} cannot be written to a config: contains a newline or '#'")
    return value


def write_config(device: Device, quick: QuickSettings | None = None, *, extensions: bool = True) -> str:
    """Canonical text that :func:`parse_quick` reads back to an equal (Device, QuickSettings).

    Without ``quick`` the text has no wg-quick keys; ``extensions=False`` leaves out
    Protocol and Cipher. Peer names are written as ``# Name = ...`` comments.
    """
    iface = interface_lines(device, extensions=extensions)
    if quick is not None:
        if quick.addresses:
            iface.append(f"Address = {', '.join(str(a) for a in quick.addresses)}")
        if quick.dns:
            iface.append(f"DNS = {', '.join(quick.dns)}")
        if quick.mtu is not None:
            iface.append(f"MTU = {quick.mtu}")
        if quick.table is not None:
            iface.append(f"Table = {quick.table}")
        for key, cmds in (
            ("PreUp", quick.pre_up),
            ("PostUp", quick.post_up),
            ("PreDown", quick.pre_down),
            ("PostDown", quick.post_down),
        ):
            iface.extend(f"{key} = {_one_line(c, key)}" for c in cmds)
        if quick.save_config is not None:
            iface.append(f"SaveConfig = {'true' if quick.save_config else 'false'}")

    blocks: list[list[str]] = [["[Interface]", *iface]] if iface else []
    blocks.extend(peer_section(peer) for peer in device.peers)
    return "\n\n".join("\n".join(b) for b in blocks) + ("\n" if blocks else "")


def interface_lines(device: Device, *, running: bool = False, extensions: bool = True) -> list[str]:
    """The wg keys of an ``[Interface]`` section, in wg showconf's order. A
    configuration (``running`` false) writes what is set, a firewall mark of
    0 as ``off``; a running device (showconf) leaves out what is off.
    ``extensions=False`` leaves out Protocol and Cipher."""
    lines = []
    if device.listen_port if running else device.listen_port is not None:
        lines.append(f"ListenPort = {device.listen_port}")
    if device.fwmark if running else device.fwmark is not None:
        lines.append(f"FwMark = {f'0x{device.fwmark:x}' if device.fwmark else 'off'}")
    if device.private_key is not None:
        lines.append(f"PrivateKey = {keys.to_base64(device.private_key)}")
    if extensions and device.protocol is not None:
        lines.append(f"Protocol = {device.protocol.value}")
    if extensions and device.cipher is not None:
        lines.append(f"Cipher = {device.cipher.value}")
    return lines


def peer_section(peer: Peer, *, running: bool = False) -> list[str]:
    """A ``[Peer]`` section, in wg's order. A configuration (``running`` false)
    writes what is set, a keepalive of 0 as ``off``; a running peer (showconf)
    leaves out what is off, as ``wg showconf`` does."""
    block = ["[Peer]"]
    if peer.name:
        block.append(f"# Name = {_one_line(peer.name, 'Name', comment=True)}")
    block.append(f"PublicKey = {keys.to_base64(peer.public_key)}")
    if peer.preshared_key:
        block.append(f"PresharedKey = {keys.to_base64(peer.preshared_key)}")
    if peer.allowed_ips:
        block.append(f"AllowedIPs = {', '.join(map(net_text, peer.allowed_ips))}")
    if peer.endpoint is not None:
        block.append(f"Endpoint = {peer.endpoint}")
    ka = peer.persistent_keepalive
    if ka or (ka is not None and not running):
        block.append(f"PersistentKeepalive = {ka if ka else 'off'}")
    return block


def strip_config(device: Device, *, extensions: bool = False) -> str:
    """What ``wg setconf`` understands, as ``wg-quick strip`` prints (names stay as comments)."""
    return write_config(device, extensions=extensions)


# --- `set` argument lists ----------------------------------------------------------------

ARGS_FILE = "<args>"


def _replace_allowed_ips(peer: Peer, value: str) -> None:
    peer.allowed_ips = parse_allowed_ips(value)
    peer.replace_allowed_ips = True


def parse_set_args(
    args: Sequence[str],
    name: str = "",
    *,
    read_key_file: Callable[[str], bytes] = keys.read_key_file,
) -> Device:
    """``wg set``-style arguments to a set request.

    Grammar (as ``wg set``, plus SecureSwift's ``protocol``, ``cipher`` and ``name``)::

        [listen-port P] [fwmark M] [private-key FILE] [protocol P] [cipher C]
        [peer KEY [remove] [update-only] [preshared-key FILE] [endpoint E]
                  [persistent-keepalive N] [allowed-ips LIST] [name NAME]]...

    Device keys come before the first ``peer``. Only given fields are set
    (``None`` elsewhere); ``allowed-ips`` sets ``replace_allowed_ips`` and an
    empty LIST clears them; an empty key file means "remove the key"
    (32 zero bytes, as wg). Errors are ConfigError with file ``<args>`` and
    the 1-based argument position as the line.
    """
    device = Device(name=name)
    seen: dict[bytes, int] = {}
    peer: Peer | None = None
    cipher_pos = 0
    i = 0

    def fail(pos: int, message: str) -> ConfigError:
        return ConfigError(ARGS_FILE, pos + 1, message)

    def take() -> str:
        if i + 1 >= len(args):
            raise fail(i, f"{args[i]} needs a value")
        return args[i + 1]

    def key_file(path: str) -> bytes:
        try:
            return read_key_file(path)
        except UsageError as e:
            raise ValueProblem(str(e)) from None

    device_opts: dict[str, Callable[[str], None]] = {
        "listen-port": lambda v: setattr(device, "listen_port", parse_port(v)),
        "fwmark": lambda v: setattr(device, "fwmark", parse_fwmark(v)),
        "private-key": lambda v: setattr(device, "private_key", key_file(v)),
        "protocol": lambda v: setattr(device, "protocol", parse_protocol(v)),
        "cipher": lambda v: setattr(device, "cipher", parse_cipher(v)),
    }
    peer_opts: dict[str, Callable[[Peer, str], None]] = {
        "preshared-key": lambda p, v: setattr(p, "preshared_key", key_file(v)),
        "endpoint": lambda p, v: setattr(p, "endpoint", parse_endpoint(v)),
        "persistent-keepalive": lambda p, v: setattr(p, "persistent_keepalive", parse_keepalive(v)),
        "allowed-ips": _replace_allowed_ips,
        "name": lambda p, v: setattr(p, "name", check_name(v)),
    }
    peer_flags = {"remove": "remove", "update-only": "update_only"}

    while i < len(args):
        arg = args[i]
        try:
            if arg == "peer":
                pub = parse_key(take(), "peer public key")
                if pub in seen:
                    raise fail(i, f"duplicate peer: same key as argument {seen[pub] + 1}")
                seen[pub] = i
                peer = Peer(public_key=pub)
                device.peers.append(peer)
                i += 2
            elif peer is None and arg in device_opts:
                device_opts[arg](take())
                if arg == "cipher":
                    cipher_pos = i
                i += 2
            elif peer is not None and arg in peer_flags:
                setattr(peer, peer_flags[arg], True)
                i += 1
            elif peer is not None and arg in peer_opts:
                peer_opts[arg](peer, take())
                i += 2
            else:
                where = "after a peer" if peer is not None else "before the first peer"
                raise fail(i, f"invalid argument {_shown(arg)} {where}")
        except ValueProblem as e:
            raise fail(i, str(e)) from None
    try:
        check_cipher_for_protocol(device.protocol, device.cipher)
    except ValueProblem as e:
        raise fail(cipher_pos, str(e)) from None
    return device


__all__ = [
    "QUICK",
    "SETCONF",
    "QUICK_KEYS",
    "ValueProblem",
    "parse_config",
    "parse_quick",
    "load_config",
    "load_quick",
    "decode_config",
    "write_config",
    "strip_config",
    "parse_set_args",
    "parse_port",
    "parse_fwmark",
    "parse_keepalive",
    "parse_key",
    "parse_allowed_ips",
    "parse_addresses",
    "parse_endpoint",
    "parse_protocol",
    "parse_cipher",
    "parse_mtu",
    "parse_table",
    "parse_dns",
    "KEY_LEN",
]
