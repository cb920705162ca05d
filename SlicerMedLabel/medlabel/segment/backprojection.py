"""Histogram back projection: find every voxel whose intensity is common inside a drawn region.

The user marks tissue with a rectangle, a box or a mask; the normalised intensity histogram of the
voxels inside it becomes a lookup table, and every voxel in the chosen scope gets the table value of
its intensity bin as its *likelihood* (Swain & Ballard, "Color indexing", IJCV 7(1):11-32, 1991,
section 4 "histogram backprojection"; applied to labeling CT in the labeling-system paper this
product follows). Thresholding the likelihood gives the mask.

Bins follow :func:`numpy.histogram`: ``edges = lo + width * arange(n + 1)``, every bin half-open
``[e_i, e_{i+1})`` except the last, which is closed. Values outside ``[lo, hi]`` have likelihood 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError
from ._common import (
    Box,
    Progress,
    _no_progress,
    check_image,
    check_mask,
    check_spacing,
    keep_connected_to,
    remove_islands,
)

Scope = Literal["slice", "slab", "volume", "mask"]
_SCOPES = ("slice", "slab", "volume", "mask")
#: integer dtypes handled by a full lookup table indexed by the unsigned view of the voxel bits
_LUT_DTYPES = {np.dtype(np.int8): np.uint8, np.dtype(np.uint8): np.uint8,
               np.dtype(np.int16): np.uint16, np.dtype(np.uint16): np.uint16}


@dataclass(frozen=True)
class IntensityHistogram:
    """The ROI model: ``edges`` (n + 1,) in image units and ``likelihood`` (n,) = counts / max(counts)."""

    edges: np.ndarray
    counts: np.ndarray
    likelihood: np.ndarray

    @property
    def n_bins(self) -> int:
        return int(self.counts.size)

    def bin_index(self, values: np.ndarray) -> np.ndarray:
        """Bin of each value as in :func:`numpy.histogram` (last bin closed); -1 outside ``[lo, hi]``."""
        v = np.asarray(values)
        idx = np.searchsorted(self.edges, v, side="right").astype(np.int64) - 1
        idx[v == self.edges[-1]] = self.n_bins - 1
        idx[(idx < 0) | (idx >= self.n_bins)] = -1
        return idx

    def lookup(self, values: np.ndarray) -> np.ndarray:
        """Likelihood (float32, 0..1) of each value; 0 outside the histogram range."""
        idx = self.bin_index(values)
        table = np.append(self.likelihood, 0.0).astype(np.float32)  # index -1 -> appended 0
        return table[idx]


@dataclass(frozen=True)
class BackProjectionResult:
    """Output of :func:`back_project`.

    Attributes
    ----------
    mask : (Z, Y, X) ndarray of bool
        ``likelihood >= threshold`` in the scope, after the connectivity and island rules.
    histogram : IntensityHistogram
        The ROI model (bins and their likelihood).
    likelihood : (Z, Y, X) ndarray of float32
        0..1 in the scope (after smoothing), 0 outside it. Without smoothing it is computed on
        first access (the mask does not need it), so a caller that wants only the mask saves time;
        it is then read from the input array, which must not have been modified in between.
    scope : (Z, Y, X) ndarray of bool
        Where the likelihood was computed (built on access from ``scope_box`` / ``scope_inside``).
    """

    mask: np.ndarray
    histogram: IntensityHistogram
    scope_box: tuple[slice, ...]
    scope_inside: np.ndarray | None = None
    _likelihood: np.ndarray | None = field(default=None, repr=False)
    _image: np.ndarray | None = field(default=None, repr=False)

    @property
    def likelihood(self) -> np.ndarray:
        if self._likelihood is None:
            img = self._image if self._image.ndim == 3 else self._image[np.newaxis]
            like = np.zeros(img.shape, np.float32)
            box = self.scope_box
            sub, out = img[box], like[box]
            udt = _LUT_DTYPES.get(img.dtype)
            lut = _lut_for(self.histogram, img.dtype) if udt is not None else None
            step = max(1, (1 << 21) // max(1, sub[0].size))
            for k in range(0, sub.shape[0], step):   # slabs: the lookup writes straight into the result
                if lut is not None:
                    out[k:k + step] = np.take(lut, sub[k:k + step].view(udt))
                else:
                    out[k:k + step] = self.histogram.lookup(sub[k:k + step])
            if self.scope_inside is not None:
                out[~self.scope_inside] = 0.0
            object.__setattr__(self, "_likelihood", like.reshape(self._image.shape))
        return self._likelihood

    @property
    def scope(self) -> np.ndarray:
        out = np.zeros(self.mask.shape, bool)
        box = self.scope_box[-out.ndim:]
        out[box] = True if self.scope_inside is None else self.scope_inside.reshape(out[box].shape)
        return out


def _lookup_block(hist: IntensityHistogram, block: np.ndarray) -> np.ndarray:
    """float32 likelihood of every voxel of ``block`` (LUT for small integer dtypes)."""
    udt = _LUT_DTYPES.get(block.dtype)
    if udt is None:
        return hist.lookup(block)
    return np.take(_lut_for(hist, block.dtype), block.view(udt))


def roi_histogram(values: np.ndarray, *, bins: int | None = 64, bin_width: float | None = None,
                  window: Sequence[float] | None = None) -> IntensityHistogram:
    """Build the normalised histogram of ROI intensities.

    Parameters
    ----------
    values : ndarray
        Intensities inside the ROI (any shape; HU for CT, SUV or Bq/ml for PET).
    bins : int, optional
        Number of bins over the range; ignored when ``bin_width`` is given.
    bin_width : float, optional
        Bin width in image units (HU for CT); the range is ``[lo, lo + n * bin_width]`` with the
        smallest ``n`` that covers ``hi``.
    window : (lo, hi), optional
        Intensity window in image units: ROI values outside it are ignored and the histogram spans
        exactly the window. Default: the ROI's own minimum and maximum.

    Returns
    -------
    IntensityHistogram
    """
    v = np.asarray(values).ravel()
    if window is not None:
        if len(window) != 2 or not float(window[0]) < float(window[1]):
            raise InputError(f"window must be (lo, hi) with lo < hi in image units; got {window}")
        lo, hi = float(window[0]), float(window[1])
        v = v[(v >= lo) & (v <= hi)]
    if v.size == 0:
        raise InputError("the ROI holds no voxels" + (f" inside the window {tuple(window)}" if window is not None else "")
                         + "; draw the ROI over the tissue (or widen the window)")
    if window is None:
        lo, hi = float(v.min()), float(v.max())
    if bin_width is not None:
        if not bin_width > 0:
            raise InputError(f"bin_width must be > 0 (image units, e.g. HU); got {bin_width}")
        n = max(1, int(np.ceil((hi - lo) / bin_width)))
        if lo + n * bin_width < hi:  # guard against rounding
            n += 1
        edges = lo + float(bin_width) * np.arange(n + 1)
    else:
        if bins is None or int(bins) < 1:
            raise InputError(f"bins must be a positive integer (or give bin_width); got {bins}")
        n = int(bins)
        if hi == lo:  # constant ROI: one bin of width 1 centred on the value
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, n + 1)
    counts, _ = np.histogram(v, bins=edges)
    peak = counts.max()
    like = counts / peak if peak > 0 else counts.astype(float)
    return IntensityHistogram(edges, counts, like)


def _scope_region(shape, roi_box: Box | None, roi_mask, scope, slice_index, slab, scope_mask):
    """(bounding slices of the scope, bool mask inside those slices or None when the whole block is in scope)."""
    z = shape[0]
    full_yx = (slice(0, shape[1]), slice(0, shape[2]))
    if scope == "volume":
        return (slice(0, z), *full_yx), None
    if scope == "slice":
        if slice_index is None:
            if roi_box is not None:
                slice_index = (roi_box.z0 + roi_box.z1 - 1) // 2
            else:
                zs = np.nonzero(roi_mask.any(axis=(1, 2)))[0]
                slice_index = int(zs[len(zs) // 2])
        if not 0 <= int(slice_index) < z:
            raise InputError(f"slice_index {slice_index} is outside the image's 0..{z - 1} slices")
        return (slice(int(slice_index), int(slice_index) + 1), *full_yx), None
    if scope == "slab":
        if slab is None or len(slab) != 2:
            raise InputError("scope='slab' needs slab=(start, stop), slice indices, stop exclusive")
        a, b = max(0, int(slab[0])), min(z, int(slab[1]))
        if a >= b:
            raise InputError(f"slab {tuple(slab)} holds no slice of the image's 0..{z - 1}")
        return (slice(a, b), *full_yx), None
    if scope == "mask":
        if scope_mask is None:
            raise InputError("scope='mask' needs scope_mask (a (Z, Y, X) bool mask, e.g. the selected segment)")
        bb = _bbox(scope_mask)
        if bb is None:
            raise InputError("scope_mask is empty; select a non-empty segment as the scope")
        return bb, scope_mask[bb]
    raise InputError(f"scope {scope!r} is not valid; valid scopes are {', '.join(_SCOPES)}")


def _bbox(mask: np.ndarray) -> tuple[slice, slice, slice] | None:
    if not mask.any():
        return None
    sl = []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        idx = np.nonzero(mask.any(axis=other))[0]
        sl.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return tuple(sl)  # type: ignore[return-value]


def _lut_for(hist: IntensityHistogram, dtype: np.dtype) -> np.ndarray:
    """float32 table of the likelihood of every value of a small integer dtype, indexed by its unsigned bits."""
    udt = _LUT_DTYPES[dtype]
    bits = np.arange(np.iinfo(udt).max + 1, dtype=udt)
    return hist.lookup(bits.view(dtype))


def back_project(image: np.ndarray, roi: Box | np.ndarray, *, spacing_mm: Sequence[float],
                 scope: Scope = "volume", slice_index: int | None = None,
                 slab: Sequence[int] | None = None, scope_mask: np.ndarray | None = None,
                 bins: int | None = 64, bin_width: float | None = None,
                 window: Sequence[float] | None = None, smoothing_mm: float = 0.0,
                 threshold: float = 0.1, connected_to_roi: bool = False, min_island_vox: int = 0,
                 progress: Progress | None = None) -> BackProjectionResult:
    """Likelihood map and mask of voxels whose intensity is frequent inside ``roi``.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) ndarray
        CT in HU (or PET); a 2-D slice is treated as Z = 1. int16/uint16/int8/uint8 use a fast
        lookup table; other dtypes bin by search.
    roi : Box or (Z, Y, X) ndarray of bool
        Where the tissue model comes from: a 2-D rectangle (``Box.rect``), a 3-D box or a mask
        (e.g. the selected segment). Must hold at least one voxel (inside ``window`` if given).
    spacing_mm : (3,) sequence of float
        Voxel size along z, y, x in mm (used by ``smoothing_mm``).
    scope : {'slice', 'slab', 'volume', 'mask'}
        Where to compute: one slice (``slice_index``, default the ROI's middle slice), the slices
        ``slab = (start, stop)``, the whole volume, or inside ``scope_mask``.
    bins, bin_width, window
        Histogram settings, see :func:`roi_histogram` (image units: HU for CT).
    smoothing_mm : float
        Standard deviation (mm) of a Gaussian applied to the likelihood inside the scope's bounding
        box before thresholding; 0 = none.
    threshold : float
        Likelihood (0..1, relative to the most frequent ROI bin) at or above which a voxel is kept.
    connected_to_roi : bool
        Keep only mask components (26-connected) that touch the ROI.
    min_island_vox : int
        Remove mask components with fewer voxels (26-connected); 0 keeps all.
    progress : callable(fraction, text), optional

    Returns
    -------
    BackProjectionResult
        ``likelihood`` (float32) and ``mask`` (bool), both (Z, Y, X), zero outside the scope.

    Notes
    -----
    Deterministic (no randomness). A constant ROI gives one bin: exactly its value is found.
    Voxels outside the histogram range (or the window) get likelihood 0.

    Examples
    --------
    >>> img = np.array([[[0, 0, 100, 100, 0, 100]]], dtype=np.int16)
    >>> r = back_project(img, Box.rect(0, 0, 1, 2, 4), spacing_mm=(1, 1, 1), bins=4, threshold=0.5)
    >>> r.mask.astype(int).tolist()
    [[[0, 0, 1, 1, 0, 1]]]
    """
    progress = progress or _no_progress
    img = check_image(image)
    sp = check_spacing(spacing_mm)
    if not 0.0 <= float(threshold) <= 1.0:
        raise InputError(f"threshold must be in 0..1 (relative likelihood); got {threshold}")
    if smoothing_mm < 0:
        raise InputError(f"smoothing_mm must be >= 0 mm; got {smoothing_mm}")
    if isinstance(roi, Box):
        roi_box: Box | None = roi.check(img.shape, "roi")
        roi_mask = None
        roi_values = img[roi_box.slices]
    else:
        roi_box = None
        roi_mask = check_mask(roi, img.shape, "roi")
        if not roi_mask.any():
            raise InputError("roi mask is empty; draw a rectangle or select a non-empty segment")
        roi_values = img[roi_mask]
    bb, inside = _scope_region(img.shape, roi_box, roi_mask, scope, slice_index, slab,
                               check_mask(scope_mask, img.shape, "scope_mask"))

    hist = roi_histogram(roi_values, bins=bins, bin_width=bin_width, window=window)
    progress(0.05, "histogram built")

    mask = np.zeros(img.shape, bool)
    mout = mask[bb]
    sub = img[bb]
    udt = _LUT_DTYPES.get(img.dtype)
    like = None
    if udt is not None and smoothing_mm == 0:
        # fast path: the mask straight from a boolean table of the voxel bits; likelihood on demand
        blut = _lut_for(hist, img.dtype) >= np.float32(threshold)
        n = sub.shape[0]
        step = max(1, (1 << 21) // max(1, sub[0].size))
        for k in range(0, n, step):
            np.take(blut, sub[k:k + step].view(udt), out=mout[k:k + step])
            if k % (8 * step) == 0:
                progress(0.05 + 0.75 * min(1.0, (k + step) / n), "back projecting")
    else:
        like = np.zeros(img.shape, np.float32)
        out = like[bb]
        out[...] = _lookup_block(hist, sub)
        if smoothing_mm > 0:
            sigma = [smoothing_mm / s for s in sp]
            out[...] = ndi.gaussian_filter(out, sigma, mode="nearest")
        if inside is not None:
            out[~inside] = 0.0
        np.greater_equal(out, np.float32(threshold), out=mout)
    if inside is not None:
        mout &= inside
    progress(0.8, "back projecting")
    if connected_to_roi:
        if roi_mask is None:
            roi_mask = roi_box.to_mask(img.shape)
        mask = keep_connected_to(mask, roi_mask)
    if min_island_vox > 1:
        mask = remove_islands(mask, min_size_vox=int(min_island_vox))
    progress(1.0, "back projection done")
    if np.ndim(image) == 2:
        mask = mask[0]
        like = None if like is None else like[0]
    return BackProjectionResult(mask, hist, tuple(bb), inside, like, np.asarray(image))
