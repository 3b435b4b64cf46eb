"""``python -m sswctl.daemon IFACE [options]``: the same as ``sswctl daemon IFACE``."""

from __future__ import annotations

import sys

from ..cli import main

if __name__ == "__main__":
    main(["daemon", *sys.argv[1:]])
