"""Shared pieces of :mod:`medlabel.segment`: the :class:`Box` ROI, input checks and mask clean-up.

All arrays are (Z, Y, X) (a 2-D (Y, X) slice is accepted where stated and treated as Z = 1);
``spacing_mm`` is (z, y, x) in mm. Functions return new arrays and never modify their inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError

#: progress callback: ``progress(fraction in 0..1, text)``
Progress = Callable[[float, str], None]


def _no_progress(fraction: float, text: str) -> None:  # noqa: ARG001 - matches Progress
    return None


@dataclass(frozen=True)
class Box:
    """An axis-aligned box of voxel indices, half-open on each axis: ``[z0, z1) x [y0, y1) x [x0, x1)``.

    A 2-D rectangle on slice ``k`` is ``Box(k, k + 1, y0, y1, x0, x1)`` (see :meth:`rect`).
    """

    z0: int
    z1: int
    y0: int
    y1: int
    x0: int
    x1: int

    @classmethod
    def rect(cls, z: int, y0: int, y1: int, x0: int, x1: int) -> Box:
        """A one-slice rectangle on slice ``z`` (rows ``y0:y1``, columns ``x0:x1``)."""
        return cls(int(z), int(z) + 1, int(y0), int(y1), int(x0), int(x1))

    @classmethod
    def of_mask(cls, mask: np.ndarray, *, margin_vox: Sequence[int] | int = 0,
                shape: Sequence[int] | None = None) -> Box:
        """Bounding box of the True voxels of a (Z, Y, X) mask, grown by ``margin_vox`` (z, y, x) and clipped."""
        mask = _as3d(np.asarray(mask, bool), "mask")
        if not mask.any():
            raise InputError("Box.of_mask: the mask is empty; draw or select a non-empty region first")
        m = np.broadcast_to(np.asarray(margin_vox, int), (3,))
        shape = tuple(shape) if shape is not None else mask.shape
        lo, hi = [], []
        for ax in range(3):
            other = tuple(a for a in range(3) if a != ax)
            idx = np.nonzero(mask.any(axis=other))[0]
            lo.append(max(0, int(idx[0]) - int(m[ax])))
            hi.append(min(int(shape[ax]), int(idx[-1]) + 1 + int(m[ax])))
        return cls(lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return (slice(self.z0, self.z1), slice(self.y0, self.y1), slice(self.x0, self.x1))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.z1 - self.z0, self.y1 - self.y0, self.x1 - self.x0)

    def clipped(self, shape: Sequence[int]) -> Box:
        """The box intersected with an image of ``shape`` (z, y, x)."""
        z, y, x = (int(s) for s in shape)
        return Box(max(0, self.z0), min(z, self.z1), max(0, self.y0), min(y, self.y1),
                   max(0, self.x0), min(x, self.x1))

    def grown(self, margin_vox: Sequence[int], shape: Sequence[int]) -> Box:
        """The box grown by ``margin_vox`` (z, y, x) voxels on each side, clipped to ``shape``."""
        mz, my, mx = (int(v) for v in margin_vox)
        return Box(self.z0 - mz, self.z1 + mz, self.y0 - my, self.y1 + my, self.x0 - mx,
                   self.x1 + mx).clipped(shape)

    def to_mask(self, shape: Sequence[int]) -> np.ndarray:
        """Boolean (Z, Y, X) mask of ``shape`` that is True inside the box."""
        out = np.zeros(tuple(int(s) for s in shape), bool)
        out[self.clipped(shape).slices] = True
        return out

    def check(self, shape: Sequence[int], name: str = "box") -> Box:
        """Validate against an image shape; raise :class:`InputError` naming the problem."""
        if any(not isinstance(v, (int, np.integer)) for v in (self.z0, self.z1, self.y0, self.y1, self.x0, self.x1)):
            raise InputError(f"{name} {self} must have integer voxel indices")
        c = self.clipped(shape)
        if c.z1 <= c.z0 or c.y1 <= c.y0 or c.x1 <= c.x0:
            raise InputError(
                f"{name} {self} does not overlap the image of shape {tuple(shape)} (z, y, x) or is empty; "
                "draw the box inside the image (ranges are half-open: z0 < z1, y0 < y1, x0 < x1)")
        return c


def _as3d(array: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 2:
        return a[np.newaxis]
    if a.ndim != 3:
        raise InputError(f"{name} must be 2-D (y, x) or 3-D (z, y, x); got shape {a.shape}")
    return a


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` as a finite (Z, Y, X) numeric array view, or raise :class:`InputError`."""
    a = _as3d(image, name)
    if a.size == 0:
        raise InputError(f"{name} is empty (shape {a.shape}); load an image first")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise InputError(f"{name} must be numeric; got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise InputError(f"{name} contains NaN or infinite values; replace them (e.g. with the minimum) first")
    return a


def check_mask(mask: np.ndarray | None, shape: Sequence[int], name: str) -> np.ndarray | None:
    """Return ``mask`` as a boolean (Z, Y, X) array of ``shape`` (None stays None) or raise."""
    if mask is None:
        return None
    m = _as3d(np.asarray(mask), name)
    if m.shape != tuple(shape):
        raise InputError(f"{name} has shape {m.shape} but the image has shape {tuple(shape)} (z, y, x); "
                         f"resample {name} onto the image grid first")
    return m.astype(bool, copy=False)


def check_spacing(spacing_mm: Sequence[float], name: str = "spacing_mm") -> tuple[float, float, float]:
    """Return spacing as 3 positive floats (z, y, x); a 2-tuple (y, x) gets z = 1 mm."""
    sp = tuple(float(s) for s in np.ravel(spacing_mm))
    if len(sp) == 2:
        sp = (1.0, *sp)
    if len(sp) != 3 or any(not np.isfinite(s) or s <= 0 for s in sp):
        raise InputError(f"{name} must be 3 positive numbers (z, y, x) in mm (or 2 for a (y, x) slice); "
                         f"got {spacing_mm}")
    return sp  # type: ignore[return-value]


def structure(connectivity: int) -> np.ndarray:
    """3-D neighbourhood for labelling: 6 (faces), 18 (faces+edges) or 26 (all)."""
    rank = {6: 1, 18: 2, 26: 3}.get(int(connectivity))
    if rank is None:
        raise InputError(f"connectivity must be 6, 18 or 26; got {connectivity}")
    return ndi.generate_binary_structure(3, rank)


def remove_islands(mask: np.ndarray, *, min_size_vox: int, connectivity: int = 26) -> np.ndarray:
    """Remove connected components smaller than ``min_size_vox`` voxels.

    Parameters
    ----------
    mask : (Z, Y, X) or (Y, X) ndarray of bool
    min_size_vox : int
        Components with fewer voxels are removed; 0 or 1 keeps everything.
    connectivity : {6, 18, 26}

    Returns
    -------
    (same shape as ``mask``) ndarray of bool
    """
    m = np.asarray(mask, bool)
    if min_size_vox <= 1 or not m.any():
        return m.copy()
    lab, n = ndi.label(_as3d(m, "mask"), structure(connectivity))
    sizes = np.bincount(lab.ravel())
    keep = sizes >= int(min_size_vox)
    keep[0] = False
    return keep[lab].reshape(m.shape)


def keep_connected_to(mask: np.ndarray, seeds: np.ndarray, *, connectivity: int = 26) -> np.ndarray:
    """Keep only the components of ``mask`` that touch a True voxel of ``seeds`` (same shape)."""
    m = _as3d(np.asarray(mask, bool), "mask")
    s = _as3d(np.asarray(seeds, bool), "seeds")
    if s.shape != m.shape:
        raise InputError(f"seeds shape {s.shape} differs from mask shape {m.shape}")
    lab, _ = ndi.label(m, structure(connectivity))
    ids = np.unique(lab[s & m])
    ids = ids[ids > 0]
    return np.isin(lab, ids).reshape(np.shape(mask))


def largest_component(mask: np.ndarray, *, connectivity: int = 26) -> np.ndarray:
    """Keep the largest connected component (ties: the one with the lowest label, i.e. first in raster order)."""
    m = np.asarray(mask, bool)
    if not m.any():
        return m.copy()
    lab, _ = ndi.label(_as3d(m, "mask"), structure(connectivity))
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return (lab == int(np.argmax(sizes))).reshape(m.shape)


def fill_holes(mask: np.ndarray, *, per_slice: bool = True) -> np.ndarray:
    """Fill enclosed holes; ``per_slice`` fills each (Y, X) slice in 2-D (what a reader draws), else in 3-D."""
    m = np.asarray(mask, bool)
    m3 = _as3d(m, "mask")
    if per_slice:
        out = np.stack([ndi.binary_fill_holes(s) for s in m3])
    else:
        out = ndi.binary_fill_holes(m3)
    return out.reshape(m.shape)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient 2|A∩B| / (|A|+|B|) (Dice 1945); 1.0 when both masks are empty."""
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s
