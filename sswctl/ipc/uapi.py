"""ControlBackend over the userspace daemon's UAPI UNIX socket.

Sockets live at ``/var/run/secureswift/IFACE.sock`` (mode 0600) in the network
namespace of pid 1 and at ``IFACE@net-INODE.sock`` in any other (sswctl/paths.py):
the client talks to the daemons of its own namespace (or of the one it is
given, ``netns``), and only to those. A daemon asked to be visible to
wireguard-tools also listens at ``/var/run/wireguard/IFACE.sock``, where ``wg``
looks; this client reads that directory too, so ``sswctl show`` also lists
wireguard-go interfaces. Names there carry no namespace, so a socket there
counts only when the process that serves it (SO_PEERCRED) is in our namespace,
or cannot be seen from here to be elsewhere.
SecureSwift extension keys are requested only from our own directory:
wireguard-go rejects anything after ``get=1`` but the blank line.
"""

from __future__ import annotations

import _socket
import errno
import os
import re
import stat

from ..model import Device
from ..paths import SOCK, SOCK_DIR, WG_SOCK_DIR, InvalidName, device_names, netns_inode, socket_path, wg_socket_path
from . import ControlBackend, IPCError
from .uapi_codec import EXTENSIONS_LINE, UAPIError, decode_get, encode_set
from .uapi_socket import TIMEOUT, UnixSocket, transact


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


class UAPIBackend(ControlBackend):
    kind = "userspace"

    def __init__(self, directories: tuple[str, ...] = (SOCK_DIR, WG_SOCK_DIR), netns: int | None = None):
        self.directories = directories
        self.netns = netns_inode() if netns is None else netns  # whose daemons: an inode

    def list_devices(self) -> list[str]:
        names: list[str] = []
        for d in self.directories:
            shared = d == WG_SOCK_DIR
            for name in device_names(d, SOCK, self.netns, tagged=not shared):
                if name not in names and self._serves(self._path(d, name), shared):
                    names.append(name)
        return names

    def has_device(self, name: str) -> bool:
        return self._find(name) is not None

    def serves(self, name: str) -> bool:
        """``name`` is one of :meth:`list_devices`' (a daemon answers at its socket), asked without listing."""
        try:
            return any(self._serves(self._path(d, name), d == WG_SOCK_DIR) for d in self.directories)
        except IPCError:  # not a valid interface name
            return False

    def get_device(self, name: str) -> Device:
        path, ours = self._locate(name)
        request = f"get=1\n{EXTENSIONS_LINE}\n\n" if ours else "get=1\n\n"
        dev = decode_get(transact(path, request).decode("utf-8", "replace"), name)
        if not ours:
            dev.status.backend = "userspace"
        return dev

    def set_device(self, device: Device) -> None:
        path, _ = self._locate(device.name)
        reply = transact(path, encode_set(device)).decode("ascii", "replace")
        m = re.fullmatch(r"errno=(-?[0-9]+)\n\n", reply)
        if not m:
            raise UAPIError("malformed set reply", errno.EPROTO)
        code = int(m.group(1))
        if code:
            raise UAPIError(f"{device.name}: daemon refused the change ({os.strerror(abs(code))})", abs(code))

    # -- internals --

    def _path(self, directory: str, name: str) -> str:
        try:
            if directory == WG_SOCK_DIR:
                return wg_socket_path(name)
            return socket_path(name, directory, self.netns)
        except InvalidName as e:
            raise IPCError(e.strerror, errno.EINVAL) from None

    def _serves(self, path: str, shared: bool) -> bool:
        """A daemon answers at ``path``; for a ``shared`` (namespace-less) path, one in our namespace."""
        if not _is_socket(path):
            return False
        with UnixSocket() as s:
            s.settimeout(TIMEOUT)
            try:
                s.connect(path)
            except OSError:
                return False
            return not shared or self._peer_in_netns(s)

    def _peer_in_netns(self, s: UnixSocket) -> bool:
        """False only when the listening process is seen to be in another namespace."""
        import struct  # here: only wg's shared directory needs it, `sswctl set`'s short path does not

        pid = struct.unpack("3i", s.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i")))[0]
        if pid <= 0:
            return True  # in a pid namespace we cannot see into
        try:
            return netns_inode(f"/proc/{pid}/ns/net") == self.netns
        except OSError:
            return True  # gone since it listened (wireguard-go's parent), or not ours to inspect

    def _find(self, name: str) -> tuple[str, bool] | None:
        for d in self.directories:
            shared = d == WG_SOCK_DIR
            path = self._path(d, name)
            if _is_socket(path) and (not shared or self._serves(path, shared)):
                return path, not shared
        return None

    def _locate(self, name: str) -> tuple[str, bool]:
        found = self._find(name)
        if found is None:
            raise IPCError(f"{name}: no userspace daemon for this interface", errno.ENODEV)
        return found
