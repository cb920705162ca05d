"""Body composition at L3: slice choice, tissue labels, metrics, indices, reference sets, reports.

Main entry points: :func:`run_study` (one CT study end to end), :func:`label_tissues` (rule-based
labels, also registered as an auto-label model), :func:`compute_results` (recompute after edits),
:func:`run_batch`, :func:`suggest_l3`, :func:`build_reference`.
"""

from .indices import INDEX_UNITS, Anthropometrics, muscle_indices, normalize_sex, patient_height_weight
from .metrics import METRIC_TISSUES, tissue_metrics
from .references import (
    ReferenceRegistry,
    ReferenceSet,
    band,
    build_reference,
    cutoff_flags,
    evaluate,
    load_reference_sets,
    read_reference_set,
    t_score,
    write_reference_set,
)
from .slices import L3Suggestion, SliceChoice, choose_slices, suggest_l3
from .study import StudyResult, compute_results, read_batch_list, run_batch, run_study, write_outputs
from .tissues import PRESETS, TISSUE_NAMES, HUWindows, label_tissues, resolve_windows

__all__ = [
    "INDEX_UNITS", "METRIC_TISSUES", "PRESETS", "TISSUE_NAMES", "Anthropometrics", "HUWindows", "L3Suggestion",
    "ReferenceRegistry", "ReferenceSet", "SliceChoice", "StudyResult", "band", "build_reference", "choose_slices",
    "compute_results", "cutoff_flags", "evaluate", "label_tissues", "load_reference_sets", "muscle_indices",
    "normalize_sex", "patient_height_weight", "read_batch_list", "read_reference_set", "resolve_windows",
    "run_batch", "run_study", "suggest_l3", "t_score", "tissue_metrics", "write_outputs", "write_reference_set",
]
