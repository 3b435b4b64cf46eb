"""Wire constants and protocol timers, under the names the engine uses.

The values live in one place, sswctl/wire.py, which tools/gen_genl.py also
turns into the C header both data planes include (secureswift_kmod/wire.h);
this module re-exports them so ``sswctl.protocol`` keeps offering them.
"""

from __future__ import annotations

from ..wire import *  # noqa: F403
