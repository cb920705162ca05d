"""Per-tissue area and HU statistics on the chosen slice(s).

For a slab of several slices, the area is the mean of the per-slice areas (cm²) and the HU
statistics pool every voxel of the slab. Muscle also gets the low-attenuation fraction: the share of
muscle pixels between -29 and +29 HU (low-attenuation muscle, LAMA; normal-attenuation muscle is
+30..+150 HU; Aubrey et al., Acta Physiol 2014;210:489-497).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import GeometryError, InputError
from ..image import Image
from ..labels import LabelSet

#: tissues reported by default (segment names)
METRIC_TISSUES: tuple[str, ...] = (
    "skeletal_muscle", "intermuscular_fat", "visceral_fat", "subcutaneous_fat",
)
LOW_ATTENUATION_HU = (-29.0, 29.0)

COLUMNS = ("tissue", "n_slices", "pixel_count", "area_cm2", "area_sd_cm2", "mean_hu", "sd_hu", "min_hu",
           "max_hu", "low_attenuation_fraction")


def tissue_metrics(image: Image, labels: LabelSet, *, slice_indices: Sequence[int],
                   tissues: Sequence[str] = METRIC_TISSUES,
                   low_attenuation_hu: tuple[float, float] = LOW_ATTENUATION_HU):
    """Area and HU statistics per tissue on the given slices.

    Parameters
    ----------
    image : Image
        CT in HU, array (Z, Y, X); pixel area from ``spacing_mm`` (y, x).
    labels : LabelSet
        Masks on the image grid (e.g. from :func:`label_tissues`, possibly edited by the user).
    slice_indices : sequence of int
        Array indices k of the slices; several slices = a slab, averaged.
    tissues : sequence of str
        Segment names to report; a missing segment gives a row of zeros/NaN (not an error), so that
        a user who deleted IMAT still gets a table.
    low_attenuation_hu : (float, float)
        HU range counted as low-attenuation muscle.

    Returns
    -------
    pandas.DataFrame
        One row per tissue with :data:`COLUMNS`: ``area_cm2`` (mean per slice), ``area_sd_cm2``
        (SD across slices, 0 for one slice), ``pixel_count`` (all slices), HU mean/SD/min/max over
        all voxels, and ``low_attenuation_fraction`` (muscle only; NaN otherwise).

    Notes
    -----
    An empty mask gives area 0 and NaN HU statistics. Runs in milliseconds for a slice, so the
    Slicer tab can recompute after every edit.

    Examples
    --------
    >>> from medlabel.phantom import make_l3_phantom
    >>> image, truth = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2))
    >>> df = tissue_metrics(image, truth, slice_indices=[0], tissues=["skeletal_muscle"])
    >>> bool(abs(df.loc[0, "area_cm2"] - truth["skeletal_muscle"].voxel_count * 0.1024) < 1e-9)
    True
    """
    import pandas as pd

    if tuple(labels.geometry.shape) != image.shape:
        raise GeometryError(f"label grid {tuple(labels.geometry.shape)} differs from the image {image.shape}; "
                            "use labels made on this image")
    ks = [int(k) for k in slice_indices]
    if not ks:
        raise InputError("tissue_metrics: slice_indices is empty; choose at least one slice")
    bad = [k for k in ks if not 0 <= k < image.shape[0]]
    if bad:
        raise InputError(f"tissue_metrics: slices {bad} are outside the image's 0..{image.shape[0] - 1}")
    px_cm2 = image.pixel_area_mm2 / 100.0
    hu = image.array[ks]
    rows = []
    for name in tissues:
        if name in labels:
            m = labels[name].mask[ks]
        else:
            m = np.zeros(hu.shape, bool)
        per_slice = m.reshape(len(ks), -1).sum(axis=1) * px_cm2
        vals = hu[m].astype(np.float64)
        row = {"tissue": name, "n_slices": len(ks), "pixel_count": int(m.sum()),
               "area_cm2": float(per_slice.mean()), "area_sd_cm2": float(per_slice.std(ddof=0)),
               "mean_hu": float(vals.mean()) if vals.size else np.nan,
               "sd_hu": float(vals.std(ddof=1)) if vals.size > 1 else np.nan,
               "min_hu": float(vals.min()) if vals.size else np.nan,
               "max_hu": float(vals.max()) if vals.size else np.nan,
               "low_attenuation_fraction": np.nan}
        if name == "skeletal_muscle" and vals.size:
            lo, hi = low_attenuation_hu
            row["low_attenuation_fraction"] = float(np.mean((vals >= lo) & (vals <= hi)))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))
