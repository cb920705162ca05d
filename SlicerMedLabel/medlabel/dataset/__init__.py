"""Dataset export: COCO-style JSON with slice PNGs, DICOM SEG masks, de-identification, QA, splits.

Public entry point: :func:`export_dataset` with :class:`ExportCase` inputs. The parts are usable
alone: :mod:`.coco` (polygons, boxes, windowing, format check), :mod:`.deid` (PS3.15 subset),
:mod:`.splits` (patient-level splits), :mod:`.qa` (checks of an export folder).
"""

from .coco import mask_bbox, mask_to_polygons, polygons_to_mask, validate_coco, window_limits
from .deid import Pseudonymizer, deidentify_dataset, deidentify_files
from .export import ExportCase, ExportResult, export_dataset
from .qa import check_export, summarize
from .splits import parse_ratios, patient_splits

__all__ = [
    "ExportCase", "ExportResult", "Pseudonymizer", "check_export", "deidentify_dataset", "deidentify_files",
    "export_dataset", "mask_bbox", "mask_to_polygons", "parse_ratios", "patient_splits", "polygons_to_mask",
    "summarize", "validate_coco", "window_limits",
]
