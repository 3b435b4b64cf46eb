"""The raw rtnetlink link requests `sswctl create`/`destroy` send for a kernel device
(sswctl.ipc.rtnl.create_link/delete_link), against the host kernel in a fresh namespace.

The host cannot load secureswift.ko, so the requests are checked with a kind every
kernel has built in (bridge); the VM suite runs them with kind secureswift.
"""

from __future__ import annotations

import errno
import json

from nslab import PY

SCRIPT = """
import errno, sys
from sswctl.ipc import IPCError
from sswctl.ipc.rtnl import create_link, delete_link
op, name, kind = sys.argv[1:]
try:
    create_link(name, kind=kind) if op == "add" else delete_link(name)
except IPCError as e:
    print(errno.errorcode[e.errno])
    sys.exit(1)
"""


def test_create_and_delete_link_reach_the_kernel_with_their_errors(lab):
    ns = lab.a

    def link(op: str, name: str, kind: str = "bridge"):
        r = ns.run(PY, "-c", SCRIPT, op, name, kind, check=False)
        return r.returncode, r.stdout.strip() or r.stderr.strip()

    def links() -> dict[str, str]:
        shown = json.loads(ns.run("ip", "-d", "-j", "link", "show").stdout)
        return {li["ifname"]: li.get("linkinfo", {}).get("info_kind", "") for li in shown}

    assert link("add", "sswbr0") == (0, "")
    assert links()["sswbr0"] == "bridge"
    assert link("add", "sswbr0") == (1, errno.errorcode[errno.EEXIST])  # NLM_F_EXCL
    assert link("add", "x" * 16) == (1, errno.errorcode[errno.ERANGE])  # longer than IFNAMSIZ - 1
    assert link("add", "sswq0", "no-such-kind") == (1, errno.errorcode[errno.EOPNOTSUPP])
    assert "sswq0" not in links()
    assert link("del", "sswbr0") == (0, "")
    assert "sswbr0" not in links()
    assert link("del", "sswbr0") == (1, errno.errorcode[errno.ENODEV])
