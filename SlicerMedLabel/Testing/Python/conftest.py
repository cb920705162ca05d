"""Shared pytest fixtures: paths to the real data in ../shared/data and small helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "SlicerMedLabel"))  # the engine of *this* checkout wins

SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def data_path(rel: str) -> Path:
    """Path of a file in ../shared/data; the data is part of the test set-up, so a missing file fails."""
    p = SHARED_DATA / rel
    assert p.exists(), f"test data missing: {p} (expected ../shared/data beside the repository, see PROVENANCE.md)"
    return p


@pytest.fixture
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"../shared/data not found at {SHARED_DATA}"
    return SHARED_DATA
