"""The `Image` value: a numpy array in (z, y, x) order plus its patient-space geometry.

Geometry follows ITK/DICOM conventions (LPS patient coordinates):

* ``spacing_mm`` is (z, y, x) in mm, the same order as the array axes;
* ``origin_lps`` is the LPS position (x, y, z order, mm) of voxel (0, 0, 0);
* ``direction`` is a 3x3 matrix whose *columns* are the LPS unit vectors of the
  array's i (x, last axis), j (y) and k (z, first axis) index directions, exactly
  as SimpleITK's ``GetDirection()`` reshaped to 3x3.

So the LPS point of array index ``(k, j, i)`` is
``origin_lps + direction @ ([i, j, k] * spacing_xyz)``. Slicer uses RAS: flip the
sign of the first two coordinates (see :func:`lps_to_ras`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import GeometryError, InputError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def lps_to_ras(points: np.ndarray) -> np.ndarray:
    """Convert LPS points (..., 3) to RAS (flip x and y); the operation is its own inverse."""
    return np.asarray(points, dtype=float) * np.array([-1.0, -1.0, 1.0])


ras_to_lps = lps_to_ras


@dataclass(frozen=True)
class Image:
    """A volume (or a single slice stored as z=1) with geometry and metadata.

    Attributes
    ----------
    array : (Z, Y, X) ndarray
        Voxel values (HU for CT after rescale, Bq/ml or SUV for PET).
    spacing_mm : tuple of 3 float
        Voxel size along z, y, x in mm.
    origin_lps : tuple of 3 float
        LPS position (x, y, z, mm) of the centre of voxel (0, 0, 0).
    direction : (3, 3) ndarray
        Columns are the LPS directions of the i (x), j (y), k (z) array axes.
    meta : dict
        Free metadata: DICOM tags (PatientSex, PatientSize, ...), series UID, source path.
    """

    array: np.ndarray
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin_lps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        if arr.ndim != 3:
            raise InputError(f"Image.array must be 2-D (y, x) or 3-D (z, y, x); got shape {arr.shape}")
        object.__setattr__(self, "array", arr)
        sp = tuple(float(s) for s in self.spacing_mm)
        if len(sp) != 3 or any(not np.isfinite(s) or s <= 0 for s in sp):
            raise InputError(f"spacing_mm must be 3 positive numbers (z, y, x) in mm; got {self.spacing_mm}")
        object.__setattr__(self, "spacing_mm", sp)
        org = tuple(float(o) for o in self.origin_lps)
        if len(org) != 3:
            raise InputError(f"origin_lps must have 3 values (x, y, z); got {self.origin_lps}")
        object.__setattr__(self, "origin_lps", org)
        d = np.asarray(self.direction, dtype=float).reshape(3, 3)
        object.__setattr__(self, "direction", d)

    # -- geometry -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def spacing_xyz(self) -> tuple[float, float, float]:
        """Spacing in SimpleITK's (x, y, z) order."""
        return tuple(reversed(self.spacing_mm))  # type: ignore[return-value]

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))

    @property
    def pixel_area_mm2(self) -> float:
        """In-plane pixel area (y * x spacing) in mm²."""
        return float(self.spacing_mm[1] * self.spacing_mm[2])

    def ijk_to_lps_matrix(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous (i, j, k, 1) index (x, y, z order) to LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction @ np.diag(self.spacing_xyz)
        m[:3, 3] = self.origin_lps
        return m

    def ijk_to_ras_matrix(self) -> np.ndarray:
        """4x4 matrix mapping (i, j, k, 1) to RAS mm, as Slicer's IJKToRAS."""
        m = self.ijk_to_lps_matrix()
        flip = np.diag([-1.0, -1.0, 1.0, 1.0])
        return flip @ m

    def index_to_lps(self, kji: np.ndarray) -> np.ndarray:
        """LPS points (N, 3; x, y, z) of array indices (N, 3; k, j, i)."""
        kji = np.atleast_2d(np.asarray(kji, dtype=float))
        ijk = kji[:, ::-1]
        return (self.ijk_to_lps_matrix() @ np.c_[ijk, np.ones(len(ijk))].T).T[:, :3]

    def lps_to_index(self, lps: np.ndarray) -> np.ndarray:
        """Continuous array indices (N, 3; k, j, i) of LPS points (N, 3; x, y, z)."""
        lps = np.atleast_2d(np.asarray(lps, dtype=float))
        inv = np.linalg.inv(self.ijk_to_lps_matrix())
        ijk = (inv @ np.c_[lps, np.ones(len(lps))].T).T[:, :3]
        return ijk[:, ::-1]

    def slice_z_mm(self) -> np.ndarray:
        """Patient z position (mm, LPS) of each slice centre, in array order."""
        ks = np.arange(self.shape[0])
        pts = self.index_to_lps(np.c_[ks, np.zeros_like(ks), np.zeros_like(ks)])
        return pts[:, 2]

    def same_geometry(self, other: Image, *, tol_mm: float = 1e-3) -> bool:
        """True when ``other`` has the same shape, spacing, origin and direction (within tol)."""
        return (
            self.shape == other.shape
            and np.allclose(self.spacing_mm, other.spacing_mm, atol=tol_mm)
            and np.allclose(self.origin_lps, other.origin_lps, atol=tol_mm)
            and np.allclose(self.direction, other.direction, atol=1e-5)
        )

    def check_same_geometry(self, other: Image, what: str = "mask") -> None:
        """Raise :class:`GeometryError` naming both grids when ``other``'s grid differs."""
        if not self.same_geometry(other):
            raise GeometryError(
                f"{what} grid does not match the image: image shape {self.shape}, spacing {self.spacing_mm} mm, "
                f"origin {self.origin_lps}; {what} shape {other.shape}, spacing {other.spacing_mm} mm, "
                f"origin {other.origin_lps}. Resample the {what} onto the image grid first."
            )

    def with_array(self, array: np.ndarray, **meta: Any) -> Image:
        """A new Image on the same grid with other voxel values (shape must match)."""
        array = np.asarray(array)
        if array.ndim == 2:
            array = array[np.newaxis]
        if array.shape != self.shape:
            raise GeometryError(f"new array shape {array.shape} differs from image shape {self.shape}")
        return replace(self, array=array, meta={**self.meta, **meta})

    def slab(self, start: int, stop: int) -> Image:
        """The sub-volume of slices ``start:stop`` (array order) with the origin moved accordingly."""
        if not (0 <= start < stop <= self.shape[0]):
            raise InputError(f"slab {start}:{stop} is outside the image's 0..{self.shape[0]} slices")
        origin = self.index_to_lps([[start, 0, 0]])[0]
        return replace(self, array=self.array[start:stop], origin_lps=tuple(origin))

    # -- SimpleITK ----------------------------------------------------------------------------
    def to_sitk(self):
        """A SimpleITK image with the same voxels and geometry."""
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        img.SetSpacing(self.spacing_xyz)
        img.SetOrigin(self.origin_lps)
        img.SetDirection(tuple(self.direction.ravel()))
        return img

    @classmethod
    def from_sitk(cls, img, meta: dict[str, Any] | None = None) -> Image:
        """Build an Image from a 2-D or 3-D SimpleITK image (LPS geometry is kept as is)."""
        import SimpleITK as sitk

        arr = sitk.GetArrayFromImage(img)
        if img.GetDimension() == 2:
            sp = (1.0, *reversed(img.GetSpacing()))
            org = (*img.GetOrigin(), 0.0)
            d2 = np.asarray(img.GetDirection()).reshape(2, 2)
            direction = np.eye(3)
            direction[:2, :2] = d2
        elif img.GetDimension() == 3:
            sp = tuple(reversed(img.GetSpacing()))
            org = img.GetOrigin()
            direction = np.asarray(img.GetDirection()).reshape(3, 3)
        else:
            raise InputError(f"only 2-D and 3-D images are supported; got {img.GetDimension()}-D")
        return cls(arr, sp, org, direction, dict(meta or {}))
