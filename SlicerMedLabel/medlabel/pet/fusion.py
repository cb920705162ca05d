"""PET/CT fusion helpers: move segment masks between the CT grid and the PET grid.

Both grids live in the same patient (LPS) frame, as PET/CT scanners write them; no registration is
done here. Two ways to move a mask onto a coarser grid:

* ``nearest`` — a target voxel is inside when its *centre* falls in a source voxel that is inside
  (SimpleITK nearest-neighbour resampling). Fast; the volume can be off by partial voxels.
* ``fraction`` — each target voxel gets the *fraction of its volume* covered by the mask (0..1),
  estimated by sampling the mask at ``n³`` sub-voxel centres per target voxel (``n`` chosen so the
  sub-voxel step is no larger than the source spacing, at most 8). Statistics can then weight voxels
  by this fraction (partial-volume aware volumes and means).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import GeometryError, InputError
from ..image import Image
from ..labels import Geometry, LabelSet

Progress = Callable[[float, str], None]
METHODS = ("nearest", "fraction")


def _geometry(g: Geometry | Image) -> Geometry:
    return Geometry.of(g) if isinstance(g, Image) else g


def _to_sitk(mask: np.ndarray, geometry: Geometry):
    return geometry.empty_image().with_array(np.ascontiguousarray(mask, dtype=np.uint8)).to_sitk()


def _index_to_lps(g: Geometry, kji: np.ndarray) -> np.ndarray:
    return g.empty_image().index_to_lps(kji)


def _lps_to_index(g: Geometry, lps: np.ndarray) -> np.ndarray:
    return g.empty_image().lps_to_index(lps)


def _bbox_corners_lps(mask: np.ndarray, g: Geometry) -> np.ndarray | None:
    """LPS corners (8, 3) of the mask's bounding box, voxel edges included (None when empty)."""
    idx = np.argwhere(mask)
    if len(idx) == 0:
        return None
    lo, hi = idx.min(0) - 0.5, idx.max(0) + 0.5
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    return _index_to_lps(g, corners)


def overlap_fraction(src: Geometry | Image, dst: Geometry | Image, mask: np.ndarray | None = None) -> float:
    """Fraction of the mask's voxels (or of the whole ``src`` grid) whose centres lie inside ``dst``.

    Parameters
    ----------
    src, dst : Geometry or Image
        Grids in the same LPS frame.
    mask : (Z, Y, X) bool ndarray, optional
        Voxels of ``src`` to test; default all (sampled on a coarse lattice).
    """
    src, dst = _geometry(src), _geometry(dst)
    if mask is None:
        steps = [max(1, s // 16) for s in src.shape]
        grid = np.stack(np.meshgrid(*[np.arange(0, s, st) for s, st in zip(src.shape, steps, strict=True)],
                                    indexing="ij"), -1).reshape(-1, 3)
    else:
        grid = np.argwhere(mask)
        if len(grid) == 0:
            return 1.0
    idx = _lps_to_index(dst, _index_to_lps(src, grid))
    inside = np.all((idx > -0.5) & (idx < np.asarray(dst.shape) - 0.5), axis=1)
    return float(inside.mean())


def check_grids_overlap(src: Geometry | Image, dst: Geometry | Image, *, mask: np.ndarray | None = None,
                        what: str = "segmentation", min_fraction: float = 1.0) -> None:
    """Raise :class:`GeometryError` when (the mask of) ``src`` lies outside ``dst`` by more than allowed."""
    f = overlap_fraction(src, dst, mask)
    if f < min_fraction:
        g = _geometry(dst)
        raise GeometryError(
            f"{what}: only {100 * f:.1f}% of its voxels lie inside the PET volume (shape {g.shape}, origin "
            f"{tuple(round(o, 1) for o in g.origin_lps)} mm LPS). Are CT and PET from the same PET/CT study "
            "(same frame of reference)? Register them first or crop the segment.")


def resample_mask_nearest(mask: np.ndarray, src: Geometry | Image, dst: Geometry | Image) -> np.ndarray:
    """Nearest-neighbour resampling of a (Z, Y, X) bool mask from grid ``src`` onto grid ``dst``.

    Returns
    -------
    (Z', Y', X') bool ndarray on ``dst`` (voxels outside ``src`` are False).
    """
    import SimpleITK as sitk

    src, dst = _geometry(src), _geometry(dst)
    mask = np.asarray(mask)
    if mask.shape != tuple(src.shape):
        raise GeometryError(f"mask shape {mask.shape} differs from its grid's shape {tuple(src.shape)}")
    if src.matches(dst):
        return mask.astype(bool, copy=True)
    ref = dst.empty_image().to_sitk()
    out = sitk.Resample(_to_sitk(mask, src), ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(out).astype(bool)


def mask_fraction_on_grid(mask: np.ndarray, src: Geometry | Image, dst: Geometry | Image, *,
                          subdivisions: int | None = None) -> np.ndarray:
    """Fraction (0..1) of each ``dst`` voxel covered by the ``src`` mask.

    Parameters
    ----------
    mask : (Z, Y, X) bool ndarray on ``src``
    src, dst : Geometry or Image
    subdivisions : int, optional
        Sub-voxel samples per axis (n³ per target voxel). Default: ``ceil(max(dst spacing / src spacing))``,
        clipped to 1..8.

    Returns
    -------
    (Z', Y', X') float32 ndarray on ``dst``.

    Notes
    -----
    Only the bounding box of the mask (plus one voxel) is resampled, so a small lesion on a whole-body
    grid is cheap.

    Examples
    --------
    >>> import numpy as np
    >>> fine = Geometry((4, 4, 4), (1.0, 1.0, 1.0), (-0.5, -0.5, -0.5))
    >>> coarse = Geometry((2, 2, 2), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    >>> m = np.zeros((4, 4, 4), bool); m[:2, :2, :1] = True   # 4 of the 8 fine voxels of coarse voxel 0
    >>> float(mask_fraction_on_grid(m, fine, coarse)[0, 0, 0])
    0.5
    """
    import SimpleITK as sitk

    src, dst = _geometry(src), _geometry(dst)
    mask = np.asarray(mask).astype(bool)
    if mask.shape != tuple(src.shape):
        raise GeometryError(f"mask shape {mask.shape} differs from its grid's shape {tuple(src.shape)}")
    out = np.zeros(dst.shape, np.float32)
    corners = _bbox_corners_lps(mask, src)
    if corners is None:
        return out
    if src.matches(dst):
        return mask.astype(np.float32)
    idx = _lps_to_index(dst, corners)
    lo = np.maximum(np.floor(idx.min(0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(idx.max(0)).astype(int) + 2, np.asarray(dst.shape))
    if np.any(hi <= lo):
        return out
    if subdivisions is None:
        ratio = max(d / s for d, s in zip(dst.spacing_mm, src.spacing_mm, strict=True))
        subdivisions = int(min(8, max(1, math.ceil(ratio - 1e-6))))
    n = int(subdivisions)
    if n < 1:
        raise InputError(f"subdivisions must be >= 1; got {subdivisions}")
    sub_shape = tuple(int(v) for v in (hi - lo) * n)
    sub_spacing = tuple(s / n for s in dst.spacing_mm)
    # centre of sub-voxel 0 = corner of dst voxel lo (its centre minus half a voxel) + half a sub-voxel
    first = lo.astype(float) - 0.5 + 0.5 / n
    origin = _index_to_lps(dst, first[None])[0]
    sub = Geometry(sub_shape, sub_spacing, tuple(origin), dst.direction)
    res = sitk.Resample(_to_sitk(mask, src), sub.empty_image().to_sitk(), sitk.Transform(),
                        sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    a = sitk.GetArrayFromImage(res).astype(np.float32)
    sz, sy, sx = (hi - lo)
    frac = a.reshape(sz, n, sy, n, sx, n).mean(axis=(1, 3, 5))
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = frac
    return out


def resample_labelset(labelset: LabelSet, geometry: Geometry | Image, *, method: str = "nearest",
                      min_fraction: float = 0.5, progress: Progress | None = None) -> LabelSet:
    """Every segment of ``labelset`` moved onto ``geometry`` (CT grid → PET grid or back).

    Parameters
    ----------
    labelset : LabelSet
    geometry : Geometry or Image
        Target grid.
    method : {'nearest', 'fraction'}
        'nearest': voxel-centre rule. 'fraction': a voxel is inside when at least ``min_fraction`` of
        its volume is covered (use :func:`segment_fractions` for the fractions themselves).
    progress : callable(fraction, text), optional

    Returns
    -------
    LabelSet on ``geometry`` with the same names, colours, terminology and tags (a new object).
    """
    if method not in METHODS:
        raise InputError(f"method={method!r} is not valid; use one of: {', '.join(METHODS)}")
    g = _geometry(geometry)
    out = LabelSet(g, meta=dict(labelset.meta))
    for i, seg in enumerate(labelset):
        if progress:
            progress(i / max(len(labelset), 1), f"resampling {seg.name}")
        if method == "nearest":
            m = resample_mask_nearest(seg.mask, labelset.geometry, g)
        else:
            m = mask_fraction_on_grid(seg.mask, labelset.geometry, g) >= min_fraction
        out.add(seg.copy(mask=m))
    if progress:
        progress(1.0, "resampled")
    return out


def segment_fractions(labelset: LabelSet, geometry: Geometry | Image) -> dict[str, np.ndarray]:
    """Per segment name, the float32 (Z, Y, X) covered fraction of each voxel of ``geometry``."""
    g = _geometry(geometry)
    return {s.name: mask_fraction_on_grid(s.mask, labelset.geometry, g) for s in labelset}
