"""Set semantics as a pure function: running config + set request -> new config.

The daemon computes the whole change first (``RunningConfig.plan``) and only
then touches sockets, sessions and the TUN device, so a request that fails
validation changes nothing (wireguard-go, by contrast, applies line by line).
Both steps cost what the request names, not the number of peers: a set that
adds one peer to a 10k-peer device copies and visits that peer alone.

Rules (wireguard-go device/uapi.go and the kernel's netlink.c agree):
- An all-zero private key clears it; any other is stored clamped (RFC 7748,
  as the kernel stores it and wg shows it). A peer whose public key equals the
  device's own public key is ignored in a request, and removed when the
  private key changes to match it.
- ``replace_peers`` drops every peer before the request's peer sections.
- ``remove`` deletes the peer; ``update_only`` skips a peer that does not
  exist yet; an all-zero preshared key clears it.
- ``replace_allowed_ips`` clears the peer's list before its ``allowed_ip``
  lines; an allowed IP held by another peer moves to this one.
"""

from __future__ import annotations

import copy
import errno
from typing import NamedTuple

from ..ipc.uapi_codec import ZERO_KEY, UAPIError
from ..keys import clamp, public_key
from ..model import Cipher, Device, Peer, Protocol


class Change(NamedTuple):
    """A validated set request, not yet applied: the device's new fields and
    the peers it names (a new copy, or None for removed), in request order."""

    device: Device  # its ``peers`` is unused (empty)
    peers: dict
    replace: bool  # replace_peers: every peer not named here goes too


def _writable_copy(p: Peer) -> Peer:
    """A copy deep enough that changing it cannot touch ``p`` (keys, endpoints
    and networks are immutable, the list is not; a configuration has no status)."""
    q = copy.copy(p)
    q.allowed_ips = list(p.allowed_ips)
    return q


class RunningConfig:
    """The userspace daemon's configuration, indexed by public key and by
    allowed IP, so that a set costs what it names, not the number of peers:
    ``plan`` validates a request against it without changing anything (a
    rejected request changes nothing), ``commit`` applies the plan."""

    def __init__(self, device: Device) -> None:
        self.device = copy.copy(device)
        self.device.peers = []
        self.peers: dict[bytes, Peer] = {p.public_key: p for p in device.peers}  # in ``wg show`` order
        self.owner: dict = {net: p.public_key for p in device.peers for net in p.allowed_ips}

    def as_device(self) -> Device:
        dev = copy.copy(self.device)
        dev.peers = list(self.peers.values())
        return dev

    def plan(self, request: Device) -> Change:
        """The change ``request`` makes; this configuration is not modified."""
        new = copy.copy(self.device)
        touched: dict[bytes, Peer | None] = {}
        if request.private_key is not None:
            # Stored clamped, as the kernel stores it (noise.c
            # wg_noise_set_static_identity_private_key): `show private-key` and a
            # get print it so, as wg does for WireGuard. The X25519 result is the same.
            new.private_key = None if request.private_key == ZERO_KEY else clamp(request.private_key)
            new.public_key = public_key(new.private_key) if new.private_key else None
            if new.public_key in self.peers and not request.replace_peers:
                touched[new.public_key] = None
        if request.listen_port is not None:
            new.listen_port = request.listen_port
        if request.fwmark is not None:
            new.fwmark = request.fwmark
        if request.protocol is not None:
            new.protocol = Protocol(request.protocol)
        if request.cipher is not None:
            new.cipher = Cipher(request.cipher)
        if new.protocol is Protocol.WIREGUARD and new.cipher is Cipher.AES_256_GCM:
            raise UAPIError("wireguard mode supports only chacha20-poly1305", errno.EINVAL)
        replace = request.replace_peers
        owner: dict = {}  # allowed IPs that change hands in this request

        def current(key) -> Peer | None:
            if key in touched:
                return touched[key]
            return None if replace else self.peers.get(key)

        def writable(key) -> Peer | None:
            if key not in touched:
                p = None if replace else self.peers.get(key)
                if p is None:
                    return None
                touched[key] = _writable_copy(p)
            return touched[key]

        for req in request.peers:
            key = req.public_key
            if new.public_key is not None and key == new.public_key:
                continue
            if req.remove:
                if current(key) is not None:
                    touched[key] = None
                continue
            peer = writable(key)
            if peer is None:
                if req.update_only:
                    continue
                peer = touched[key] = Peer(public_key=key, persistent_keepalive=0)
            if req.preshared_key is not None:
                peer.preshared_key = None if req.preshared_key == ZERO_KEY else req.preshared_key
            if req.endpoint is not None:
                peer.endpoint = req.endpoint
            if req.persistent_keepalive is not None:
                peer.persistent_keepalive = req.persistent_keepalive
            if req.name is not None:
                peer.name = req.name
            if req.replace_allowed_ips:
                peer.allowed_ips = []
            for net in req.allowed_ips:
                holder_key = owner[net] if net in owner else (None if replace else self.owner.get(net))
                holder = current(holder_key) if holder_key is not None else None
                if holder is not None and net in holder.allowed_ips:
                    if holder_key == key:
                        continue
                    writable(holder_key).allowed_ips.remove(net)
                owner[net] = key
                peer.allowed_ips.append(net)
        return Change(new, touched, replace)

    def commit(self, change: Change) -> tuple[list, list]:
        """Apply a plan. Returns ``(removed, changed)``: ``(key, old peer)`` for
        each peer gone and ``(old peer or None, new peer)`` for each added or
        changed one."""
        self.device = change.device
        old = self.peers
        removed, changed = [], []
        if change.replace:
            self.peers, self.owner = {}, {}
            removed = [(k, p) for k, p in old.items() if change.peers.get(k) is None]
        for key, p in change.peers.items():
            before = old.get(key)
            if before is not None and not change.replace:
                for net in before.allowed_ips:
                    if self.owner.get(net) == key:
                        del self.owner[net]
            if p is None:
                if before is not None and not change.replace:
                    del self.peers[key]
                    removed.append((key, before))
                continue
            self.peers[key] = p
            changed.append((before, p))
        for _, p in changed:  # new owners once every old claim is gone
            for net in p.allowed_ips:
                self.owner[net] = p.public_key
        return removed, changed


def apply_set(current: Device, request: Device) -> Device:
    """The configuration after ``request``; ``current`` is not modified."""
    running = RunningConfig(current)
    running.commit(running.plan(request))
    return running.as_device()
