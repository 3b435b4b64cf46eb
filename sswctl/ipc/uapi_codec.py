"""The WireGuard cross-platform UAPI text protocol, as pure functions.

Semantics follow wireguard-go's device/uapi.go (the reference userspace
implementation) and what wireguard-tools' ipc-uapi.h sends and accepts:

- A request is ``get=1`` or ``set=1`` on its own line; a set carries
  ``key=value`` lines; a blank line ends the request.
- Device keys come before the first ``public_key``; every ``public_key``
  starts a peer section.
- The reply to a get is the device's ``key=value`` lines, then
  ``errno=0`` and a blank line. The reply to a set is ``errno=N`` and a blank
  line, N being 0 or a negative errno (wireguard-go sends -EINVAL, -EPROTO,
  -EADDRINUSE, ...).
- Keys are 64 hex digits. An all-zero private or preshared key means "none".
- wireguard-go applies a set line by line and stops at the first bad line,
  leaving the earlier lines applied. Here a whole request is decoded first
  and rejected as one, so a bad request changes nothing.

SecureSwift extensions. wireguard-tools' ``wg`` ignores keys it does not
know in a get reply (the if/else chain in userspace_get_device has no error
branch), but other UAPI clients may not, so extension keys appear in a get
reply only when the request asks for them with the line ``ssw_extensions=1``
between ``get=1`` and the blank line. In a set request they are always
accepted (``wg`` never sends them):

device: ``ssw_protocol`` (secureswift|wireguard), ``ssw_cipher``,
``ssw_backend`` (get only), ``ssw_drop_<reason>`` (get only)
peer: ``ssw_name``, ``ssw_rx_packets``, ``ssw_tx_packets``,
``ssw_drop_<reason>`` (get only)
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import re

from ..keys import public_key
from ..model import (
    KEY_LEN,
    Cipher,
    Device,
    DeviceStatus,
    Endpoint,
    Peer,
    PeerStatus,
    Protocol,
    bounded_decimal,
    net_text,
    network,
    parse_address,
)
from . import IPCError

EXTENSIONS_LINE = "ssw_extensions=1"
# A get asking for `wg show dump`'s text instead of key=value lines (sswctl/dump.py).
DUMP_LINE = "ssw_dump=1"

_UINT = re.compile(r"[0-9]+\Z")
_HEXKEY = re.compile(r"[0-9a-fA-F]{64}\Z")
_REASON = re.compile(r"[a-z0-9_]{1,32}\Z")
# A peer name is one line of printable text without '=' games: no control
# characters (so no newline can smuggle a key into the stream).
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,64}\Z")
ZERO_KEY = bytes(KEY_LEN)


class UAPIError(IPCError):
    """A UAPI request or reply that cannot be accepted; ``errno`` is positive."""

    def __init__(self, message: str, errno: int = _errno.EINVAL):
        super().__init__(message, errno)


# --- scalar codecs -------------------------------------------------------


def key_to_hex(key: bytes) -> str:
    return key.hex()


def key_from_hex(value: str, what: str = "key") -> bytes:
    if not _HEXKEY.match(value):
        raise UAPIError(f"{what} is not 64 hex digits")
    return bytes.fromhex(value)


def _uint(value: str, limit: int, what: str) -> int:
    if not _UINT.match(value):
        raise UAPIError(f"{what} is not a decimal number")
    n = bounded_decimal(value, limit)
    if n is None:
        raise UAPIError(f"{what} exceeds {limit}")
    return n


def _shown(key: str) -> str:
    """A key name for an error message, only if it looks like a key name
    (so a secret sent by mistake in its place is never echoed or logged)."""
    return f" {key}" if re.fullmatch(r"[a-z_]{1,40}", key) else ""


def _true(value: str, what: str) -> bool:
    if value != "true":
        raise UAPIError(f"{what} must be 'true'")
    return True


def parse_endpoint(value: str) -> Endpoint:
    """``a.b.c.d:port`` or ``[v6]:port``, IP literals only (as wireguard-go)."""
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise UAPIError("endpoint lacks ']:port'")
        version = 6
    else:
        host, sep, port = value.rpartition(":")
        if not sep:
            raise UAPIError("endpoint lacks ':port'")
        version = 4
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        raise UAPIError("endpoint host is not an IP address") from None
    if addr.version != version:
        raise UAPIError("IPv6 endpoint must be written [addr]:port")
    return Endpoint(host, _uint(port, 0xFFFF, "endpoint port"))


def parse_allowed_ip(value: str):
    addr, sep, length = value.partition("/")
    if not sep or not _UINT.match(length):
        raise UAPIError("allowed_ip must be address/cidr")
    try:
        ip = parse_address(addr)
    except ValueError:
        raise UAPIError("allowed_ip is not a valid prefix") from None
    prefix = bounded_decimal(length, ip.max_prefixlen)
    if prefix is None:
        raise UAPIError("allowed_ip is not a valid prefix")
    return network(ip, prefix)


def _enum(cls, value: str, what: str):
    try:
        return cls(value)
    except ValueError:
        raise UAPIError(f"unknown {what}") from None


# --- requests ------------------------------------------------------------


def split_lines(body: str) -> list[tuple[str, str]]:
    """``key=value`` lines up to (not including) the blank terminator."""
    pairs = []
    for number, line in enumerate(body.split("\n"), 2):
        if line == "":
            break
        key, sep, value = line.partition("=")
        if not sep:
            # Never echo the line: a malformed request may well hold a key.
            raise UAPIError(f"line {number} has no '='", _errno.EPROTO)
        pairs.append((key, value))
    return pairs


def decode_set(pairs: list[tuple[str, str]]) -> Device:
    """A set request's lines as a Device in set form.

    Device fields not named stay None (unchanged). Each ``public_key`` line
    yields one Peer entry, in request order; a key named twice yields two
    entries, applied in order. ``private_key`` / ``preshared_key`` of all
    zeros come through as 32 zero bytes: "clear it".
    """
    dev = Device()
    peer: Peer | None = None
    for key, value in pairs:
        if key == "public_key":
            peer = Peer(public_key=key_from_hex(value, "public_key"))
            dev.peers.append(peer)
        elif peer is None:
            _device_line(dev, key, value)
        else:
            _peer_line(peer, key, value)
    return dev


def _device_line(dev: Device, key: str, value: str) -> None:
    if key == "private_key":
        dev.private_key = key_from_hex(value, "private_key")
    elif key == "listen_port":
        dev.listen_port = _uint(value, 0xFFFF, "listen_port")
    elif key == "fwmark":
        dev.fwmark = _uint(value, 0xFFFFFFFF, "fwmark")
    elif key == "replace_peers":
        dev.replace_peers = _true(value, key)
    elif key == "ssw_protocol":
        dev.protocol = _enum(Protocol, value, "protocol")
    elif key == "ssw_cipher":
        dev.cipher = _enum(Cipher, value, "cipher")
    else:
        raise UAPIError(f"invalid UAPI device key{_shown(key)}")


def _peer_line(peer: Peer, key: str, value: str) -> None:
    if key == "update_only":
        peer.update_only = _true(value, key)
    elif key == "remove":
        peer.remove = _true(value, key)
    elif key == "preshared_key":
        peer.preshared_key = key_from_hex(value, "preshared_key")
    elif key == "endpoint":
        peer.endpoint = parse_endpoint(value)
    elif key == "persistent_keepalive_interval":
        peer.persistent_keepalive = _uint(value, 0xFFFF, key)
    elif key == "replace_allowed_ips":
        peer.replace_allowed_ips = _true(value, key)
    elif key == "allowed_ip":
        peer.allowed_ips.append(parse_allowed_ip(value))
    elif key == "protocol_version":
        if value != "1":
            raise UAPIError("invalid protocol version (only 1 exists)")
    elif key == "ssw_name":
        if not _NAME.match(value):
            raise UAPIError("ssw_name must be 1-64 printable characters")
        peer.name = value
    else:
        raise UAPIError(f"invalid UAPI peer key{_shown(key)}")


def encode_set(dev: Device) -> str:
    """A complete set request (``set=1`` ... blank line) from a Device in set form."""
    out = ["set=1"]
    if dev.private_key is not None:
        out.append(f"private_key={dev.private_key.hex()}")
    if dev.listen_port is not None:
        out.append(f"listen_port={dev.listen_port}")
    if dev.fwmark is not None:
        out.append(f"fwmark={dev.fwmark}")
    if dev.protocol is not None:
        out.append(f"ssw_protocol={Protocol(dev.protocol).value}")
    if dev.cipher is not None:
        out.append(f"ssw_cipher={Cipher(dev.cipher).value}")
    if dev.replace_peers:
        out.append("replace_peers=true")
    for p in dev.peers:
        out.append(f"public_key={p.public_key.hex()}")
        if p.remove:
            out.append("remove=true")
            continue
        if p.update_only:
            out.append("update_only=true")
        if p.preshared_key is not None:
            out.append(f"preshared_key={p.preshared_key.hex()}")
        if p.endpoint is not None:
            out.append(f"endpoint={p.endpoint}")
        if p.persistent_keepalive is not None:
            out.append(f"persistent_keepalive_interval={p.persistent_keepalive}")
        if p.name is not None:
            out.append(f"ssw_name={p.name}")
        if p.replace_allowed_ips:
            out.append("replace_allowed_ips=true")
        out.extend(f"allowed_ip={net_text(net)}" for net in p.allowed_ips)
    return "\n".join(out) + "\n\n"


# --- get replies ---------------------------------------------------------


def encode_get(dev: Device, extensions: bool = False) -> str:
    """The body of a get reply, ``errno=0`` and the blank line included.

    Order and presence as wireguard-go: private_key, listen_port and fwmark
    only when set and non-zero; for each peer public_key, preshared_key
    (zeros when none), protocol_version=1, endpoint if known, handshake time,
    tx_bytes, rx_bytes, persistent_keepalive_interval, allowed_ip lines.
    """
    head = device_get_head(dev)
    out = [head[:-1]] if head else []
    if extensions:
        out.append(f"ssw_protocol={Protocol(dev.protocol or Protocol.SECURESWIFT).value}")
        out.append(f"ssw_cipher={Cipher(dev.cipher or Cipher.CHACHA20_POLY1305).value}")
        if dev.status.backend:
            out.append(f"ssw_backend={dev.status.backend}")
        out.extend(f"ssw_drop_{r}={n}" for r, n in sorted(dev.status.drops.items()))
    for p in dev.peers:
        st = p.status
        head, tail = peer_get_parts(p)
        out.append(head + peer_get_live(p.endpoint, st.last_handshake, st.tx_bytes, st.rx_bytes) + tail[:-1])
        if extensions:
            if p.name:
                out.append(f"ssw_name={p.name}")
            out.append(f"ssw_rx_packets={st.rx_packets}")
            out.append(f"ssw_tx_packets={st.tx_packets}")
            out.extend(f"ssw_drop_{r}={n}" for r, n in sorted(st.drops.items()))
    out.append("errno=0")
    return "\n".join(out) + "\n\n"


def device_get_head(dev: Device) -> str:
    """The device's own lines of a get reply (wg's part), each ending in a newline."""
    out = ""
    if dev.private_key and dev.private_key != ZERO_KEY:
        out += f"private_key={dev.private_key.hex()}\n"
    if dev.listen_port:
        out += f"listen_port={dev.listen_port}\n"
    if dev.fwmark:
        out += f"fwmark={dev.fwmark}\n"
    return out


def peer_get_parts(p: Peer) -> tuple[str, str]:
    """A peer's get lines that change only with its configuration: those
    before the endpoint and those after the counters, each line ending in a
    newline (the daemon keeps them between reads)."""
    allowed = "".join(f"allowed_ip={net_text(net)}\n" for net in p.allowed_ips)
    return (
        f"public_key={p.public_key.hex()}\npreshared_key={(p.preshared_key or ZERO_KEY).hex()}\n"
        "protocol_version=1\n",
        f"persistent_keepalive_interval={p.persistent_keepalive or 0}\n{allowed}",
    )


def peer_get_live(endpoint, last_handshake: float | None, tx: int, rx: int) -> str:
    """A peer's get lines that change as it runs, each ending in a newline."""
    sec, nsec = _split_time(last_handshake)
    ep = "" if endpoint is None else f"endpoint={endpoint}\n"
    return f"{ep}last_handshake_time_sec={sec}\nlast_handshake_time_nsec={nsec}\ntx_bytes={tx}\nrx_bytes={rx}\n"


def _split_time(t: float | None) -> tuple[int, int]:
    if not t:
        return 0, 0
    # Truncate, never round up into the next second: wg prints whole seconds.
    sec = int(t)
    return sec, min(int((t - sec) * 1e9), 999_999_999)


def decode_get(text: str, name: str = "") -> Device:
    """Parse a get reply into a Device, its and every peer's ``status`` filled.

    Raises UAPIError with the daemon's errno if it reported one, or EPROTO
    if the reply is malformed. Unknown keys are ignored, as ``wg`` does.
    """
    dev = Device(name=name, status=DeviceStatus(backend="userspace"))
    peer: Peer | None = None
    sec = nsec = 0
    err: int | None = None

    def close_peer():
        if peer is not None and (sec or nsec):
            peer.status.last_handshake = sec + nsec / 1e9

    try:
        for key, value in split_lines(text):
            if key == "errno":
                err = int(value)
            elif key == "public_key":
                close_peer()
                peer = Peer(public_key=key_from_hex(value), status=PeerStatus())
                sec = nsec = 0
                dev.peers.append(peer)
            elif peer is None:
                _get_device_line(dev, key, value)
            elif key == "last_handshake_time_sec":
                sec = _uint(value, 2**63 - 1, key)
            elif key == "last_handshake_time_nsec":
                nsec = _uint(value, 999_999_999, key)
            else:
                _get_peer_line(peer, key, value)
        close_peer()
    except (UAPIError, ValueError) as e:
        raise UAPIError(f"malformed get reply: {e}", _errno.EPROTO) from None
    if err is None:
        raise UAPIError("get reply without errno", _errno.EPROTO)
    if err != 0:
        raise UAPIError(f"daemon reported errno {err}", abs(err))
    if dev.private_key is not None:
        dev.public_key = public_key(dev.private_key)
    return dev



def _get_device_line(dev: Device, key: str, value: str) -> None:
    if key == "private_key":
        dev.private_key = key_from_hex(value)
    elif key == "listen_port":
        dev.listen_port = _uint(value, 0xFFFF, key)
    elif key == "fwmark":
        dev.fwmark = _uint(value, 0xFFFFFFFF, key)
    elif key == "ssw_protocol":
        dev.protocol = _enum(Protocol, value, "protocol")
    elif key == "ssw_cipher":
        dev.cipher = _enum(Cipher, value, "cipher")
    elif key == "ssw_backend":
        dev.status.backend = value
    elif key.startswith("ssw_drop_") and _REASON.match(key[9:]):
        dev.status.drops[key[9:]] = _uint(value, 2**64 - 1, key)


def _get_peer_line(peer: Peer, key: str, value: str) -> None:
    if key == "preshared_key":
        psk = key_from_hex(value)
        peer.preshared_key = None if psk == ZERO_KEY else psk
    elif key == "endpoint":
        peer.endpoint = parse_endpoint(value)
    elif key == "tx_bytes":
        peer.status.tx_bytes = _uint(value, 2**64 - 1, key)
    elif key == "rx_bytes":
        peer.status.rx_bytes = _uint(value, 2**64 - 1, key)
    elif key == "persistent_keepalive_interval":
        peer.persistent_keepalive = _uint(value, 0xFFFF, key)
    elif key == "allowed_ip":
        peer.allowed_ips.append(parse_allowed_ip(value))
    elif key == "ssw_name":
        peer.name = value
    elif key == "ssw_rx_packets":
        peer.status.rx_packets = _uint(value, 2**64 - 1, key)
    elif key == "ssw_tx_packets":
        peer.status.tx_packets = _uint(value, 2**64 - 1, key)
    elif key.startswith("ssw_drop_") and _REASON.match(key[9:]):
        peer.status.drops[key[9:]] = _uint(value, 2**64 - 1, key)


def errno_reply(err: int) -> str:
    """``errno=-N`` (or 0) and the blank line; ``err`` is a positive errno."""
    return f"errno={-abs(err)}\n\n"
