"""``python -m sswctl``."""

from .main import main

main()
