"""Body composition at L3: tissue labels, metrics, indices, reference sets, reports."""

from .tissues import PRESETS, TISSUE_NAMES, HUWindows, label_tissues, resolve_windows

__all__ = ["PRESETS", "TISSUE_NAMES", "HUWindows", "label_tissues", "resolve_windows"]
