"""The one data model: device, peer, allowed-ip, endpoint, and wg-quick's settings.

Shared by the config parser and writer, both control transports (UAPI to the
userspace daemon, generic netlink to the kernel module), the daemon and sswmon.
Nothing else in the project defines its own copy of these shapes.

Conventions:
- Keys are raw ``bytes`` of length 32 (never base64 inside the model).
- Allowed IPs are ``ipaddress.IPv4Network`` / ``IPv6Network`` with host bits
  cleared (as the kernel stores them and ``wg showconf`` prints them).
- Endpoint hosts are kept as written (a hostname stays unresolved); IPv6
  literals are stored without brackets.
- ``None`` means "not set" everywhere; that matters for ``set`` semantics,
  where only set fields change the running device.
"""

from __future__ import annotations

import enum
import ipaddress
import socket
from dataclasses import dataclass, field

KEY_LEN = 32

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def bounded_decimal(text: str, limit: int) -> int | None:
    """The value of ``text``, ASCII digits only (the caller has matched
    ``[0-9]+``), or None when it exceeds ``limit``. int() never sees more
    digits than ``limit`` has: Python 3.11 refuses more than 4,300 (a
    ValueError no caller expects) and converting long strings is quadratic."""
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(limit)):
        return None
    n = int(digits)
    return n if n <= limit else None


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address as wg(8) and the kernel read one (inet_pton; IPv6 when there is a
    colon). ValueError when it is not one. Several times faster than ipaddress's own
    parser, which a 10,000-peer configuration feels."""
    try:
        if ":" in text:
            return ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, text))
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except OSError:
        raise ValueError(f"invalid IP address {text!r}") from None


def network(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int) -> IPNetwork:
    """The prefix ``addr/prefix`` with its host bits cleared (as the kernel stores it)."""
    shift = addr.max_prefixlen - prefix
    cls = ipaddress.IPv4Network if addr.version == 4 else ipaddress.IPv6Network
    return cls((int(addr) >> shift << shift, prefix))


_AF = {4: socket.AF_INET, 6: socket.AF_INET6}


def net_text(net: IPNetwork) -> str:
    """``addr/prefix`` as wg(8) prints it (inet_ntop: an IPv4-mapped IPv6
    address as ``::ffff:a.b.c.d``), a few times faster than ``str(net)``, which
    a dump of 100,000 peers feels."""
    return f"{socket.inet_ntop(_AF[net.version], net.network_address.packed)}/{net.prefixlen}"


class Protocol(str, enum.Enum):
    """Wire protocol of an interface."""

    SECURESWIFT = "secureswift"  # Noise IKpsk2 + ML-KEM-768 hybrid (default)
    WIREGUARD = "wireguard"  # byte-exact WireGuard

    def __str__(self) -> str:
        return self.value


class Cipher(str, enum.Enum):
    """Transport AEAD suite."""

    CHACHA20_POLY1305 = "chacha20-poly1305"
    AES_256_GCM = "aes-256-gcm"  # secureswift mode only

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Endpoint:
    """A peer's outer address: host (IP literal or unresolved hostname) and port."""

    host: str
    port: int

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


@dataclass
class Peer:
    public_key: bytes
    preshared_key: bytes | None = None
    endpoint: Endpoint | None = None
    allowed_ips: list[IPNetwork] = field(default_factory=list)
    # Seconds; 0 means off (as wg prints "off"); None means "not set".
    persistent_keepalive: int | None = None
    # SecureSwift extension: a human name shown by sswctl show / sswmon.
    name: str | None = None

    # set/setconf semantics (wg's flags); ignored outside a set request.
    remove: bool = False
    update_only: bool = False
    replace_allowed_ips: bool = False

    # Runtime state, filled by a backend's get; never read from configs.
    last_handshake: float | None = None  # Unix time (seconds, fractional), None = never
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0
    # Drop counters by reason (e.g. "replay", "allowed_ips", "decrypt").
    drops: dict[str, int] = field(default_factory=dict)


@dataclass
class Device:
    name: str = ""
    private_key: bytes | None = None
    listen_port: int | None = None
    fwmark: int | None = None  # 0 = off
    protocol: Protocol | None = None  # None in a set = unchanged; reads default SECURESWIFT
    cipher: Cipher | None = None
    peers: list[Peer] = field(default_factory=list)

    # set semantics: replace_peers drops every peer not named in this request.
    replace_peers: bool = False

    # Runtime state, filled by a backend's get.
    public_key: bytes | None = None
    backend: str | None = None  # "kernel" or "userspace"
    # Drops not attributable to a peer (garbage, unknown index, ...), by reason.
    drops: dict[str, int] = field(default_factory=dict)
    # The handshake flood defence's counters (secureswift.ko: cookie replies
    # sent, messages shed by reason, handed up, under_load 0/1), by name.
    handshake: dict[str, int] = field(default_factory=dict)

    def peer(self, public_key: bytes) -> Peer | None:
        for p in self.peers:
            if p.public_key == public_key:
                return p
        return None


@dataclass
class QuickSettings:
    """wg-quick's keys of a config file: what ``sswctl up``/``down``/``save`` do
    around the device. Never part of a set request or of the running device."""

    addresses: list[IPInterface] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)  # IPs and search domains, in order
    mtu: int | None = None
    table: str | None = None  # "auto", "off" or a number as text
    pre_up: list[str] = field(default_factory=list)
    post_up: list[str] = field(default_factory=list)
    pre_down: list[str] = field(default_factory=list)
    post_down: list[str] = field(default_factory=list)
    save_config: bool | None = None
