"""Fixtures for the userspace-backend namespace tests (helpers live in nslab.py)."""

from __future__ import annotations

import os

import pytest
from nslab import make_lab


@pytest.fixture
def lab():
    """Two fresh namespaces joined by veth; everything removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    lab = make_lab()
    try:
        yield lab
    finally:
        lab.close()
