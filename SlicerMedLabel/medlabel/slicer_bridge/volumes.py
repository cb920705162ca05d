"""``Image`` ⇄ ``vtkMRMLScalarVolumeNode`` with exact geometry.

Slicer stores a volume as ``vtkImageData`` (x fastest, i.e. the same memory order as our (z, y, x)
C array) plus an IJKToRAS matrix split into spacing, origin and IJKToRAS directions. ``Image`` keeps
LPS geometry (DICOM/ITK convention), so the conversion flips the sign of the first two rows:
``IJKToRAS = diag(-1, -1, 1, 1) @ IJKToLPS`` (DICOM PS3.3 C.7.6.2.1.1 patient coordinates are LPS;
Slicer's world is RAS).
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..errors import InputError
from ..image import Image

__all__ = ["image_to_volume_node", "volume_node_to_image", "geometry_from_ijk_to_ras", "ijk_to_ras_of"]

_FLIP = np.diag([-1.0, -1.0, 1.0])


def _scene():
    scene = getattr(slicer, "mrmlScene", None)
    if scene is None:
        raise InputError("no MRML scene: call medlabel.slicer_bridge.headless.headless_scene() first "
                         "(or pass an existing node)")
    return scene


def ijk_to_ras_of(spacing_mm, origin_lps, direction) -> np.ndarray:
    """4x4 IJKToRAS matrix of a grid given as ``spacing_mm`` (z, y, x), ``origin_lps`` (x, y, z), LPS direction."""
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    m = np.eye(4)
    m[:3, :3] = _FLIP @ d @ np.diag(list(reversed([float(s) for s in spacing_mm])))
    m[:3, 3] = _FLIP @ np.asarray(origin_lps, dtype=float)
    return m


def geometry_from_ijk_to_ras(matrix) -> tuple[tuple[float, float, float], tuple[float, float, float], np.ndarray]:
    """Split a 4x4 IJKToRAS matrix into ``spacing_mm`` (z, y, x), ``origin_lps`` (x, y, z) and LPS direction.

    Raises
    ------
    InputError
        When the matrix has a zero column (degenerate spacing) or shear (non-orthogonal columns).
    """
    m = np.asarray(matrix, dtype=float).reshape(4, 4)
    lps = _FLIP @ m[:3, :3]
    spacing_xyz = np.linalg.norm(lps, axis=0)
    if np.any(spacing_xyz <= 0):
        raise InputError(f"IJKToRAS matrix has a zero-length axis (spacing {spacing_xyz}); the volume geometry is invalid")
    direction = lps / spacing_xyz
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise InputError("IJKToRAS matrix has sheared axes; resample the volume to an orthogonal grid first "
                         "(Slicer: Resample Scalar/Vector/DWI Volume)")
    origin = _FLIP @ m[:3, 3]
    return tuple(spacing_xyz[::-1].tolist()), tuple(origin.tolist()), direction


def _vtk_matrix(m: np.ndarray) -> vtk.vtkMatrix4x4:
    vm = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            vm.SetElement(r, c, float(m[r, c]))
    return vm


def _numpy_matrix(vm: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[vm.GetElement(r, c) for c in range(4)] for r in range(4)])


def image_to_vtk_image_data(array: np.ndarray) -> vtk.vtkImageData:
    """A ``vtkImageData`` (origin 0, spacing 1, extent from 0) holding a deep copy of a (Z, Y, X) array."""
    arr = np.ascontiguousarray(array)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype in (np.int64, np.uint64):
        # VTK "long long" volumes do not render in Slicer; narrow when the values fit, else use float64
        info = np.iinfo(np.int32)
        arr = arr.astype(np.int32) if arr.size == 0 or (arr.min() >= info.min and arr.max() <= info.max) \
            else arr.astype(np.float64)
    img = vtk.vtkImageData()
    img.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    vtype = numpy_support.get_vtk_array_type(arr.dtype)
    scalars = numpy_support.numpy_to_vtk(arr.ravel(), deep=True, array_type=vtype)
    scalars.SetName("ImageScalars")
    img.GetPointData().SetScalars(scalars)
    return img


def image_to_volume_node(image: Image, node=None, *, name: str | None = None):
    """Put an :class:`~medlabel.image.Image` into a ``vtkMRMLScalarVolumeNode``.

    Parameters
    ----------
    image : Image
        Voxels (Z, Y, X) with ``spacing_mm`` (z, y, x), ``origin_lps`` (x, y, z) and LPS direction.
    node : vtkMRMLScalarVolumeNode, optional
        Node to fill (its voxels and geometry are replaced). A new node is added to
        ``slicer.mrmlScene`` when omitted.
    name : str, optional
        Node name; defaults to ``image.meta["name"]`` or "Volume" for a new node.

    Returns
    -------
    vtkMRMLScalarVolumeNode
        The node, IJKToRAS = LPS→RAS flip of the image's IJK→LPS matrix; voxels deep-copied.
        Boolean arrays become uint8; int64 arrays become int32 when the values fit (VTK cannot show
        64-bit integer volumes).
    """
    if not isinstance(image, Image):
        raise InputError(f"image_to_volume_node expects a medlabel Image; got {type(image).__name__}")
    if node is None:
        node = _scene().AddNewNodeByClass("vtkMRMLScalarVolumeNode", name or image.meta.get("name", "Volume"))
    elif name:
        node.SetName(name)
    node.SetIJKToRASMatrix(_vtk_matrix(image.ijk_to_ras_matrix()))
    node.SetAndObserveImageData(image_to_vtk_image_data(image.array))
    if node.GetScene() is not None and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def vtk_image_data_to_array(img: vtk.vtkImageData) -> np.ndarray:
    """A (Z, Y, X) copy of a single-component ``vtkImageData``'s scalars."""
    dims = img.GetDimensions()
    scalars = img.GetPointData().GetScalars()
    if scalars is None:
        return np.zeros(dims[::-1], np.uint8)
    if scalars.GetNumberOfComponents() != 1:
        raise InputError(f"volume has {scalars.GetNumberOfComponents()} components per voxel; only scalar "
                         "volumes convert to an Image (split the vector volume first)")
    return numpy_support.vtk_to_numpy(scalars).reshape(dims[::-1]).copy()


def volume_node_to_image(node) -> Image:
    """Read a scalar (or labelmap) volume node into an :class:`~medlabel.image.Image`.

    Parameters
    ----------
    node : vtkMRMLScalarVolumeNode
        The volume; it must have image data and no parent transform (harden it first).

    Returns
    -------
    Image
        A copy of the voxels (Z, Y, X), geometry from the node's IJKToRAS (converted to LPS),
        ``meta["name"]`` = node name. A non-zero image extent start moves the origin accordingly.
    """
    if node is None or not node.IsA("vtkMRMLVolumeNode"):
        raise InputError(f"expected a volume node; got {None if node is None else node.GetClassName()}")
    img = node.GetImageData()
    if img is None:
        raise InputError(f"volume node '{node.GetName()}' has no image data; load or compute the volume first")
    if node.GetParentTransformNode() is not None:
        raise InputError(f"volume node '{node.GetName()}' is under transform "
                         f"'{node.GetParentTransformNode().GetName()}'; harden the transform first "
                         "(Data module: right-click → Harden transform)")
    vm = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(vm)
    m = _numpy_matrix(vm)
    ext = img.GetExtent()
    if ext[0] or ext[2] or ext[4]:
        m[:3, 3] = m[:3, 3] + m[:3, :3] @ np.array([ext[0], ext[2], ext[4]], float)
    spacing, origin, direction = geometry_from_ijk_to_ras(m)
    return Image(vtk_image_data_to_array(img), spacing, origin, direction, {"name": node.GetName()})
