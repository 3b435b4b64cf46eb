"""The userspace daemon: the control side of a TUN interface.

One thread and one selector. The native data plane (sswctl._datapath,
docs/datapath.md) carries every transport packet in its own C threads,
between the TUN device and the UDP sockets this module opens. This module
keeps the rest, as the kernel backend's daemon does for secureswift.ko: the
protocol engine (handshakes only), its timers, the UAPI sockets, the link's
MTU and routing changes, and the wiring between them: handshake datagrams
the data plane hands up go to the engine, the keypairs the engine derives
go down to the data plane, and its events (a packet with no keypair, a
rekey, a peer that roamed, a confirmed session) start handshakes and move
endpoints. Replies, data and handshake messages leave from the address the
peer wrote to (the sticky source), as WireGuard's do.

Every dropped datagram or packet is counted by reason, per peer when the
peer is known, else on the device. Nothing here logs key material.
"""

from __future__ import annotations

import collections
import errno
import gc
import logging
import selectors
import socket
import time

from .. import datapath
from ..dump import interface_line, peer_line, peer_parts
from ..ipc.uapi_codec import (
    DUMP_LINE,
    EXTENSIONS_LINE,
    UAPIError,
    device_get_head,
    encode_get,
    peer_get_live,
    peer_get_parts,
)
from ..model import Cipher, Device, DeviceStatus, Peer, PeerStatus, Protocol
from ..paths import DEFAULT_MTU, SOCK_DIR, socket_path, wg_socket_path
from ..protocol import Engine, ProtocolError, Transmit
from ..protocol.constants import MAX_STAGED_PACKETS
from ..protocol.keypair import Keypair
from ..protocol.modes import mode_for
from ..tun import Tun
from . import net
from .driver import EngineDriver, short_key
from .lock import InterfaceLock
from .sources import Sources
from .stamps import TimestampFile
from .state import Change, RunningConfig
from .uapi_server import UAPIServer

log = logging.getLogger("sswctl.daemon")

# After a routing change, sticky sources are checked this much later: a burst
# of changes (a whole table reloaded) costs one check.
RECHECK_DELAY = 0.05
# After a large configuration change, once its reply has gone out: a full garbage
# collection, then the survivors frozen (gc.freeze), so that Python's
# collector does not walk 10,000 peers' state again during the next get.
GC_DELAY = 0.02
# Only after a change this large (or a replacement of all peers): a peer or
# ten added one `set` at a time leave the collector's work as it was, and a
# collection after each would make the next `set` wait for it.
GC_AFTER_PEERS = 1000


class PeerRuntime:
    """Per-peer state neither the engine nor the data plane keeps: the control
    side's drop counters and the packets held while a handshake runs."""

    __slots__ = ("confirmed", "drops", "held")

    def __init__(self) -> None:
        self.drops: collections.Counter = collections.Counter()
        self.held: collections.deque = collections.deque()
        self.confirmed: float | None = None  # wall time a responder keypair was confirmed


class Daemon(EngineDriver):
    def __init__(
        self,
        name: str,
        *,
        sock_dir: str = SOCK_DIR,
        wg_socket: bool = False,
        mtu: int = DEFAULT_MTU,
        listen_port: int = 0,
        tun_offload: bool = True,
        protocol: Protocol = Protocol.SECURESWIFT,
        cipher: Cipher = Cipher.CHACHA20_POLY1305,
    ):
        self.name = name
        self.sock_dir = sock_dir
        self.wg_socket = wg_socket
        self.mtu = mtu
        self.tun_offload = tun_offload
        # The C data path (sswctl._datapath, docs/datapath.md): the engine
        # only handshakes, as with the kernel module.
        self.dp: datapath.Datapath | None = None
        self._dp_sent: dict[bytes, tuple] = {}  # what the data path was last told per peer
        # Sticky sources (sources.py): the engine's handshake messages to a
        # peer leave from the address it wrote to (the data plane keeps its own
        # copy for data).
        self.sources = Sources()
        # (source, local address) of the datagram being handled: the engine's
        # replies to it (response, cookie reply) leave from where it arrived.
        self._rx_from: tuple | None = None
        # Indexed by key and allowed IP: a set costs what it names (state.py).
        self.conf = RunningConfig(
            Device(name=name, listen_port=listen_port, fwmark=0, protocol=protocol, cipher=cipher))
        self.peers: dict[bytes, PeerRuntime] = {}
        # A peer's get and dump text between configuration changes, keyed by
        # public key, with the configured Peer it was made from (a change makes
        # a new Peer: RunningConfig copies on write), made with each change
        # (_commit).
        self._get_parts: dict[bytes, tuple[Peer, tuple]] = {}
        self._dump_parts: dict[bytes, tuple[Peer, tuple]] = {}
        self.drops: collections.Counter = collections.Counter()
        self.sel = selectors.DefaultSelector()
        self.engine: Engine | None = None
        self.tun: Tun | None = None
        self.udp4: socket.socket | None = None
        self.udp6: socket.socket | None = None
        self.server = UAPIServer(self.sel, self._uapi_get, self._uapi_set)
        self.lock: InterfaceLock | None = None
        self.stamps: TimestampFile | None = None
        self.running = False
        self.rtnl: net.RtnlMonitor | None = None  # link MTU and routing changes
        self._recheck_at: float | None = None  # when to check sticky sources against routing
        self._gc_at: float | None = None  # when to collect after a change (GC_DELAY)

    # engine.receive kinds that move the peer's endpoint (and its sticky source)
    _authenticated = frozenset(("initiation", "response"))

    @property
    def config(self) -> Device:
        """The device-level settings (key, port, mark, mode); the peers are ``conf.peers``."""
        return self.conf.device

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Take the interface, create TUN, sockets and the UAPI endpoint(s)."""
        datapath.require()  # before anything exists: nothing to undo
        self.lock = InterfaceLock(self.sock_dir, self.name)
        try:
            self.stamps = TimestampFile(self.sock_dir, self.name)
            self.tun = Tun(self.name, mtu=self.mtu, offload=self.tun_offload)
            self.rtnl = net.RtnlMonitor(self.tun.ifindex)
            self.sel.register(self.rtnl, selectors.EVENT_READ, self._on_rtnl)
            self._bind(self.config.listen_port or 0, self.config.fwmark or 0)
            self.server.listen(socket_path(self.name, self.sock_dir))
            if self.wg_socket:
                # wg(8) cannot tell network namespaces apart: one IFACE.sock for all of
                # them (docs/userspace.md); bind_unix refuses a live one.
                self.server.listen(wg_socket_path(self.name))
            self.open_wake_pipe()
            self._rebuild_engine()
        except BaseException:
            self.close()
            raise
        self.running = True
        log.info("%s: up, %s mode, UDP port %d, MTU %d, native data path", self.name, self.config.protocol,
                 self.config.listen_port, self.mtu)

    def close(self) -> None:
        self.running = False
        self._stop_dp()  # joins its threads and zeroes its keys before fds close
        self.server.close()
        for s in (self.udp4, self.udp6):
            if s is not None:
                s.close()
        self.udp4 = self.udp6 = None
        if self.rtnl is not None:
            self._unregister(self.rtnl)
            self.rtnl.close()
            self.rtnl = None
        if self.tun is not None:
            self.tun.close()
            self.tun = None
        self.release()  # overwrites every handshake and keypair the engine holds
        log.info("%s: down", self.name)

    # ------------------------------------------------------------------ handshakes

    def _inbound(self, data: bytes, src: tuple, now: float, local: str | None = None) -> None:
        """A handshake message or cookie reply the data plane handed up, from
        ``src`` to our address ``local``. C checked its type, size and mac1 and
        did the flood defence (cookie replies, rate limit), so the engine never
        demands mac2 again (``engine.under_load`` stays False)."""
        engine = self.engine
        if engine is None:
            self.drops["no_private_key"] += 1
            return
        try:
            r = engine.receive(data, src, now)
        except ProtocolError as e:
            rt = self.peers.get(getattr(e, "peer", None))
            (rt.drops if rt is not None else self.drops)[e.reason] += 1
            return
        if r.peer is not None and r.kind in self._authenticated:
            self._learn_source(r.peer, src, local)
        if r.events:
            self._rx_from = (src, local)
            try:
                self.handle(r.events)
            finally:
                self._rx_from = None

    # ------------------------------------------------------------------ the link and routing

    def _tun_gone(self) -> None:
        """The TUN device was deleted, or the namespace holding it was: its
        descriptor is detached (EBADFD). Nothing is left to serve: stop, and
        close() removes the UAPI socket and the lock (pid) file."""
        log.warning("%s: the TUN device is gone (deleted, or its namespace was): shutting down", self.name)
        self.stop()

    def _on_rtnl(self, _sock, _mask) -> None:
        ev = self.rtnl.drain()
        mtu = ev.mtu
        if ev.overrun:
            mtu = net.link_mtu(self.name)  # notifications were lost: read it
        if mtu and mtu != self.mtu:
            self._set_mtu(mtu)
        if ev.routing and self._recheck_at is None:
            # A burst of changes (a route table reload) is checked once.
            self._recheck_at = time.monotonic() + RECHECK_DELAY

    def _set_mtu(self, mtu: int) -> None:
        """``ip link set IFACE mtu N``: padding follows it (never past the link MTU)."""
        log.info("%s: MTU %d", self.name, mtu)
        self.mtu = mtu
        if self.tun is not None:
            self.tun.mtu = mtu
        if self.dp is not None:
            self.dp.set_mtu(mtu)

    def pending(self, now: float) -> float | None:
        if self._recheck_at is not None and now >= self._recheck_at:
            self._recheck_at = None
            self._recheck_sources()
        if self._gc_at is not None and now >= self._gc_at:
            # The peers' state is long-lived: collected once here, when idle,
            # it is left out of every later collection (a full one over 10,000
            # peers took 100 ms, and the first get after a load paid it).
            self._gc_at = None
            gc.unfreeze()
            gc.collect()
            gc.freeze()
        due = [t for t in (self._recheck_at, self._gc_at) if t is not None]
        return min(due) if due else None

    def _recheck_sources(self) -> None:
        """Routing changed: a sticky source stays only while routing still sends
        to the peer out of the interface the peer's datagrams to it arrived on
        (WireGuard's src_if4 rule); else it is forgotten, routing picks the
        source of the new way out, and the peer's endpoint for us moves."""
        if self.dp is None:
            return
        held = [(key, st["endpoint"], st["source"], st["source_ifindex"])
                for key, st in self.dp.stats()["peers"].items()]
        for key, source in self.sources.recheck(held, net.route_oif):
            log.info("%s: routing to peer %s no longer leaves by the interface of %s: source dropped",
                     self.name, short_key(key), source)
            self._clear_source(key)

    # ------------------------------------------------------------------ sticky sources

    def _learn_source(self, key: bytes, src: tuple, local: str | None) -> None:
        """An authenticated handshake message from ``src`` to our ``local``: the
        peer's endpoint and sticky source (WireGuard: on handshake and data
        alike; the data plane learns from data itself and reports it as an
        ``endpoint`` event). It goes to the data plane before the keypair is
        installed, so an initiator's key-confirming keepalive leaves from the
        right address."""
        self._moved(key, src, local, tell_dp=True)

    def _moved(self, key: bytes, src: tuple, local: str | None, tell_dp: bool) -> None:
        """``key`` wrote from ``src`` to our ``local``: its sticky source, and
        the data plane's copy of its endpoint (``tell_dp``: the data plane
        does not know yet)."""
        kept = self.sources.learn(key, src, local)
        if self.dp is None:
            return
        if kept is None and local is not None:
            self.dp.clear_source(key)  # in flight since routing moved: not again
        sent = self._dp_sent.get(key)
        if sent is not None:
            if tell_dp:
                self.dp.set_endpoint(key, src, kept)
            self._dp_sent[key] = (src, *sent[1:])

    def _forget_source(self, local: str) -> None:
        """The kernel refused ``local`` as a source (the address is gone): every peer forgets it."""
        log.info("%s: local address %s is gone, sending from what routing picks", self.name, local)
        self.sources.forget_local(local)

    def _clear_source(self, key: bytes) -> None:
        """WireGuard clears a peer's source on a handshake retransmit, in case it is the trouble."""
        self.sources.forget(key)
        if self.dp is not None and key in self._dp_sent:
            self.dp.clear_source(key)

    # EngineDriver hooks
    def transmit(self, ev: Transmit) -> None:
        dest = ev.dest
        peer = ev.peer
        if dest is None and peer is not None:
            dest = self.engine.peer(peer).endpoint
        local = None
        if peer is not None and ev.kind == "initiation" and self.engine.peer(peer).handshake_attempts:
            self._clear_source(peer)  # a retransmit (the engine counts the retries)
        elif self._rx_from is not None and dest == self._rx_from[0]:
            local = self._rx_from[1]  # a reply leaves from where the message arrived
        elif peer is not None and dest is not None:
            local = self.sources.source_for(peer, dest)
        rt = self.peers.get(peer) if peer is not None else None
        if (dest is None or not self._send_addr(dest, ev.data, local)) and rt is not None:
            rt.drops["no_endpoint" if dest is None else "send_error"] += 1

    def install_keypair(self, peer: bytes, keypair: Keypair) -> None:
        if self.dp is not None and peer in self._dp_sent:
            self.dp.install_keypair(peer, keypair)  # an initiator's also confirms it
            rt = self.peers.get(peer)
            if keypair.is_initiator and rt is not None:
                self._release_held(peer, rt)

    def keys_zeroed(self, peer: bytes) -> None:
        if self.dp is not None and peer in self._dp_sent:
            self.dp.remove_keypair(peer)

    def gave_up(self, peer: bytes, dropped: int) -> None:
        rt = self.peers.get(peer)
        if rt is not None:
            dropped += len(rt.held)
            rt.held.clear()
            if dropped:
                rt.drops["handshake_timeout"] += dropped

    def _send_addr(self, addr: tuple, datagram, local: str | None = None) -> bool:
        """One datagram to ``addr``, from our address ``local`` if given."""
        sock = self.udp6 if len(addr) == 4 else self.udp4
        if sock is None:
            return False
        try:
            if local is None:
                sock.sendto(datagram, addr)
            else:
                sock.sendmsg([datagram], [net.source_cmsg(local)], 0, addr)
        except OSError as e:
            if local is None or e.errno not in net.SOURCE_REFUSED:
                return False
            self._forget_source(local)
            return self._send_addr(addr, datagram)
        return True

    # ------------------------------------------------------------------ control

    def snapshot(self) -> Device:
        """The running device with counters, as a get reports it."""
        dev = Device(
            name=self.name,
            private_key=self.config.private_key,
            public_key=self.config.public_key,
            listen_port=self.config.listen_port,
            fwmark=self.config.fwmark,
            protocol=self.config.protocol,
            cipher=self.config.cipher,
            status=DeviceStatus(backend="userspace", drops=dict(self.drops)),
        )
        drops = dev.status.drops
        stats = self.dp.stats() if self.dp is not None else None
        if stats is not None:
            for reason, n in stats["device"]["drops"].items():
                if n:
                    drops[reason] = drops.get(reason, 0) + n
            for what, n in stats["device"]["handshake"].items():  # the flood defence's sheds
                if n and (what.startswith("shed_") or what in ("malformed", "mac1_invalid", "cookie_sent")):
                    drops[f"handshake_{what}"] = n
        for p in self.conf.peers.values():
            rt = self.peers[p.public_key]
            native = stats["peers"].get(p.public_key) if stats is not None else None
            endpoint, hs, rx, tx = self._live(p, rt, (native["rx_bytes"], native["tx_bytes"]) if native else None)
            st = PeerStatus(last_handshake=hs, rx_bytes=rx, tx_bytes=tx, drops=dict(rt.drops))
            if native is not None:
                st.rx_packets += native["rx_packets"]
                st.tx_packets += native["tx_packets"]
                for reason, n in native["drops"].items():
                    if n:
                        st.drops[reason] = st.drops.get(reason, 0) + n
            dev.peers.append(Peer(
                public_key=p.public_key,
                preshared_key=p.preshared_key,
                endpoint=endpoint,
                allowed_ips=list(p.allowed_ips),
                persistent_keepalive=p.persistent_keepalive,
                name=p.name,
                status=st,
            ))
        return dev

    def _live(self, p: Peer, rt: PeerRuntime, transfer: tuple[int, int] | None) -> tuple:
        """``(endpoint, last handshake, rx bytes, tx bytes)`` of a configured peer
        now; ``transfer`` is the data plane's (rx, tx) for it, if it has one."""
        endpoint, hs, rx, tx = p.endpoint, None, 0, 0
        if self.engine is not None:
            sess = self.engine.peer(p.public_key)
            if sess.endpoint is not None:
                endpoint = net.endpoint_of(sess.endpoint)
            # Handshake bytes are the engine's, transport bytes the data path's.
            hs, rx, tx = sess.last_handshake, sess.rx_bytes, sess.tx_bytes
        if transfer is not None:
            rx += transfer[0]
            tx += transfer[1]
            if rt.confirmed and (hs or 0) < rt.confirmed:
                hs = rt.confirmed  # a responder's handshake completes on confirmation
        return endpoint, hs, rx, tx

    def _uapi_get(self, option: str) -> str:
        """A get reply: wg's lines (no option), wg's and SecureSwift's
        (EXTENSIONS_LINE), or ``wg show dump``'s text (DUMP_LINE). The first and
        the last are made from per-peer text kept between configuration changes:
        at 100,000 peers a read formats endpoints, handshakes and counters only."""
        if option == EXTENSIONS_LINE:
            return encode_get(self.snapshot(), extensions=True)
        dump = option == DUMP_LINE
        cache, render = (self._dump_parts, peer_parts) if dump else (self._get_parts, peer_get_parts)
        transfer = self.dp.transfer() if self.dp is not None else {}
        out = [interface_line(self.config) if dump else device_get_head(self.config)]
        for p in self.conf.peers.values():
            key = p.public_key
            cached = cache.get(key)
            if cached is None or cached[0] is not p:
                cached = cache[key] = (p, render(p))
            endpoint, hs, rx, tx = self._live(p, self.peers[key], transfer.get(key))
            if dump:
                out.append(peer_line(cached[1], endpoint, hs, rx, tx))
            else:
                head, tail = cached[1]
                out.append(head + peer_get_live(endpoint, hs, tx, rx) + tail)
        out.append("errno=0\n\n")
        return "".join(out)

    def _uapi_set(self, request: Device) -> None:
        change = self.conf.plan(request)
        new = change.device
        # Everything that can fail happens before the first change.
        addrs = {}
        for req in request.peers:
            p = change.peers.get(req.public_key)
            if p is not None and req.endpoint is not None:
                try:
                    addrs[p.public_key] = net.resolve_endpoint(req.endpoint)
                except OSError:
                    raise UAPIError(f"cannot resolve endpoint {req.endpoint}", errno.EINVAL) from None
        port_changed = request.listen_port is not None and request.listen_port != self.config.listen_port
        if port_changed or (new.fwmark or 0) != (self.config.fwmark or 0):
            try:
                self._bind(new.listen_port or 0, new.fwmark or 0)
            except OSError as e:
                raise UAPIError(f"cannot bind UDP port {new.listen_port}: {e.strerror}", errno.EADDRINUSE) from None
            new.listen_port = self.config.listen_port
        self._commit(change, addrs)
        if len(change.peers) >= GC_AFTER_PEERS or change.replace:
            self._gc_at = time.monotonic() + GC_DELAY

    def _commit(self, change: Change, addrs: dict) -> None:
        """Apply a validated change; costs the peers it names, not all of them
        (a new key or mode restarts every session: that is O(peers) by nature)."""
        old = self.config
        new = change.device
        removed, changed = self.conf.commit(change)
        for key, _ in removed:
            self._get_parts.pop(key, None)
            self._dump_parts.pop(key, None)
        # Gets and dumps are what monitoring reads again and again: their text
        # is made here, with the change, so that even the first read is quick.
        for _, p in changed:
            self._dump_parts[p.public_key] = (p, peer_parts(p))
            self._get_parts[p.public_key] = (p, peer_get_parts(p))
        if new.protocol != old.protocol or new.cipher != old.cipher or self.engine is None:
            self._rebuild_engine()
            return
        if new.private_key != old.private_key:
            if new.private_key is None:
                self._rebuild_engine()
                return
            self.engine.set_private_key(new.private_key)
            if self.dp is not None:
                for key in self._dp_sent:
                    self.dp.remove_keypair(key)
        engine = self.engine
        now = time.monotonic()
        for key, _ in removed:
            del self.peers[key]
            self.sources.forget(key)
            engine.remove_peer(key)
        for before, p in changed:
            if before is None:
                self._add_peer(p, addrs.get(p.public_key), now)
                continue
            changes = {}
            if p.public_key in addrs:
                changes["endpoint"] = addrs[p.public_key]
                self.sources.forget(p.public_key)  # a configured endpoint starts without a source
            if before.preshared_key != p.preshared_key:
                changes["preshared_key"] = p.preshared_key
            if before.persistent_keepalive != p.persistent_keepalive:
                changes["persistent_keepalive"] = p.persistent_keepalive or 0
            if changes:
                self.handle(engine.update_peer(p.public_key, now=now, **changes))
        self._sync_dp([k for k, _ in removed] + [p.public_key for _, p in changed])

    def _rebuild_engine(self) -> None:
        """New mode or suite (or no key): every session restarts from scratch."""
        old = self.engine
        endpoints = {s.public_key: s.endpoint for s in old.peers()} if old is not None else {}
        self.drop_engine()
        if self.config.private_key is not None:
            self.engine = Engine(self.config.private_key, self.config.protocol, self.config.cipher,
                                 wall_clock=time.time, timestamps=self.stamps)
        self._stop_dp()  # a new mode may mean a new transport type byte
        now = time.monotonic()
        known = self.peers
        self.peers = {}
        self.sources.clear()
        for p in self.conf.peers.values():
            self._add_peer(p, endpoints.get(p.public_key), now, known.get(p.public_key))
        if self.tun is not None:
            self._start_dp()

    def _add_peer(self, p: Peer, addr: tuple | None, now: float, rt: PeerRuntime | None = None) -> None:
        if addr is None and p.endpoint is not None:
            try:
                addr = net.resolve_endpoint(p.endpoint)
            except OSError:
                log.warning("%s: cannot resolve endpoint of peer %s", self.name, short_key(p.public_key))
        self.peers[p.public_key] = rt or PeerRuntime()
        if self.engine is not None:
            self.handle(self.engine.add_peer(
                p.public_key, preshared_key=p.preshared_key,
                persistent_keepalive=p.persistent_keepalive or 0, endpoint=addr, now=now,
            ))

    def _bind(self, port: int, fwmark: int) -> None:
        if self.udp4 is not None and port == self.config.listen_port:  # only the mark changes
            for s in (self.udp4, self.udp6):
                if s is not None:
                    s.setsockopt(socket.SOL_SOCKET, net.SO_MARK, fwmark)
            self.config.fwmark = fwmark
            return
        v4, v6, actual = net.bind_pair(port, fwmark)
        if self.dp is not None:
            # The running data path moves to the new sockets and keeps its
            # sessions, as WireGuard does on a new listen port.
            try:
                self.dp.set_sockets(self.tun.fd, v4.fileno(), v6.fileno() if v6 else -1, offload=self.tun.vnet)
            except BaseException:
                for s in (v4, v6):
                    if s is not None:
                        s.close()
                raise  # it carries on with the old sockets
        for s in (self.udp4, self.udp6):
            if s is not None:
                s.close()
        self.udp4, self.udp6 = v4, v6
        self.config.listen_port = actual
        self.config.fwmark = fwmark

    # ------------------------------------------------------------------ native data path

    def _start_dp(self) -> None:
        """A fresh native data path over our TUN and sockets, told every peer."""
        mode = mode_for(self.config.protocol or Protocol.SECURESWIFT, self.config.cipher)
        dp = datapath.Datapath(mode.type_data, self.mtu)
        dp.set_sockets(self.tun.fd, self.udp4.fileno() if self.udp4 else -1,
                       self.udp6.fileno() if self.udp6 else -1, offload=self.tun.vnet)
        self.dp = dp
        self._dp_sent = {}
        self._sync_dp()
        dp.start()
        self.sel.register(dp.event_fd(), selectors.EVENT_READ, self._on_dp_events)

    def _stop_dp(self) -> None:
        dp, self.dp = self.dp, None
        if dp is not None:
            self._unregister(dp.event_fd())
            dp.stop()  # joins the workers, zeroes every keypair

    def _sync_dp(self, keys: list | None = None) -> None:
        """Tell the data path what changed for ``keys`` (None: every peer):
        peers, endpoints, keepalives, allowed IPs."""
        dp = self.dp
        if dp is None:
            return
        if self.config.public_key is not None:
            dp.set_public_key(self.config.public_key)  # mac1 and cookie replies in C
        wanted = self.conf.peers
        if keys is None:
            keys = [k for k in self._dp_sent if k not in wanted] + list(wanted)
        for key in keys:
            p = wanted.get(key)
            if p is None:
                if key in self._dp_sent:
                    dp.remove_peer(key)
                    del self._dp_sent[key]
                continue
            endpoint = None
            if self.engine is not None:
                endpoint = self.engine.peer(key).endpoint
            if endpoint is None and p.endpoint is not None:
                try:
                    endpoint = net.resolve_endpoint(p.endpoint)
                except OSError:
                    endpoint = None
            state = (endpoint, p.persistent_keepalive or 0, tuple(p.allowed_ips))
            sent = self._dp_sent.get(key)
            if sent == state:
                continue
            if sent is None or sent[:2] != state[:2]:
                dp.set_peer(key, endpoint=endpoint, persistent_keepalive=state[1])
                local = self.sources.source_for(key, endpoint)
                if local is not None:  # set_peer starts without one; the peer did not move
                    dp.set_endpoint(key, endpoint, local)
            if sent is None or sent[2] != state[2]:
                dp.set_allowed_ips(key, p.allowed_ips)
            self._dp_sent[key] = state

    def _on_dp_events(self, _fd, _mask) -> None:
        now = time.monotonic()
        for ev in self.dp.poll_events():
            kind = ev.kind
            if kind == "handshake":
                self._inbound(ev.data, ev.addr, now, ev.source)
            elif kind == "staged":
                rt = self.peers.get(ev.peer)
                if rt is None:
                    continue
                if len(rt.held) >= MAX_STAGED_PACKETS:
                    rt.held.popleft()
                    rt.drops["staged_overflow"] += 1
                rt.held.append(ev.data)
                self.need_handshake(ev.peer, now)
            elif kind == "rekey":
                if ev.peer in self.peers:
                    self.need_handshake(ev.peer, now)
            elif kind == "endpoint":
                if self.engine is not None and ev.peer in self.peers:
                    self.engine.update_peer(ev.peer, endpoint=ev.addr)
                    self._moved(ev.peer, ev.addr, ev.source, tell_dp=False)
            elif kind == "confirmed":
                rt = self.peers.get(ev.peer)
                if rt is not None:
                    rt.confirmed = time.time()
                    log.info("%s: handshake completed with peer %s (confirmed)", self.name, short_key(ev.peer))
                    self._release_held(ev.peer, rt)
        if self.dp is not None and self.dp.tun_gone():
            self._tun_gone()

    def _release_held(self, key: bytes, rt: PeerRuntime) -> None:
        """Send what waited for the handshake, through the data path."""
        while rt.held:
            if not self.dp.send(key, rt.held.popleft()):
                break  # no usable keypair after all: it came back as "staged"

    def _unregister(self, fileobj) -> None:
        try:
            self.sel.unregister(fileobj)
        except (KeyError, ValueError):
            pass
