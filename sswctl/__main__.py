"""``python -m sswctl``."""

from .cli import main

main()
