"""``sswctl setconf``, ``addconf`` and ``syncconf IFACE FILE``: a wg-format file
to a running interface, as wireguard-tools' setconf.c serves all three.

- ``setconf``: FILE becomes IFACE's whole configuration. Keys the file leaves
  out are reset (no private key, listen port 0 = random, fwmark off), peers
  not in the file are removed and each peer's allowed IPs are replaced.
  Protocol and Cipher change only if the file names them. Sessions of peers
  whose keys did not change survive.
- ``addconf``: FILE's settings and peers are added to IFACE's.
- ``syncconf``: as ``wg syncconf``, FILE's settings and peers are applied, and
  peers the interface has but the file lacks are removed one by one (no
  replace_peers), so unchanged peers keep their sessions.

FILE is read in setconf mode (wg-quick keys are errors: ``sswctl strip``
first); :func:`sswctl.ipc.dispatch.replace_config` holds setconf's semantics,
which ``sswctl up`` shares.
"""

from __future__ import annotations

from .. import config
from ..ipc import dispatch
from ..model import Device, Peer
from . import Command, Param


def read(path: str) -> Device:
    return config.load_config(path, config.SETCONF)


def setconf(name: str, path: str) -> None:
    dev = read(path)
    dev.name = name
    dispatch.replace_config(dev)


def addconf(name: str, path: str) -> None:
    dev = read(path)
    dev.name = name
    dispatch.set_config(dev)


def syncconf(name: str, path: str) -> None:
    dev = read(path)
    dev.name = name
    running = dispatch.get_device(name)
    wanted = {p.public_key for p in dev.peers}
    dev.peers.extend(Peer(public_key=p.public_key, remove=True) for p in running.peers if p.public_key not in wanted)
    dispatch.set_config(dev)


_PARAMS = (Param("name", metavar="IFACE"), Param("path", metavar="FILE"))

# Three subcommands of one module: sswctl/cli.py registers each name.
COMMANDS = {
    "setconf": Command(
        name="setconf",
        run=setconf,
        help="Replace the configuration of IFACE with the wg-format FILE (as wg setconf).",
        params=_PARAMS,
    ),
    "addconf": Command(
        name="addconf",
        run=addconf,
        help="Append the wg-format FILE's settings and peers to IFACE (as wg addconf).",
        params=_PARAMS,
    ),
    "syncconf": Command(
        name="syncconf",
        run=syncconf,
        help="Make IFACE match the wg-format FILE, removing absent peers, keeping live sessions (as wg syncconf).",
        params=_PARAMS,
    ),
}
