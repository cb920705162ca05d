"""Per-segment PET statistics: SUVmax, SUVmean, SUVpeak, MTV, TLG.

Definitions
-----------
* SUVmax: highest voxel SUV in the region.
* SUVmean, SUVstd: (weighted) mean and standard deviation over the region.
* SUVpeak: the highest mean SUV in a 1 cm³ sphere (radius 6.20 mm) whose centre is a voxel of the
  region; the sphere itself is not restricted to the region (PERCIST 1.0, Wahl et al., J Nucl Med
  2009;50 Suppl 1:122S-150S; Boellaard et al., EANM guideline, Eur J Nucl Med Mol Imaging
  2015;42:328-354). Voxels are weighted by the fraction of their volume inside the sphere
  (sub-voxel sampling), so the sphere is 1 cm³ on any grid; near the image border only voxels inside
  the image count. Because the sphere may reach voxels outside a small or tight segment, SUVpeak can
  exceed that segment's SUVmax (then the segment missed hotter tissue next to it).
* MTV (metabolic tumour volume, ml): region volume. The region is the segment itself (threshold
  'none'), or the voxels of the segment with SUV >= ``threshold_value`` × SUVmax (threshold
  'relative', e.g. 0.41, Boellaard 2015) or SUV >= ``threshold_value`` (threshold 'absolute', e.g.
  2.5) — the segment then acts as the bounding box/VOI the threshold is applied in.
* TLG (total lesion glycolysis, g for SUVbw): SUVmean × MTV (Larson et al., Clin Positron Imaging
  1999;2:159-171).

Segments may be boolean masks or voxel fractions (0..1, from
:func:`medlabel.pet.fusion.mask_fraction_on_grid`). With fractions, volumes and means are weighted by
the fraction; SUVmax and SUVpeak centres use voxels with fraction >= 0.5 (any voxel > 0 when none
reaches 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from ..errors import GeometryError, InputError
from ..image import Image
from ..labels import Geometry, LabelSet

Progress = Callable[[float, str], None]

#: volume of the SUVpeak sphere (ml = cm³)
PEAK_VOLUME_ML = 1.0

COLUMNS = ["segment", "voxel_count", "volume_ml", "suv_max", "suv_mean", "suv_std", "suv_peak",
           "mtv_ml", "tlg", "mtv_voxel_count", "threshold", "threshold_suv"]


class ThresholdMode(StrEnum):
    NONE = "none"
    RELATIVE = "relative"
    ABSOLUTE = "absolute"


DEFAULT_THRESHOLD = {ThresholdMode.RELATIVE: 0.41, ThresholdMode.ABSOLUTE: 2.5}


def sphere_kernel(spacing_mm: tuple[float, float, float], *, volume_ml: float = PEAK_VOLUME_ML,
                  subsamples: int = 7) -> np.ndarray:
    """Weights (0..1) of the voxels covered by a sphere of ``volume_ml`` centred on a voxel centre.

    Parameters
    ----------
    spacing_mm : (3,) float
        Voxel size z, y, x in mm.
    volume_ml : float
        Sphere volume in ml (cm³); 1.0 gives radius 6.2035 mm.
    subsamples : int
        Sub-voxel samples per axis used to estimate each voxel's covered fraction.

    Returns
    -------
    (2a+1, 2b+1, 2c+1) float64 ndarray; ``kernel.sum() * prod(spacing_mm) / 1000 ≈ volume_ml``.

    Examples
    --------
    >>> k = sphere_kernel((1.0, 1.0, 1.0))
    >>> round(float(k.sum()) / 1000.0, 2)  # 1 mm voxels: about 1000 of them make 1 ml
    1.0
    """
    if volume_ml <= 0:
        raise InputError(f"volume_ml must be > 0; got {volume_ml}")
    sp = np.asarray(spacing_mm, float)
    r = (3.0 * volume_ml * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
    half = np.ceil(r / sp - 0.5).astype(int)
    n = int(subsamples)
    offs = (np.arange(n) + 0.5) / n - 0.5  # sub-voxel centres in voxel units
    axes = []
    for h, s in zip(half, sp, strict=True):
        centres = np.arange(-h, h + 1)
        axes.append((centres[:, None] + offs[None, :]) * s)  # (2h+1, n) mm
    dz = axes[0][:, None, None, :, None, None]
    dy = axes[1][None, :, None, None, :, None]
    dx = axes[2][None, None, :, None, None, :]
    inside = (dz**2 + dy**2 + dx**2) <= r * r
    return inside.mean(axis=(3, 4, 5))


def _normalized_local_mean(suv: np.ndarray, kernel: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Kernel-weighted mean of ``suv`` at each voxel of the box lo:hi (image border: renormalised)."""
    from scipy import ndimage

    h = np.asarray(kernel.shape) // 2
    plo = np.maximum(lo - h, 0)
    phi = np.minimum(hi + h, np.asarray(suv.shape))
    sub = suv[plo[0]:phi[0], plo[1]:phi[1], plo[2]:phi[2]]
    num = ndimage.correlate(sub, kernel, mode="constant", cval=0.0)
    den = ndimage.correlate(np.ones_like(sub), kernel, mode="constant", cval=0.0)
    # padding beyond the crop but inside the image must count: the crop keeps h voxels of margin
    # wherever the image has them, so only true image borders are renormalised.
    mean = num / den
    a, b = lo - plo, hi - plo
    return mean[a[0]:b[0], a[1]:b[1], a[2]:b[2]]


def segment_pet_stats(
    suv: np.ndarray,
    region: np.ndarray,
    *,
    spacing_mm: tuple[float, float, float],
    threshold: ThresholdMode | str = ThresholdMode.NONE,
    threshold_value: float | None = None,
    peak_volume_ml: float = PEAK_VOLUME_ML,
    kernel: np.ndarray | None = None,
) -> dict[str, Any]:
    """Statistics of one segment on the PET grid.

    Parameters
    ----------
    suv : (Z, Y, X) float ndarray
        SUV image (any unit; names below say SUV).
    region : (Z, Y, X) bool or float ndarray
        Segment mask, or covered fraction 0..1 per voxel; same shape as ``suv``.
    spacing_mm : (3,) float
        Voxel size z, y, x in mm.
    threshold : {'none', 'relative', 'absolute'}
        How the MTV region is defined inside the segment (see module notes).
    threshold_value : float, optional
        Fraction of SUVmax for 'relative' (default 0.41), SUV for 'absolute' (default 2.5).
    peak_volume_ml : float
        SUVpeak sphere volume (default 1 ml).
    kernel : ndarray, optional
        Precomputed :func:`sphere_kernel` (saves time over many segments).

    Returns
    -------
    dict with keys of :data:`COLUMNS` (without 'segment'); NaN statistics for an empty segment.

    Notes
    -----
    SUVmax, SUVmean, SUVpeak and voxel_count refer to the whole segment; ``mtv_ml``, ``tlg`` and
    ``mtv_voxel_count`` to the thresholded region (equal to the segment for 'none'). TLG uses the
    SUVmean *of the MTV region*.

    Examples
    --------
    >>> import numpy as np
    >>> suv = np.ones((5, 5, 5)); suv[2, 2, 2] = 10.0
    >>> box = np.zeros((5, 5, 5), bool); box[1:4, 1:4, 1:4] = True
    >>> r = segment_pet_stats(suv, box, spacing_mm=(4.0, 4.0, 4.0), threshold="relative")
    >>> r["suv_max"], r["voxel_count"], r["mtv_voxel_count"], round(r["mtv_ml"], 3), round(r["tlg"], 2)
    (10.0, 27, 1, 0.064, 0.64)
    """
    suv = np.asarray(suv, dtype=np.float64)
    region = np.asarray(region)
    if suv.ndim != 3 or suv.shape != region.shape:
        raise GeometryError(f"SUV image shape {suv.shape} and segment shape {region.shape} differ; "
                            "resample the segment onto the PET grid (medlabel.pet.fusion)")
    try:
        threshold = ThresholdMode(str(threshold).lower())
    except ValueError:
        raise InputError(f"threshold={threshold!r} is not valid; use none, relative or absolute") from None
    if threshold_value is None and threshold != ThresholdMode.NONE:
        threshold_value = DEFAULT_THRESHOLD[threshold]
    if threshold == ThresholdMode.RELATIVE and not (0 < threshold_value <= 1):
        raise InputError(f"threshold_value for 'relative' is a fraction of SUVmax in (0, 1]; got {threshold_value}")
    if threshold == ThresholdMode.ABSOLUTE and not (np.isfinite(threshold_value) and threshold_value > 0):
        raise InputError(f"threshold_value for 'absolute' is an SUV > 0 (e.g. 2.5); got {threshold_value}")
    if region.dtype != bool and np.any((region < 0) | (region > 1)):
        raise InputError("segment fractions must lie in 0..1")
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    nan = float("nan")
    out: dict[str, Any] = {"threshold": threshold.value, "threshold_suv": nan}
    nz = np.argwhere(region > 0) if region.dtype != bool else np.argwhere(region)
    if len(nz) == 0:
        out.update(voxel_count=0, volume_ml=0.0, suv_max=nan, suv_mean=nan, suv_std=nan, suv_peak=nan,
                   mtv_ml=0.0, tlg=0.0, mtv_voxel_count=0)
        return out
    # work on the region's bounding box only (a lesion on a whole-body grid is small)
    lo, hi = nz.min(0), nz.max(0) + 1
    box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    w = region[box].astype(np.float64)
    s = suv[box]
    support = w >= 0.5
    if not support.any():
        support = w > 0
    vals = s[support]
    suv_max = float(vals.max())
    wsum = w.sum()
    mean = float((w * s).sum() / wsum)
    std = float(np.sqrt((w * (s - mean) ** 2).sum() / wsum))
    # SUVpeak over sphere centres in the support (the sphere may reach outside the box)
    k = sphere_kernel(spacing_mm, volume_ml=peak_volume_ml) if kernel is None else kernel
    local = _normalized_local_mean(suv, k, lo, hi)
    peak = float(local[support].max())
    # MTV region
    if threshold == ThresholdMode.NONE:
        thr = nan
        wt = w
    else:
        thr = threshold_value * suv_max if threshold == ThresholdMode.RELATIVE else float(threshold_value)
        wt = np.where(s >= thr, w, 0.0)
    mtv = float(wt.sum() * voxel_ml)
    mtv_mean = float((wt * s).sum() / wt.sum()) if wt.sum() > 0 else nan
    out.update(voxel_count=int(support.sum()), volume_ml=float(wsum * voxel_ml), suv_max=suv_max,
               suv_mean=mean, suv_std=std, suv_peak=peak, mtv_ml=mtv,
               tlg=float(mtv_mean * mtv) if mtv > 0 else 0.0,
               mtv_voxel_count=int(((wt >= 0.5) if region.dtype != bool else (wt > 0)).sum()),
               threshold_suv=thr)
    return out


def pet_statistics(
    suv: np.ndarray,
    segments: Mapping[str, np.ndarray],
    *,
    spacing_mm: tuple[float, float, float],
    threshold: ThresholdMode | str = ThresholdMode.NONE,
    threshold_value: float | None = None,
    peak_volume_ml: float = PEAK_VOLUME_ML,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """One row of :func:`segment_pet_stats` per segment (columns :data:`COLUMNS`).

    Parameters
    ----------
    suv : (Z, Y, X) float ndarray
    segments : mapping name -> (Z, Y, X) bool mask or float fraction
    spacing_mm, threshold, threshold_value, peak_volume_ml
        See :func:`segment_pet_stats`.
    progress : callable(fraction, text), optional
    """
    k = sphere_kernel(spacing_mm, volume_ml=peak_volume_ml)
    rows = []
    names = list(segments)
    for i, name in enumerate(names):
        if progress:
            progress(i / max(len(names), 1), f"statistics of {name}")
        r = segment_pet_stats(suv, segments[name], spacing_mm=spacing_mm, threshold=threshold,
                              threshold_value=threshold_value, peak_volume_ml=peak_volume_ml, kernel=k)
        rows.append({"segment": name, **r})
    if progress:
        progress(1.0, f"statistics of {len(names)} segments")
    return pd.DataFrame(rows, columns=COLUMNS)


def pet_statistics_table(
    suv_image: Image,
    labelset: LabelSet,
    *,
    resample: str = "nearest",
    threshold: ThresholdMode | str = ThresholdMode.NONE,
    threshold_value: float | None = None,
    peak_volume_ml: float = PEAK_VOLUME_ML,
    suv_units: str | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Statistics of every segment of ``labelset`` on the SUV image, resampling when grids differ.

    Parameters
    ----------
    suv_image : Image
        SUV volume (PET grid).
    labelset : LabelSet
        Segments on the PET grid or on another grid of the same frame (e.g. the CT of a PET/CT).
    resample : {'nearest', 'fraction'}
        How segments on another grid are moved to the PET grid (see :mod:`medlabel.pet.fusion`);
        ignored when the grids match.
    threshold, threshold_value, peak_volume_ml
        See :func:`segment_pet_stats`.
    suv_units : str, optional
        Added as column 'suv_units' (e.g. 'g/ml').

    Returns
    -------
    DataFrame with :data:`COLUMNS` plus 'resampling' (and 'suv_units').
    """
    from .fusion import METHODS, check_grids_overlap, mask_fraction_on_grid, resample_mask_nearest

    if resample not in METHODS:
        raise InputError(f"resample={resample!r} is not valid; use one of: {', '.join(METHODS)}")
    pet_geo = Geometry.of(suv_image)
    same = labelset.geometry.matches(pet_geo)
    segments: dict[str, np.ndarray] = {}
    for i, seg in enumerate(labelset):
        if progress:
            progress(0.5 * i / max(len(labelset), 1), f"placing {seg.name} on the PET grid")
        if same:
            segments[seg.name] = seg.mask
            continue
        check_grids_overlap(labelset.geometry, pet_geo, mask=seg.mask, what=f"segment '{seg.name}'",
                            min_fraction=0.5)
        if resample == "nearest":
            segments[seg.name] = resample_mask_nearest(seg.mask, labelset.geometry, pet_geo)
        else:
            segments[seg.name] = mask_fraction_on_grid(seg.mask, labelset.geometry, pet_geo)

    def sub(f, t):
        if progress:
            progress(0.5 + 0.5 * f, t)

    df = pet_statistics(suv_image.array, segments, spacing_mm=suv_image.spacing_mm, threshold=threshold,
                        threshold_value=threshold_value, peak_volume_ml=peak_volume_ml, progress=sub)
    df["resampling"] = "none" if same else resample
    if suv_units:
        df["suv_units"] = suv_units
    return df
