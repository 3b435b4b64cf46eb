"""The daemon's kernel backend: handshakes for a secureswift.ko device.

secureswift.ko holds the configuration and carries every data packet; this
daemon only negotiates keys. One thread, one selector over three sockets:

- the family's ``handshake`` multicast group (sswctl.ipc.genl): handshake
  messages that passed the kernel's size, mac1 and rate checks go to the
  engine; NEED_HANDSHAKE starts a handshake; ENDPOINT_CHANGED (roaming)
  and KEYS_EXPIRED keep the engine's view of each peer in step with the
  kernel's; DEVICE_CHANGED (any SET_DEVICE) re-reads the device and applies
  the difference to the engine;
- rtnetlink's link group, to exit (status 0) when the link is deleted;
- a wake-up pipe for SIGTERM/SIGINT.

The engine's events go out through sswctl.daemon.driver, as in the
userspace backend: keypairs with INSTALL_KEYPAIR before the handshake
message that follows, handshake messages with XMIT_HANDSHAKE from the
device's own socket. Its timers (retransmit, give-up) run every TICK.
Each upcall's LOCAL (the address of ours a handshake message came to) is
remembered per remote address and given back with the answer and the
keypair, so the module replies from the address the peer wrote to (its
sticky source; docs/kernel-module.md).

The group subscription is made before the first GET_DEVICE, so no change
made in between goes unseen. A socket overflow (ENOBUFS: upcalls lost)
re-reads the device; a peer whose handshake request was lost is asked for
again by the kernel (NEED_HANDSHAKE repeats every REKEY_TIMEOUT while
packets wait). The daemon keeps no transport keys the kernel needs: killing
and restarting it leaves established sessions running; the new daemon
starts with none and handshakes when the kernel or a peer asks.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import selectors
import socket
import time

from ..ipc import IPCError
from ..ipc.genl import GenlBackend, HandshakeUpcall
from ..ipc.netlink import NLMSG_HDR
from ..ipc.rtnl import IFINFOMSG, RTM_DELLINK
from ..model import Device, Endpoint, Peer
from ..paths import SOCK_DIR
from ..protocol import ConfigError, Engine, ProtocolError, Transmit
from ..protocol.keypair import Keypair
from .driver import EngineDriver, short_key
from .lock import InterfaceLock
from .stamps import TimestampFile

log = logging.getLogger("sswctl.daemon")

# A configuration is re-read once SET_DEVICE messages stop coming for this long:
# one setconf of a large config is many messages, and each dump costs O(config).
SETTLE = 1.0
UPCALL_BATCH = 64  # upcalls handled per readiness event, so timers keep running under a flood
LOCALS_MAX = 4096  # remote addresses whose local address (sticky source) is remembered
RTMGRP_LINK = 1


def _addr(ep: Endpoint | None) -> tuple | None:
    return (ep.host, ep.port) if ep is not None else None


class LinkGone(Exception):
    """The device was deleted (or moved to another namespace)."""


class KernelDaemon(EngineDriver):
    """Handshake daemon for the secureswift.ko device ``name`` in this namespace."""

    def __init__(self, name: str, *, sock_dir: str = SOCK_DIR, genl: GenlBackend | None = None):
        self.name = name
        self.sock_dir = sock_dir
        self.kb = genl or GenlBackend()
        self.config: Device | None = None
        self.engine: Engine | None = None
        self.ifindex = 0
        self.sel = selectors.DefaultSelector()
        self.ups = None
        self.links: socket.socket | None = None
        self.lock: InterfaceLock | None = None
        self.stamps: TimestampFile | None = None
        self.running = False
        self.link_gone = False
        # Refused handshake messages by reason, failed kernel calls: never key material.
        self.errors: collections.Counter = collections.Counter()
        self._changed_at: float | None = None  # last DEVICE_CHANGED not yet re-read
        # Sender of the handshake message whose events are being handled (set only
        # once the engine accepted it): keypairs installed then move the endpoint.
        self._authenticated_from: Endpoint | None = None
        self._received_len: int | None = None  # that message's size, counted as received from the peer
        # Per remote address, the address of ours its last handshake message came
        # to (the upcalls' LOCAL): answers and keypairs for it go back from there,
        # so a multi-homed host replies from the address the peer wrote to.
        self._locals: dict[tuple, Endpoint] = {}

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Take the interface, subscribe, then read the configuration."""
        self.lock = InterfaceLock(self.sock_dir, self.name)
        try:
            self.stamps = TimestampFile(self.sock_dir, self.name)
            try:
                self.ifindex = socket.if_nametoindex(self.name)
            except OSError:
                raise IPCError(f"{self.name}: no such device", errno.ENODEV) from None
            self.links = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK
                                       | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
            self.links.bind((0, RTMGRP_LINK))
            self.ups = self.kb.handshake_upcalls()
            self.ups.sock.setblocking(False)
            self.open_wake_pipe()
            self.sel.register(self.ups.fileno(), selectors.EVENT_READ, self._on_upcalls)
            self.sel.register(self.links, selectors.EVENT_READ, self._on_links)
            self._apply(self.kb.get_device(self.name))  # after subscribing: nothing is missed
        except BaseException:
            self.close()
            raise
        self.running = True
        log.info("%s: up, kernel backend, %s mode, %s, UDP port %d, %d peers", self.name, self.config.protocol,
                 self.config.cipher, self.config.listen_port or 0, len(self.config.peers))

    def close(self) -> None:
        self.running = False
        for fileobj in (self.ups.fileno() if self.ups is not None else None, self.links):
            if fileobj is not None:
                try:
                    self.sel.unregister(fileobj)
                except (KeyError, ValueError):
                    pass
        if self.ups is not None:
            self.ups.close()
            self.ups = None
        if self.links is not None:
            self.links.close()
            self.links = None
        self.release()  # overwrites every handshake and keypair the engine holds
        log.info("%s: %s", self.name, "link deleted, daemon exits" if self.link_gone else "down")

    def run(self) -> None:
        """Serve until stopped (signal) or the link is deleted."""
        try:
            super().run()
        except LinkGone:
            self.link_gone = True
            self.running = False

    def pending(self, now: float) -> float | None:
        if self._changed_at is None:
            return None
        if now - self._changed_at >= SETTLE:
            self._resync()
            return None
        return self._changed_at + SETTLE

    # ------------------------------------------------------------------ kernel events

    def _on_upcalls(self, _fd, _mask) -> None:
        for _ in range(UPCALL_BATCH):
            try:
                batch = self.ups.read()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                # The socket overflowed and upcalls were lost: start again from the kernel's state.
                self.errors["upcalls_lost"] += 1
                log.warning("%s: kernel notifications were lost (socket overflow); re-reading the device", self.name)
                self._resync()
                continue
            now = time.monotonic()
            for up in batch:
                if up.ifindex == self.ifindex:
                    self._upcall(up, now)

    def _upcall(self, up: HandshakeUpcall, now: float) -> None:
        kind, peer = up.kind, up.peer_public_key
        if kind in ("handshake", "need_handshake") and self._changed_at is not None:
            # A configuration change not applied yet (a new private key, a peer just
            # added) is what this message may need: apply it now, not SETTLE later.
            self._resync()
        if kind == "handshake":
            if self.engine is None or up.endpoint is None:
                self.errors["no_private_key" if self.engine is None else "no_source"] += 1
                return
            # The module decides "under load" (it sees the backlog), answers
            # cookies itself and hands up only what passed, so the engine never
            # demands a mac2 the kernel already judged (engine.under_load stays off).
            self._note_local(up.endpoint, up.local)
            try:
                r = self.engine.receive(up.packet, _addr(up.endpoint), now)
            except ProtocolError as e:
                self.errors[e.reason] += 1
                log.debug("%s: handshake message from %s refused: %s", self.name, up.endpoint, e.reason)
                return
            # The engine accepted the message: a keypair it yields comes from an
            # authenticated handshake, whose sender is where the peer now is.
            self._authenticated_from, self._received_len = up.endpoint, len(up.packet)
            try:
                self.handle(r.events)
            finally:
                self._authenticated_from, self._received_len = None, None
        elif kind == "need_handshake":
            self.need_handshake(peer, now)
        elif kind == "device_changed":
            self._changed_at = now
        elif self.engine is not None and peer is not None:
            try:
                if kind == "endpoint_changed" and up.endpoint is not None:
                    self.engine.update_peer(peer, endpoint=_addr(up.endpoint))
                    self._config_peer(peer).endpoint = up.endpoint
                elif kind == "keys_expired":
                    self.engine.forget_keypairs(peer)
                    log.info("%s: keys of peer %s expired", self.name, short_key(peer))
            except ConfigError:
                pass  # a peer removed since: the DEVICE_CHANGED that follows says so

    def _note_local(self, remote: Endpoint, local: Endpoint | None) -> None:
        if local is None:
            return  # a module without sticky sources: the route picks
        key = _addr(remote)
        self._locals.pop(key, None)
        if len(self._locals) >= LOCALS_MAX:
            del self._locals[next(iter(self._locals))]  # the least recently heard
        self._locals[key] = local

    def _config_peer(self, key: bytes) -> Peer:
        for p in self.config.peers:
            if p.public_key == key:
                return p
        raise ConfigError("no such peer")

    def _on_links(self, sock: socket.socket, _mask) -> None:
        while True:
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                self._check_link()  # lost link events: look for ourselves directly
                continue
            off = 0
            while off + NLMSG_HDR.size + IFINFOMSG.size <= len(data):
                length, mtype = NLMSG_HDR.unpack_from(data, off)[:2]
                if length < NLMSG_HDR.size:
                    break
                index = IFINFOMSG.unpack_from(data, off + NLMSG_HDR.size)[2]
                if mtype == RTM_DELLINK and index == self.ifindex:
                    raise LinkGone
                off += (length + 3) & ~3

    def _check_link(self) -> None:
        try:
            if socket.if_indextoname(self.ifindex) == self.name:
                return
        except OSError:
            pass
        raise LinkGone

    def _resync(self) -> None:
        self._changed_at = None
        try:
            device = self.kb.get_device(self.name)
        except IPCError as e:
            if e.errno in (errno.ENODEV, errno.ENOENT, errno.EOPNOTSUPP):
                self._check_link()
            log.warning("%s: cannot read the device: %s", self.name, e)
            self._changed_at = time.monotonic()  # try again
            return
        self._apply(device)

    # ------------------------------------------------------------------ configuration

    def _apply(self, new: Device) -> None:
        """Make the engine match the kernel's configuration ``new``."""
        old, self.config = self.config, new
        now = time.monotonic()
        if (old is None or self.engine is None or new.private_key != old.private_key
                or new.protocol != old.protocol or new.cipher != old.cipher):
            # New identity, mode or suite: every session starts again.
            self.drop_engine()
            if new.private_key is None:
                log.info("%s: no private key yet: waiting for one", self.name)
                return
            self.engine = Engine(new.private_key, new.protocol, new.cipher,
                                 wall_clock=time.time, timestamps=self.stamps)
            for p in new.peers:
                self._add_peer(p, now)
            return
        before = {p.public_key: p for p in old.peers}
        wanted = {p.public_key for p in new.peers}
        for key in before.keys() - wanted:
            self.engine.remove_peer(key)
            log.info("%s: peer %s removed", self.name, short_key(key))
        for p in new.peers:
            was = before.get(p.public_key)
            if was is None:
                self._add_peer(p, now)
                continue
            changes: dict = {}
            if p.preshared_key != was.preshared_key:
                changes["preshared_key"] = p.preshared_key
            if p.endpoint != was.endpoint:
                changes["endpoint"] = _addr(p.endpoint)
            if (p.persistent_keepalive or 0) != (was.persistent_keepalive or 0):
                changes["persistent_keepalive"] = p.persistent_keepalive or 0
            if changes:
                self.handle(self.engine.update_peer(p.public_key, now=now, **changes))

    def _add_peer(self, p: Peer, now: float) -> None:
        try:
            events = self.engine.add_peer(p.public_key, preshared_key=p.preshared_key,
                                          persistent_keepalive=p.persistent_keepalive or 0,
                                          endpoint=_addr(p.endpoint), now=now)
        except ConfigError as e:
            log.warning("%s: peer %s ignored: %s", self.name, short_key(p.public_key), e)
            return
        log.info("%s: peer %s added", self.name, short_key(p.public_key))
        self.handle(events)

    # ------------------------------------------------------------------ EngineDriver hooks

    def transmit(self, ev: Transmit) -> None:
        # An answer goes where the message came from, an initiation to the
        # endpoint the engine knows (kept equal to the kernel's by
        # ENDPOINT_CHANGED and re-reads); with none, the kernel's own for the peer.
        dest = Endpoint(*ev.dest[:2]) if ev.dest is not None else None
        # A retried initiation (WireGuard's retransmit) lets the kernel forget the
        # source address it cached for the peer, in case that is what failed.
        retransmit = (ev.kind == "initiation" and ev.peer is not None and self.engine is not None
                      and self._retrying(ev.peer))
        # From the address the peer last wrote to, except on a retry (WireGuard
        # forgets the source then: it may be what failed).
        local = self._locals.get(_addr(dest)) if dest is not None and not retransmit else None
        # The peer, when known, also counts the message as sent to it (as WireGuard's
        # transfer counters do); a cookie reply is for nobody in particular.
        try:
            self.kb.xmit_handshake(self.name, bytes(ev.data), endpoint=dest, peer_public_key=ev.peer,
                                   retransmit=retransmit, local=local)
        except IPCError as e:
            self.errors["send_error"] += 1
            log.warning("%s: cannot send a handshake %s%s: %s", self.name, ev.kind,
                        f" to peer {short_key(ev.peer)}" if ev.peer else "", os.strerror(e.errno or errno.EIO))

    def _retrying(self, peer: bytes) -> bool:
        try:
            return self.engine.peer(peer).handshake_attempts > 0
        except ConfigError:
            return False

    def install_keypair(self, peer: bytes, keypair: Keypair) -> None:
        try:
            self.kb.install_keypair(self.name, peer, local_index=keypair.local_index,
                                    remote_index=keypair.remote_index, send_key=bytes(keypair.send_key),
                                    receive_key=bytes(keypair.receive_key), initiator=keypair.is_initiator,
                                    cipher=keypair.cipher, endpoint=self._authenticated_from,
                                    local=self._locals.get(_addr(self._authenticated_from)),
                                    rx_handshake_len=self._received_len)
        except IPCError as e:
            self.errors["install_error"] += 1
            log.warning("%s: cannot install keys for peer %s: %s", self.name, short_key(peer),
                        os.strerror(e.errno or errno.EIO))
            return
        log.info("%s: new session with peer %s (%s)", self.name, short_key(peer),
                 "initiator" if keypair.is_initiator else "responder")

    def gave_up(self, peer: bytes, dropped: int) -> None:
        # The engine stages nothing: the packets wait in the kernel.
        try:
            self.kb.drop_staged(self.name, peer)
        except IPCError as e:
            self.errors["drop_staged_error"] += 1
            log.warning("%s: cannot drop the packets staged for peer %s: %s", self.name, short_key(peer),
                        os.strerror(e.errno or errno.EIO))
