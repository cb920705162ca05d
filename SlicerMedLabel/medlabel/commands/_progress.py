"""The one progress bar of the CLI: a ``progress(fraction, text)`` callback drawing tqdm on stderr."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def tqdm_progress(desc: str, enabled: bool = True, leave: bool = False) -> Iterator[Callable[[float, str], None]]:
    """Yield ``progress(fraction, text)`` (fraction 0..1, clamped) that draws a 0..100 % tqdm bar."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%", disable=not enabled, leave=leave, file=sys.stderr)

    def progress(fraction: float, text: str) -> None:
        bar.n = int(round(100 * min(max(float(fraction), 0.0), 1.0)))
        bar.set_postfix_str(str(text)[:60], refresh=False)
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()
