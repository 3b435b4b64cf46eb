"""``sswctl up``, ``down`` and ``save``: wg-quick's orchestration.

``up`` reads ``/etc/secureswift/IFACE.conf`` (or a given ``NAME.conf``) and, in
wg-quick's order: runs PreUp, creates the device, applies the wg part of the
config, adds the addresses, sets the MTU and brings the link up, installs DNS,
adds a route per AllowedIPs prefix (longest first), and runs PostUp
(:mod:`.netconf` does each step, :mod:`.journal` records its undo).

``down`` replays the journal backwards, so it removes exactly what ``up``
added and nothing else; a failure in the middle of ``up`` replays it at once
(rollback). If a PostUp command fails, PreDown and PostDown run too (errors
ignored), because those are what undo the PostUp commands that did succeed.
"""

from __future__ import annotations

import ipaddress
import os
import sys

from .. import config
from ..errors import RuntimeFailure, UsageError
from ..files import write_atomic
from ..ipc.rtnl import link_exists
from ..model import Device, QuickSettings
from ..paths import CONFIG_DIR, conf_file_iface, config_file
from .journal import Journal
from .netconf import Steps, create_device, echo, ip_json, is_ours, read_device, run, run_hooks, set_config


def resolve_target(target: str) -> tuple[str, str | None]:
    """(interface, config path or None): ``IFACE`` means CONFIG_DIR/IFACE.conf if it exists."""
    path = config_file(target)
    if path != target:
        return target, (path if os.path.exists(path) else None)
    iface = conf_file_iface(target)
    if iface is None:
        raise UsageError(f"{target}: the config file must be an interface name followed by .conf (e.g. ssw0.conf)")
    if not os.path.exists(target):
        raise UsageError(f"{target}: no such file")
    return iface, os.path.realpath(target)


def _warn_world_accessible(path: str) -> None:
    """Warn as wg-quick does when both the file and its directory let others in."""
    if os.stat(path).st_mode & os.stat(os.path.dirname(path)).st_mode & 0o007:
        print(f"Warning: `{path}' is world accessible", file=sys.stderr)


# --- up ------------------------------------------------------------------------------


def up(target: str, *, backend: str = "auto", existing: bool = False) -> None:
    """``sswctl up``: bring a tunnel up from its config, or just the link if there is none.

    ``existing`` (for systemd, whose ExecStart already runs the daemon): the
    device exists; apply everything else to it.
    """
    iface, path = resolve_target(target)
    if path is None:
        if not link_exists(iface):
            raise UsageError(f"{iface}: no such interface and no config {CONFIG_DIR}/{iface}.conf")
        run(["ip", "link", "set", "up", "dev", iface])
        return
    _warn_world_accessible(path)
    device, quick = config.load_quick(path)
    stale = Journal.load(iface)
    if stale is not None and (existing or not link_exists(iface)):
        stale.steps = [s for s in stale.steps if s["kind"] != "device"]
        stale.undo()  # leftovers of a tunnel whose device vanished (daemon crash, reboot of /run kept)
    if existing and not link_exists(iface):
        raise RuntimeFailure(f"{iface}: no such interface (--existing expects the daemon to have created it)")
    if not existing and link_exists(iface):
        raise RuntimeFailure(f"`{iface}' already exists; bring it down first (sswctl down {iface})")
    j = Journal(iface, path)
    j.save()
    u = Steps(iface, device, quick, j)
    in_post_up = False
    try:
        if not existing:
            run_hooks(quick.pre_up, iface)
            echo(f"sswctl create {iface} --backend {backend}")
            create_device(iface, device, backend)
            j.add({"kind": "device", "iface": iface})
        u.pick_fwmark()
        echo(f"sswctl setconf {iface} <config>")
        set_config(iface, device)
        u.addresses()
        u.mtu()
        u.dns()
        u.routes()
        in_post_up = True
        run_hooks(quick.post_up, iface)
    except BaseException:
        print(f"sswctl: {iface}: bring-up failed; undoing what was done", file=sys.stderr)
        if in_post_up:
            run_hooks(quick.pre_down, iface, check=False)
        j.undo()
        if in_post_up:
            run_hooks(quick.post_down, iface, check=False)
        raise


# --- down / save ---------------------------------------------------------------------


def down(target: str) -> None:
    """``sswctl down``: PreDown, SaveConfig, undo everything ``up`` did, PostDown."""
    iface, path = resolve_target(target)
    j = Journal.load(iface)
    if path is None and j is not None and j.config_path and os.path.exists(j.config_path):
        path = j.config_path
    if not link_exists(iface):
        if j is not None:  # the device died; clean what is left of its tunnel
            j.steps = [s for s in j.steps if s["kind"] != "device"]
            j.undo()
            return
        raise UsageError(f"{iface}: no such interface")
    if not is_ours(iface):
        raise UsageError(f"`{iface}' is not a SecureSwift interface")
    quick = QuickSettings()
    if path:
        try:
            quick = config.load_quick(path)[1]
        except UsageError as e:  # never leave a tunnel half up because its file got a typo
            print(f"sswctl: warning: {e}; hooks and SaveConfig skipped", file=sys.stderr)
    run_hooks(quick.pre_down, iface, check=False)
    if quick.save_config and path:
        save_config(iface, path, quick)
    if j is None:
        j = Journal(iface, path, [{"kind": "device", "iface": iface}])
    elif not any(s["kind"] == "device" for s in j.steps):
        j.steps.insert(0, {"kind": "device", "iface": iface})
    j.undo()
    run_hooks(quick.post_down, iface, check=False)


def running_config(iface: str, template: QuickSettings) -> tuple[Device, QuickSettings]:
    """The running device, and the wg-quick settings: addresses (and a set MTU) from
    the link, the rest from ``template`` (the config file's)."""
    dev = read_device(iface)
    out = Device(
        private_key=dev.private_key, listen_port=dev.listen_port, fwmark=dev.fwmark or None,
        protocol=dev.protocol, cipher=dev.cipher,
    )
    out.peers.extend(p.replace(status=None) for p in dev.peers)
    quick = QuickSettings(
        dns=list(template.dns), table=template.table,
        pre_up=list(template.pre_up), post_up=list(template.post_up),
        pre_down=list(template.pre_down), post_down=list(template.post_down),
        save_config=True if template.save_config else None,
    )
    for link in ip_json("address", "show", "dev", iface):
        for a in link.get("addr_info", []):
            if a.get("scope") == "link":
                continue
            quick.addresses.append(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}"))
    if template.mtu is not None:
        links = ip_json("link", "show", "dev", iface)
        quick.mtu = int(links[0]["mtu"]) if links else template.mtu
    return out, quick


def save_config(iface: str, path: str, template: QuickSettings) -> None:
    """Write the running configuration to ``path`` atomically, mode 0600."""
    write_atomic(path, config.write_config(*running_config(iface, template)).encode())


def save(target: str) -> None:
    iface, path = resolve_target(target)
    if path is None:
        j = Journal.load(iface)
        path = j.config_path if j is not None else None
    if path is None:
        raise UsageError(f"{iface}: no config file to save to ({CONFIG_DIR}/{iface}.conf)")
    if not link_exists(iface) or not is_ours(iface):
        raise UsageError(f"`{iface}' is not a SecureSwift interface")
    save_config(iface, path, config.load_quick(path)[1])
