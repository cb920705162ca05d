"""One results row per study (CSV/XLSX) and the overlay picture with the numbers in its legend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import __version__
from ..image import Image
from ..labels import LabelSet
from .indices import Anthropometrics
from .slices import SliceChoice
from .tissues import HUWindows

#: short names of tissues in report columns
SHORT = {"skeletal_muscle": "muscle", "intermuscular_fat": "imat", "visceral_fat": "vat",
         "subcutaneous_fat": "sat"}


def study_row(*, study_id: str, image: Image, choice: SliceChoice, windows: HUWindows, method: str,
              metrics, anthro: Anthropometrics, indices: dict, evaluation: dict) -> dict:
    """Flatten one study's results into a dict (one CSV/XLSX row).

    Columns: ids (patient, study, series), slice (indices, z, how chosen, confidence), method and HU
    windows, per tissue area/HU statistics (``<tissue>_area_cm2``, ``_mean_hu``, ``_sd_hu``,
    ``_min_hu``, ``_max_hu``, ``_pixels``), muscle low-attenuation fraction, sex/height/weight with
    their sources, the indices, T-scores, bands, cut-off flags and the software version.
    """
    meta = image.meta
    row: dict = {
        "study_id": study_id,
        "patient_id": meta.get("PatientID", ""),
        "study_uid": meta.get("StudyInstanceUID", ""),
        "series_uid": meta.get("SeriesInstanceUID", ""),
        "source": str(meta.get("source", meta.get("path", ""))),
        "slice_index": choice.centre,
        "slice_indices": ";".join(str(k) for k in choice.indices),
        "n_slices": len(choice.indices),
        "slice_z_mm": float(np.mean(choice.z_mm)) if choice.z_mm else math.nan,
        "slice_method": choice.method,
        "slice_confidence": choice.confidence if choice.confidence is not None else math.nan,
        "slice_note": choice.note,
        "method": method,
        "windows_preset": windows.name,
        "windows_hu": windows.as_text(),
        "pixel_spacing_mm": f"{image.spacing_mm[1]:.4g}x{image.spacing_mm[2]:.4g}",
    }
    for _, r in metrics.iterrows():
        p = SHORT.get(r["tissue"], r["tissue"])
        row[f"{p}_area_cm2"] = r["area_cm2"]
        row[f"{p}_mean_hu"] = r["mean_hu"]
        row[f"{p}_sd_hu"] = r["sd_hu"]
        row[f"{p}_min_hu"] = r["min_hu"]
        row[f"{p}_max_hu"] = r["max_hu"]
        row[f"{p}_pixels"] = int(r["pixel_count"])
        if r["tissue"] == "skeletal_muscle":
            row["muscle_low_attenuation_fraction"] = r["low_attenuation_fraction"]
    row.update({
        "sex": anthro.sex or "", "sex_source": anthro.sex_source,
        "height_m": anthro.height_m if anthro.height_m else math.nan, "height_source": anthro.height_source,
        "weight_kg": anthro.weight_kg if anthro.weight_kg else math.nan, "weight_source": anthro.weight_source,
        "anthropometry_notes": "; ".join(anthro.notes),
    })
    row.update(indices)
    for k, v in evaluation.items():
        row[k] = "" if v is None else v
    row["software"] = f"medlabel {__version__}"
    return row


def overlay_png(image: Image, labels: LabelSet, metrics, path: str | Path, *, slice_index: int,
                title: str = "", force: bool = False) -> Path:
    """PNG of the slice with coloured tissues and a legend giving area (cm²) and mean HU per tissue."""
    from ..viz import WINDOWS_HU, labelset_overlay_png

    shown = LabelSet(labels.geometry, [labels[n].copy() for n in metrics["tissue"] if n in labels])
    legend = {}
    for _, r in metrics.iterrows():
        hu = "" if not np.isfinite(r["mean_hu"]) else f", {r['mean_hu']:.0f} HU"
        legend[r["tissue"]] = f"{r['tissue'].replace('_', ' ')} {r['area_cm2']:.1f} cm²{hu}"
    return labelset_overlay_png(image.array, shown, path, slices=[slice_index], spacing_mm=image.spacing_mm,
                                window=WINDOWS_HU["abdomen"], legend=legend, titles=[f"slice k={slice_index}"],
                                suptitle=title, direction=image.direction, force=force)
