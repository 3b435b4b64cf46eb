"""The native data path (sswctl/_datapath/, C): transport packets without the GIL.

The daemon's protocol engine negotiates keys only and hands the
data plane to two native threads, as the kernel backend hands it to the
module (docs/kernel-module.md, "The handshake daemon (kernel backend)"). It is
the userspace backend's only data plane: ``native`` is None when the extension
did not build, and then the userspace daemon refuses to start (``require``);
the CLI and the kernel backend work without it. Every control call
costs O(change), not O(peers): peers and keypairs sit in hash tables, the
allowed IPs in tries changed in place (docs/datapath.md)::

    from sswctl import datapath
    if datapath.native is not None:
        dp = datapath.Datapath(engine.mode.type_data, mtu=1420)
        dp.set_sockets(tun.fileno(), udp4.fileno(), udp6.fileno())
        dp.set_public_key(engine.public_key)          # mac1, cookie replies
        dp.set_peer(pub, endpoint=("192.0.2.1", 51820))
        dp.set_allowed_ips(pub, [ipaddress.ip_network("10.0.0.2/32")])
        dp.start()
        selector.register(dp.event_fd(), EVENT_READ)   # then dp.poll_events()
        ...
        dp.install_keypair(ev.peer, ev.keypair)       # each KeypairCreated

Peers are named by any hashable (the daemon uses the 32-byte public key);
the wrapper maps them to the C side's integer ids. Events come back as
:class:`Event` tuples naming the peer the same way. docs/datapath.md has the
design, the threads and locking, and the exact wiring into the daemon.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Hashable, Iterable
from typing import NamedTuple

from .model import Cipher

try:
    from . import _datapath as native
except ImportError as e:  # the extension did not build: no userspace backend
    native = None
    _import_error = str(e)
else:
    _import_error = ""

NOT_BUILT = (
    "the native data plane (sswctl._datapath) is not built, and the userspace backend has no other: "
    "install a C compiler, the Python headers and the OpenSSL headers "
    "(Debian: apt-get install gcc python3-dev libssl-dev), then rebuild with `make deps` "
    "(or `pip install -e .` in the project's venv)"
)


class NotBuilt(RuntimeError):
    """The extension cannot be imported; the message says how to build it."""


def require() -> None:
    """Raise :class:`NotBuilt` unless the native data plane can be used."""
    if native is None:
        raise NotBuilt(f"{NOT_BUILT} ({_import_error})" if _import_error else NOT_BUILT)

#: Drop reasons the C side counts, per peer and on the device.
DROP_REASONS = (
    "replay", "decrypt", "allowed_ips", "no_keypair", "unknown_index", "malformed", "expired",
    "no_route", "no_endpoint", "send_error", "tun_write", "event_overflow",
)

_CIPHERS = {Cipher.CHACHA20_POLY1305: 0, Cipher.AES_256_GCM: 1}
_NETWORKS = (ipaddress.IPv4Network, ipaddress.IPv6Network)  # taken as they are (a 10k-peer setconf parses enough)


def cipher_id(cipher: Cipher | str) -> int:
    return _CIPHERS[Cipher(cipher)]


class Event(NamedTuple):
    """Something the daemon must act on.

    ``kind``:
      - ``"handshake"``: a handshake message (``data``) from ``addr``;
        feed it to ``engine.receive(data, addr, now)``. ``peer`` is None.
        C let it through: exact type and size of the mode, a valid mac1,
        and while under load a valid mac2 and its source's rate limit
        (the rest were answered with a cookie reply or dropped, counted in
        ``stats()["device"]["handshake"]``); the engine must not demand
        mac2 again (leave ``engine.under_load`` False). Cookie replies
        addressed to us come up after a size check and the rate limit.
      - ``"staged"``: an inner packet (``data``) for ``peer``, which has no
        usable keypair; the engine should initiate (``engine.initiate``) and
        the daemon may keep the packet to re-inject through TUN, or drop it.
      - ``"rekey"``: ``peer``'s current keypair (``index``) reached
        REKEY_AFTER_TIME/MESSAGES on send (or 165 s on receive, initiator),
        or (``index`` 0) data went out and nothing came back for
        KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: call ``engine.initiate``.
      - ``"confirmed"``: a responder keypair (``index``) became current on
        its first data packet.
      - ``"endpoint"``: ``peer`` roamed; ``addr`` is its new endpoint and
        ``source`` the local address it wrote to (its sticky source).

    ``source`` (handshake, endpoint): the local address the datagram was
    sent to (IP_PKTINFO / IPV6_PKTINFO), a string, or None if unknown;
    replies should leave from it.
    """

    kind: str
    peer: Hashable | None
    index: int
    data: bytes | None
    addr: tuple | None
    source: str | None = None


class Datapath:
    """One interface's native data path. Thread-safe against its workers;
    call it from one Python thread (the daemon's loop)."""

    def __init__(self, type_data: int, mtu: int = 0, *, keepalive_timeout: float = 10.0,
                 rekey_timeout: float = 5.0, handshake_queue: int = 1024) -> None:
        """``type_data``: the mode's transport type (4 wireguard, 0x14
        secureswift); ``mtu`` caps padding as the engine's. The two timeouts
        are WireGuard's KEEPALIVE_TIMEOUT and REKEY_TIMEOUT (tests shorten them).
        ``handshake_queue``: how many handshake messages may wait for
        ``poll_events``; an eighth of it waiting means "under load"."""
        require()
        self._dp = native.Datapath(type_data, mtu, keepalive_timeout, rekey_timeout, handshake_queue)
        self._ids: dict[Hashable, int] = {}
        self._names: dict[int, Hashable] = {}
        self._next_id = itertools.count(1)

    # --- wiring -----------------------------------------------------------
    def set_sockets(self, tun_fd: int, udp4_fd: int = -1, udp6_fd: int = -1, *, offload: bool = False) -> None:
        """The fds stay the caller's (it closes them after ``stop()``); they are
        made non-blocking. The daemon must stop reading them itself.
        ``offload``: the TUN fd was opened with IFF_VNET_HDR and TSO offloads
        (``sswctl.tun.Tun(..., offload=True)``, i.e. ``tun.vnet``): TCP
        super-packets are read and cut into segments in C. On a running data
        path (a new listen port) the workers pause around the swap and every
        session is kept, as WireGuard keeps them when it rebinds."""
        self._dp.set_sockets(tun_fd, udp4_fd, udp6_fd, offload)

    def set_public_key(self, public_key: bytes) -> None:
        """Our static public key: the mac1 and cookie-reply keys derive from
        it. Until it is set every handshake message is dropped; a new one
        voids the cookies handed out so far."""
        self._dp.set_public_key(public_key)

    def start(self) -> None:
        self._dp.start()

    def stop(self) -> None:
        """Join the worker threads and zero every keypair (peers stay)."""
        self._dp.stop()

    def set_mtu(self, mtu: int) -> None:
        """The TUN link's MTU changed: padding never takes a packet past it."""
        self._dp.set_mtu(mtu)

    def tun_gone(self) -> bool:
        """The TUN device went away (deleted, or the namespace holding it was):
        the send worker found its descriptor detached and stopped. Checked
        when ``event_fd`` wakes (the worker wakes it then)."""
        return self._dp.tun_gone()

    def event_fd(self) -> int:
        """Readable while events are queued (an eventfd); watch it, then ``poll_events()``."""
        return self._dp.event_fd()

    def poll_events(self) -> list[Event]:
        return [Event(k, None if p is None else self._names.get(p), i, d, a, s)
                for k, p, i, d, a, s in self._dp.poll_events()]

    # --- configuration ------------------------------------------------------
    def _id(self, peer: Hashable) -> int:
        try:
            return self._ids[peer]
        except KeyError:
            raise KeyError(f"unknown peer {peer!r}") from None

    def set_peer(self, peer: Hashable, endpoint: tuple | None = None, persistent_keepalive: int = 0) -> None:
        """Add ``peer`` or set its endpoint (``(host, port)``; None = none) and
        persistent keepalive interval (seconds, 0 = off); both are replaced."""
        pid = self._ids.get(peer)
        if pid is None:
            pid = next(self._next_id)
        self._dp.set_peer(pid, None if endpoint is None else (str(endpoint[0]), *endpoint[1:]),
                          persistent_keepalive)
        self._ids[peer] = pid
        self._names[pid] = peer

    def set_endpoint(self, peer: Hashable, endpoint: tuple, source: str | None = None) -> None:
        """Move ``peer``'s endpoint (e.g. to where an authenticated handshake
        came from) with ``source``, the local address it wrote to: every
        send to the peer leaves from it (IP_PKTINFO / IPV6_PKTINFO) until
        the kernel refuses it (the address is gone: it is forgotten and the
        send repeated from what routing picks) or ``clear_source``.
        ``set_peer`` starts an endpoint without a source."""
        self._dp.set_endpoint(self._id(peer), (str(endpoint[0]), *endpoint[1:]), source)

    def clear_source(self, peer: Hashable) -> None:
        """Forget ``peer``'s sticky source (WireGuard does so on a handshake
        retransmit); it is learned again from the next authenticated datagram."""
        self._dp.clear_source(self._id(peer))

    def remove_peer(self, peer: Hashable) -> None:
        """Forget ``peer``, its allowed IPs and (zeroed) keypairs."""
        pid = self._id(peer)
        self._dp.remove_peer(pid)
        del self._ids[peer], self._names[pid]

    def set_allowed_ips(self, peer: Hashable, networks: Iterable) -> None:
        """Replace ``peer``'s allowed IPs (a prefix moves from any other peer)."""
        nets = [n if isinstance(n, _NETWORKS) else ipaddress.ip_network(n, strict=False) for n in networks]
        self._dp.set_allowed_ips(self._id(peer), [(n.version, n.network_address.packed, n.prefixlen)
                                                  for n in nets])

    def install_keypair(self, peer: Hashable, keypair) -> bool:
        """Install a :class:`sswctl.protocol.Keypair` (from ``KeypairCreated``).

        Slots as WireGuard: an initiator's keypair becomes current at once and
        a key-confirming keepalive is sent (returns whether it went out); a
        responder's waits in ``next`` until its first data packet arrives.
        ``keypair.created`` must be on ``time.monotonic()``'s clock.
        """
        # the key buffers are read in place (no immutable copies left in Python's heap)
        return self._dp.install_keypair(self._id(peer), keypair.local_index, keypair.remote_index,
                                        keypair.send_key, keypair.receive_key,
                                        cipher_id(keypair.cipher), keypair.is_initiator,
                                        float(keypair.created))

    def remove_keypair(self, peer: Hashable, local_index: int | None = None) -> bool:
        """Zero one keypair of ``peer`` (by local index) or all of them."""
        return self._dp.remove_keypair(self._id(peer), local_index)

    def send(self, peer: Hashable, packet: bytes = b"") -> bool:
        """Seal and send one inner packet (b"" = a keepalive) under ``peer``'s
        current keypair, e.g. packets the daemon held while a handshake ran.
        False if it did not go out (no usable keypair: it comes back as a
        ``staged`` event; no endpoint; a send error), counted as a drop."""
        return self._dp.send(self._id(peer), packet)

    def route(self, address) -> Hashable | None:
        """The peer the allowed-IPs table sends ``address`` to (longest prefix), or None."""
        pid = self._dp.route(ipaddress.ip_address(address).packed)
        return None if pid is None else self._names.get(pid)

    # --- counters -----------------------------------------------------------
    def stats(self) -> dict:
        """``{"device": {"drops": {...}, "running", ...}, "peers": {peer: {...}}}``.

        Device: ``tun_reads``, ``tun_writes``, ``udp_send_msgs``,
        ``udp_recv_msgs`` (system-call units; fewer than packets when TSO,
        GRO, UDP GSO and UDP GRO batch them).
        ``handshake``: the handshake intake's counters (``received``,
        ``malformed``, ``mac1_invalid``, ``cookie_sent``, ``shed_no_mac2``,
        ``shed_ratelimit``, ``shed_queue_full``, ``queued``,
        ``under_load_entered``) and ``backlog`` (messages waiting now).

        Per peer: rx/tx bytes (wire) and packets (inner), ``drops`` by reason,
        ``endpoint``, ``source`` (its sticky source address or None),
        ``source_ifindex`` (the interface the peer's datagrams to it arrived
        on, 0 if unknown),
        ``last_tx``/``last_rx`` (any authenticated/sent datagram)
        and ``last_tx_data``/``last_rx_data`` (non-keepalive), as
        ``time.monotonic()`` seconds (0.0 = never), ``current`` (local index
        of the current keypair or None), ``previous``/``next`` (bools).
        """
        s = self._dp.stats()
        s["peers"] = {self._names.get(k, k): v for k, v in s["peers"].items()}
        return s

    def transfer(self) -> dict:
        """``{peer: (rx_bytes, tx_bytes)}``, wire bytes, for every peer: what a
        get reports, at a fraction of :meth:`stats`'s cost."""
        names = self._names
        return {names.get(i, i): (rx, tx) for i, rx, tx in self._dp.transfer()}

    def control_work(self) -> int:
        """Trie nodes and hash entries the control calls have visited so far:
        one change costs O(its prefixes), whatever the number of peers."""
        return self._dp.control_work()

    def __enter__(self) -> Datapath:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
