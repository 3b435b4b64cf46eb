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
- Runtime state is kept apart from the configuration: ``Peer.status``
  (:class:`PeerStatus`: latest handshake, transfer and packet counters, drops)
  and ``Device.status`` (:class:`DeviceStatus`: backend, drops, the handshake
  flood defence's counters). Every backend's get fills both; both are None in
  a parsed config or a set request. So config writers never meet a counter,
  and a peer read back is compared with its configuration as
  ``got.replace(status=None) == configured``.
- The set-request flags (``remove``, ``update_only``, ``replace_allowed_ips``,
  ``replace_peers``) stay in Peer and Device, as wireguard-tools'
  containers.h keeps its flags in ``struct wgpeer`` and ``struct wgdevice``.

The classes are written out rather than made with :mod:`dataclasses`, whose
import (it loads :mod:`inspect`) costs more than all the rest of what
``sswctl set`` on a userspace interface imports (sswctl/main.py); for the
same reason addresses are converted with ``_socket``, the C module that
:mod:`socket` wraps (importing ``socket`` itself, its enum conversions and
selectors, would be a tenth of that command's whole run). The classes
behave as dataclasses would (tests/unit/test_model.py): fields are
``__init__``'s parameters, equality and ``repr`` go over them,
:meth:`_Record.replace` is ``dataclasses.replace``, a list or dict field
left out starts empty, and an :class:`Endpoint` is immutable and hashable.
"""

from __future__ import annotations

import enum
import ipaddress
from _socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from collections.abc import Callable
from operator import attrgetter

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
            return ipaddress.IPv6Address(inet_pton(AF_INET6, text))
        return ipaddress.IPv4Address(inet_pton(AF_INET, text))
    except OSError:
        raise ValueError(f"invalid IP address {text!r}") from None


def network(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int) -> IPNetwork:
    """The prefix ``addr/prefix`` with its host bits cleared (as the kernel stores it)."""
    shift = addr.max_prefixlen - prefix
    cls = ipaddress.IPv4Network if addr.version == 4 else ipaddress.IPv6Network
    return cls((int(addr) >> shift << shift, prefix))


_AF = {4: AF_INET, 6: AF_INET6}


def net_text(net: IPNetwork) -> str:
    """``addr/prefix`` as wg(8) prints it (inet_ntop: an IPv4-mapped IPv6
    address as ``::ffff:a.b.c.d``), a few times faster than ``str(net)``, which
    a dump of 100,000 peers feels."""
    return f"{inet_ntop(_AF[net.version], net.network_address.packed)}/{net.prefixlen}"


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


class _Record:
    """Equality, ``repr`` and ``replace`` over a class's fields: its ``__init__``'s parameters, in order."""

    _fields: tuple[str, ...]
    _values: Callable[[_Record], tuple]  # the fields' values

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__init__.__code__
        cls._fields = code.co_varnames[1 : code.co_argcount]  # two or more: attrgetter then gives a tuple
        cls._values = staticmethod(attrgetter(*cls._fields))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values(self) == self._values(other)

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{self.__class__.__qualname__}({fields})"

    def replace(self, **changes: object):
        """A new object with these fields changed, the others as here (shallow), as ``dataclasses.replace``."""
        return self.__class__(**{f: getattr(self, f) for f in self._fields} | changes)


class Endpoint(_Record):
    """A peer's outer address: host (IP literal or unresolved hostname) and port. Immutable."""

    host: str
    port: int

    def __init__(self, host: str, port: int):
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: an Endpoint is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: an Endpoint is immutable")

    def __hash__(self) -> int:
        return hash((self.host, self.port))

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


class PeerStatus(_Record):
    """A peer's runtime state, as a backend's get reports it; never part of a
    config or a set request. A dict given as None is a new empty dict."""

    def __init__(
        self,
        last_handshake: float | None = None,  # Unix time (seconds, fractional), None = never
        rx_bytes: int = 0,
        tx_bytes: int = 0,
        rx_packets: int = 0,
        tx_packets: int = 0,
        # Drop counters by reason (e.g. "replay", "allowed_ips", "decrypt").
        drops: dict[str, int] | None = None,
    ):
        self.last_handshake = last_handshake
        self.rx_bytes = rx_bytes
        self.tx_bytes = tx_bytes
        self.rx_packets = rx_packets
        self.tx_packets = tx_packets
        self.drops: dict[str, int] = {} if drops is None else drops


class Peer(_Record):
    """A peer as configured (set semantics: None means "not set"); ``status``
    is its runtime state when it was read from a running device."""

    def __init__(
        self,
        public_key: bytes,
        preshared_key: bytes | None = None,
        endpoint: Endpoint | None = None,
        allowed_ips: list[IPNetwork] | None = None,  # None: a new empty list
        # Seconds; 0 means off (as wg prints "off"); None means "not set".
        persistent_keepalive: int | None = None,
        # SecureSwift extension: a human name shown by sswctl show / sswmon.
        name: str | None = None,
        # set/setconf semantics (wg's flags); ignored outside a set request.
        remove: bool = False,
        update_only: bool = False,
        replace_allowed_ips: bool = False,
        # Runtime state: filled by every backend's get, None in a config or a set request.
        status: PeerStatus | None = None,
    ):
        self.public_key = public_key
        self.preshared_key = preshared_key
        self.endpoint = endpoint
        self.allowed_ips: list[IPNetwork] = [] if allowed_ips is None else allowed_ips
        self.persistent_keepalive = persistent_keepalive
        self.name = name
        self.remove = remove
        self.update_only = update_only
        self.replace_allowed_ips = replace_allowed_ips
        self.status = status


class DeviceStatus(_Record):
    """An interface's runtime state, as a backend's get reports it; never part
    of a config or a set request. A dict given as None is a new empty dict."""

    def __init__(
        self,
        backend: str | None = None,  # "kernel" or "userspace"
        # Drops not attributable to a peer (garbage, unknown index, ...), by reason.
        drops: dict[str, int] | None = None,
        # The handshake flood defence's counters (secureswift.ko: cookie replies
        # sent, messages shed by reason, handed up, under_load 0/1), by name.
        handshake: dict[str, int] | None = None,
    ):
        self.backend = backend
        self.drops: dict[str, int] = {} if drops is None else drops
        self.handshake: dict[str, int] = {} if handshake is None else handshake


class Device(_Record):
    """An interface as configured (set semantics: None means "unchanged");
    ``status`` is its runtime state when it was read from a running one."""

    def __init__(
        self,
        name: str = "",
        private_key: bytes | None = None,
        listen_port: int | None = None,
        fwmark: int | None = None,  # 0 = off
        protocol: Protocol | None = None,  # None in a set = unchanged; reads default SECURESWIFT
        cipher: Cipher | None = None,
        peers: list[Peer] | None = None,  # None: a new empty list
        # set semantics: replace_peers drops every peer not named in this request.
        replace_peers: bool = False,
        # The private key's public half: a get reports it, a set ignores it.
        public_key: bytes | None = None,
        # Runtime state: filled by every backend's get, None in a config or a set request.
        status: DeviceStatus | None = None,
    ):
        self.name = name
        self.private_key = private_key
        self.listen_port = listen_port
        self.fwmark = fwmark
        self.protocol = protocol
        self.cipher = cipher
        self.peers: list[Peer] = [] if peers is None else peers
        self.replace_peers = replace_peers
        self.public_key = public_key
        self.status = status

    def peer(self, public_key: bytes) -> Peer | None:
        for p in self.peers:
            if p.public_key == public_key:
                return p
        return None


class QuickSettings(_Record):
    """wg-quick's keys of a config file: what ``sswctl up``/``down``/``save`` do
    around the device. Never part of a set request or of the running device.
    A list given as None is a new empty list."""

    def __init__(
        self,
        addresses: list[IPInterface] | None = None,
        dns: list[str] | None = None,  # IPs and search domains, in order
        mtu: int | None = None,
        table: str | None = None,  # "auto", "off" or a number as text
        pre_up: list[str] | None = None,
        post_up: list[str] | None = None,
        pre_down: list[str] | None = None,
        post_down: list[str] | None = None,
        save_config: bool | None = None,
    ):
        self.addresses: list[IPInterface] = [] if addresses is None else addresses
        self.dns: list[str] = [] if dns is None else dns
        self.mtu = mtu
        self.table = table
        self.pre_up: list[str] = [] if pre_up is None else pre_up
        self.post_up: list[str] = [] if post_up is None else post_up
        self.pre_down: list[str] = [] if pre_down is None else pre_down
        self.post_down: list[str] = [] if post_down is None else post_down
        self.save_config = save_config
