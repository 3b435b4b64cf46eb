"""Where sswctl keeps things, what an interface may be called, and the default MTU.

The one place that names them; everything else imports from here.

- ``CONFIG_DIR``: ``/etc/secureswift`` (``SSW_CONFIG_DIR`` overrides it), where
  ``sswctl up IFACE``, ``down``, ``save``, ``strip`` and ``init`` find ``IFACE.conf``.
- ``SOCK_DIR``: ``/var/run/secureswift``, the daemons' run directory: the
  userspace daemon's UAPI socket, each daemon's lock (its pid), its handshake
  timestamps (``.stamps``) and ``sswctl up``'s undo journal (``.quick``;
  ``SSW_STATE_DIR`` moves journals elsewhere, for tests).
- ``WG_SOCK_DIR``: ``/var/run/wireguard``, where wireguard-tools' ``wg`` looks.

An interface is a name in its network namespace: two namespaces may each have
their own ``ssw0`` (a kernel link, or a userspace daemon's TUN device) with its
own daemon, as with kernel WireGuard. So every per-interface file in
``SOCK_DIR`` (socket, lock, timestamps, journal) is named ``IFACE.EXT`` in the
namespace of pid 1 (the host's, or a container's own: existing setups and
systemd units see the names they always had) and ``IFACE@net-INODE.EXT`` in any
other, INODE being the namespace's (``stat -L /proc/self/ns/net``, or
``stat -L /run/netns/NAME`` from outside). A client (sswctl, sswmon, ``up`` and
``down``) finds the daemons of the namespace it runs in, and only those. A
name ending in ``@net-N`` is refused, so no name reads as another namespace's.

``WG_SOCK_DIR`` is different: ``wg`` looks for ``IFACE.sock`` there whatever
its namespace, so that socket (served only on request, ``--wg-socket``) is one
path for every namespace, as wireguard-go's is. A daemon refuses to start
rather than take it from a live daemon of another namespace, and the UAPI
client lists one of those sockets only when the process serving it is in the
client's namespace (sswctl/ipc/uapi.py).
"""

from __future__ import annotations

import errno
import os
import re

CONFIG_DIR = os.environ.get("SSW_CONFIG_DIR", "/etc/secureswift")
SOCK_DIR = "/var/run/secureswift"
WG_SOCK_DIR = "/var/run/wireguard"

SOCK, LOCK, STAMPS, JOURNAL = ".sock", ".lock", ".stamps", ".quick"

# 1500 minus the outer IPv6 and UDP headers (48) and the data header and tag (32),
# as WireGuard's; both modes.
DEFAULT_MTU = 1420

IFNAMSIZ = 16
# The names wg-quick accepts for IFACE.conf: what `up IFACE` may mean by a config name.
CONF_IFACE_RE = re.compile(r"[a-zA-Z0-9_=+.-]{1,15}")
_CONF_FILE_RE = re.compile(r"(?:^|/)([a-zA-Z0-9_=+.-]{1,15})\.conf$")
_NETNS_TAG_RE = re.compile(r"@net-[0-9]+$")


class InvalidName(OSError):
    """Not a usable interface name (``errno`` EINVAL, the reason in ``strerror``)."""

    def __init__(self, name: str, why: str = ""):
        super().__init__(errno.EINVAL, f"invalid interface name {name!r}{why}")


def check_ifname(name: str) -> str:
    """``name`` if the kernel accepts it as a link name (as dev_valid_name) and it
    cannot be mistaken for another namespace's files; else InvalidName."""
    if not name or len(name.encode()) >= IFNAMSIZ or "/" in name or name in (".", ".."):
        raise InvalidName(name)
    if any(c.isspace() or c == ":" for c in name):
        raise InvalidName(name)
    if _NETNS_TAG_RE.search(name):
        raise InvalidName(name, " (a name ending in @net-N reads as another network namespace's)")
    return name


def config_file(target: str) -> str:
    """``target`` as given when it is a file or not a config name, else
    ``CONFIG_DIR/target.conf`` (as wg-quick: an existing file of that name wins)."""
    if os.path.exists(target) or not CONF_IFACE_RE.fullmatch(target):
        return target
    return os.path.join(CONFIG_DIR, f"{target}.conf")


def conf_file_iface(path: str) -> str | None:
    """The interface a config file path names (``.../ssw0.conf`` -> ``ssw0``), if it does."""
    m = _CONF_FILE_RE.search(path)
    return m.group(1) if m else None


# --- network namespaces ------------------------------------------------------------


def netns_inode(path: str = "/proc/self/ns/net") -> int:
    """The inode of a network namespace file (ours by default, or ``/run/netns/NAME``)."""
    return os.stat(path).st_ino


def netns_tag(netns: int | None = None) -> str:
    """What per-interface file names carry for namespace ``netns`` (ours if None):
    nothing in pid 1's, ``@net-INODE`` in any other."""
    own = netns_inode() if netns is None else netns
    try:
        first = netns_inode("/proc/1/ns/net")
    except OSError:  # pid 1 not ours to inspect: name the namespace always
        first = 0
    return "" if own == first else f"@net-{own}"


def device_file(name: str, suffix: str, directory: str = SOCK_DIR, netns: int | None = None) -> str:
    """``directory/NAME[@net-INODE]SUFFIX``: a per-interface file of namespace ``netns``
    (an inode; ours if None)."""
    return os.path.join(directory, f"{name}{netns_tag(netns)}{suffix}")


def device_names(directory: str, suffix: str, netns: int | None = None, tagged: bool = True) -> list[str]:
    """The interface names with a ``SUFFIX`` file in ``directory``, sorted: those of
    namespace ``netns`` (ours if None), or with ``tagged=False`` every untagged name
    (``WG_SOCK_DIR``, where names carry no namespace)."""
    tag = netns_tag(netns) if tagged else ""
    try:
        entries = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    names = []
    for entry in entries:
        stem = entry[: -len(suffix)] if entry.endswith(suffix) else ""
        if tag:
            name = stem[: -len(tag)] if stem.endswith(tag) else ""
        else:
            name = "" if _NETNS_TAG_RE.search(stem) else stem
        if name:
            names.append(name)
    return names


def socket_path(name: str, directory: str = SOCK_DIR, netns: int | None = None) -> str:
    """The userspace daemon's UAPI socket for interface ``name``."""
    return device_file(check_ifname(name), SOCK, directory, netns)


def lock_path(name: str, directory: str = SOCK_DIR, netns: int | None = None) -> str:
    """The flock'd pid file of the daemon serving ``name`` (either backend)."""
    return device_file(name, LOCK, directory, netns)


def stamps_path(name: str, directory: str = SOCK_DIR, netns: int | None = None) -> str:
    """The daemon's handshake timestamps for ``name`` (sswctl/daemon/stamps.py)."""
    return device_file(name, STAMPS, directory, netns)


def state_dir() -> str:
    """Where ``sswctl up`` journals live: the run directory (``SSW_STATE_DIR`` for tests)."""
    return os.environ.get("SSW_STATE_DIR", SOCK_DIR)


def journal_path(name: str, netns: int | None = None) -> str:
    """``sswctl up``'s undo journal for ``name`` (sswctl/quick.py)."""
    return device_file(name, JOURNAL, state_dir(), netns)


def wg_socket_path(name: str) -> str:
    """Where wireguard-tools looks for ``name``: one path for every namespace."""
    return os.path.join(WG_SOCK_DIR, check_ifname(name) + SOCK)
