"""``vtkOrientedImageData`` ⇄ ``Image`` / numpy, for Segment Editor effects.

Effects receive the source volume and labelmaps as ``vtkOrientedImageData`` (voxels plus an
image-to-world matrix in RAS, and an extent that need not start at 0, e.g.
``scriptedEffect.sourceVolumeImageData()``, ``selectedSegmentLabelmap()``, the AutoComplete base's
``mergedImage``/``outputLabelmap``). These helpers turn them into engine values and write engine
results back with the same geometry, so an effect stays "parameters → bridge → one engine call →
write back".
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from ..errors import GeometryError, InputError
from ..image import Image
from .volumes import (
    _numpy_matrix,
    _vtk_matrix,
    geometry_from_ijk_to_ras,
    image_to_vtk_image_data,
    vtk_image_data_to_array,
)

__all__ = ["array_to_oriented_image", "oriented_image_to_image", "update_oriented_image_from_array"]


def _extent_dims(oriented) -> tuple[int, int, int]:
    e = oriented.GetExtent()
    return (e[5] - e[4] + 1, e[3] - e[2] + 1, e[1] - e[0] + 1)


def oriented_image_to_image(oriented, *, name: str | None = None) -> Image:
    """Copy a ``vtkOrientedImageData`` into an :class:`Image` covering exactly its extent.

    Returns
    -------
    Image
        Voxels (Z, Y, X) of the extent; ``origin_lps`` is the LPS centre of the extent's first voxel,
        spacing and direction from the image-to-world (RAS) matrix. ``meta["extent"]`` keeps the
        VTK extent (i0, i1, j0, j1, k0, k1) so results can be written back in place.
    """
    if not hasattr(oriented, "IsA") or not oriented.IsA("vtkImageData"):
        raise InputError(f"expected a vtkOrientedImageData; got {None if oriented is None else oriented.GetClassName()}")
    dims = _extent_dims(oriented)
    if min(dims) < 1:
        raise InputError(f"the oriented image is empty (extent {oriented.GetExtent()}); nothing to convert")
    vm = vtk.vtkMatrix4x4()
    oriented.GetImageToWorldMatrix(vm)
    m = _numpy_matrix(vm)
    e = oriented.GetExtent()
    m[:3, 3] = m[:3, 3] + m[:3, :3] @ np.array([e[0], e[2], e[4]], float)
    spacing, origin, direction = geometry_from_ijk_to_ras(m)
    meta = {"extent": tuple(int(v) for v in e)}
    if name:
        meta["name"] = name
    return Image(vtk_image_data_to_array(oriented), spacing, origin, direction, meta)


def array_to_oriented_image(array: np.ndarray, like):
    """A new ``vtkOrientedImageData`` holding ``array`` with the geometry and extent of ``like``.

    Parameters
    ----------
    array : (Z, Y, X) ndarray
        Voxels; the shape must equal ``like``'s extent size. bool becomes uint8.
    like : vtkOrientedImageData or Image
        Geometry source. For an Image, ``meta["extent"]`` (set by :func:`oriented_image_to_image`)
        restores the original extent; otherwise the extent starts at 0.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[np.newaxis]
    out = slicer.vtkOrientedImageData()
    if isinstance(like, Image):
        if array.shape != like.shape:
            raise GeometryError(f"array shape {array.shape} differs from the image shape {like.shape}")
        out.ShallowCopy(image_to_vtk_image_data(array))
        m = like.ijk_to_ras_matrix()
        extent = like.meta.get("extent")
        if extent is not None:
            e = [int(v) for v in extent]
            if (e[5] - e[4] + 1, e[3] - e[2] + 1, e[1] - e[0] + 1) != like.shape:
                raise GeometryError(f"meta['extent'] {tuple(e)} does not match the image shape {like.shape}")
            m[:3, 3] = m[:3, 3] - m[:3, :3] @ np.array([e[0], e[2], e[4]], float)
            out.SetExtent(*e)
        out.SetImageToWorldMatrix(_vtk_matrix(m))
        return out
    if not hasattr(like, "IsA") or not like.IsA("vtkImageData"):
        raise InputError(f"'like' must be a vtkOrientedImageData or an Image; got {type(like).__name__}")
    update_oriented_image_from_array(out, array, reference=like)
    return out


def update_oriented_image_from_array(target, array: np.ndarray, *, reference=None) -> None:
    """Write ``array`` into ``target`` (e.g. an effect's ``outputLabelmap``), in place.

    Parameters
    ----------
    target : vtkOrientedImageData
        Receives the voxels; its geometry and extent are first copied from ``reference`` when given.
    array : (Z, Y, X) ndarray
        Shape must equal the (reference's or target's) extent size; bool becomes uint8.
    reference : vtkOrientedImageData, optional
        Geometry source (e.g. ``mergedImage`` or the source volume image data).
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    geometry_source = reference if reference is not None else target
    dims = _extent_dims(geometry_source)
    if array.shape != dims:
        raise GeometryError(f"array shape {array.shape} differs from the labelmap extent size {dims} "
                            f"(extent {geometry_source.GetExtent()})")
    if reference is not None:
        vm = vtk.vtkMatrix4x4()
        reference.GetImageToWorldMatrix(vm)
        target.SetExtent(reference.GetExtent())
        target.SetImageToWorldMatrix(vm)
    data = image_to_vtk_image_data(array)
    target.GetPointData().SetScalars(data.GetPointData().GetScalars())
    target.Modified()
