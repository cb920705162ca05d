"""Shared parts of the benchmarks: where the engine and the data are, and how times are taken.

Imported by the ``bench_*.py`` scripts (run as ``python bench/bench_<topic>.py``, so this folder is on
``sys.path``). Importing it puts ``SlicerMedLabel/`` first on ``sys.path`` so ``import medlabel`` works
without an install. ``MEDLABEL_DATA`` overrides the data folder (default ``../shared/data``).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "SlicerMedLabel") not in sys.path:
    sys.path.insert(0, str(REPO / "SlicerMedLabel"))
DATA = Path(os.environ.get("MEDLABEL_DATA", REPO / ".." / "shared" / "data")).resolve()


def median_time(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    """Call ``fn`` ``runs`` times; return (median wall time in s, the last result)."""
    times, out = [], None
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def best_time(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Call ``fn`` ``repeat`` times; return (shortest wall time in s, the last result)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out

