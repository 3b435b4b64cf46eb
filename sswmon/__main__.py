"""``python -m sswmon``: the same as ``sswmon``."""

from .cli import main

main()
