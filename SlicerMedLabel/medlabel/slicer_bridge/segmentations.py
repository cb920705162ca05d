"""``LabelSet`` ⇄ ``vtkMRMLSegmentationNode``: names, colours, terminology, tags, voxel-exact masks.

Each segment of a :class:`~medlabel.labels.LabelSet` becomes a ``vtkSegment`` whose binary-labelmap
representation is a ``vtkOrientedImageData`` on the label set's grid (IJKToRAS from the LPS
geometry, see :mod:`medlabel.slicer_bridge.volumes`). Segments get their own labelmap layer, so
overlapping segments are kept; Slicer may later merge non-overlapping ones into shared layers
(``vtkSegmentation.CollapseBinaryLabelmaps``), which the reader below handles through each
segment's label value.

Terminology is stored the Slicer way, as the segment tag ``TerminologyEntry``
(``context~category~type~modifier~anatomicContext~region~regionModifier``, codes as
``scheme^value^meaning``); all other tags are copied verbatim.
"""

from __future__ import annotations

import logging

import numpy as np
import slicer
import vtk

from ..errors import GeometryError, InputError
from ..labels import Geometry, LabelSet, Segment, Terminology
from .volumes import (
    _numpy_matrix,
    _scene,
    _vtk_matrix,
    geometry_from_ijk_to_ras,
    ijk_to_ras_of,
    image_to_vtk_image_data,
    vtk_image_data_to_array,
)

__all__ = ["labelset_to_segmentation_node", "segmentation_node_to_labelset", "segment_tags"]

log = logging.getLogger(__name__)

TERMINOLOGY_TAG = "TerminologyEntry"
_BINARY = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()


# -- geometry helpers ---------------------------------------------------------------------------------
def _oriented_from_geometry(geometry: Geometry, mask: np.ndarray | None = None):
    """A ``vtkOrientedImageData`` on ``geometry``'s grid; scalars from ``mask`` (uint8) or none."""
    if mask is not None:
        oriented = slicer.vtkOrientedImageData()
        oriented.ShallowCopy(image_to_vtk_image_data(mask.astype(np.uint8)))
    else:
        oriented = slicer.vtkOrientedImageData()
        z, y, x = geometry.shape
        oriented.SetExtent(0, x - 1, 0, y - 1, 0, z - 1)
    oriented.SetImageToWorldMatrix(_vtk_matrix(ijk_to_ras_of(geometry.spacing_mm, geometry.origin_lps,
                                                             geometry.direction)))
    return oriented


def _geometry_from_oriented(oriented) -> Geometry:
    """The :class:`Geometry` of an oriented image's extent (extent start folded into the origin)."""
    vm = vtk.vtkMatrix4x4()
    oriented.GetImageToWorldMatrix(vm)
    m = _numpy_matrix(vm)
    ext = oriented.GetExtent()
    m[:3, 3] = m[:3, 3] + m[:3, :3] @ np.array([ext[0], ext[2], ext[4]], float)
    spacing, origin, direction = geometry_from_ijk_to_ras(m)
    shape = (ext[5] - ext[4] + 1, ext[3] - ext[2] + 1, ext[1] - ext[0] + 1)
    return Geometry(shape, spacing, origin, tuple(float(v) for v in direction.ravel()))


def _reference_geometry(node, reference_volume) -> Geometry:
    """Grid for the masks: the reference volume's, else the segmentation's reference geometry,
    else the union of the segments' labelmap extents."""
    if reference_volume is not None:
        from .volumes import volume_node_to_image

        return Geometry.of(volume_node_to_image(reference_volume))
    segmentation = node.GetSegmentation()
    text = segmentation.GetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName())
    if text:
        oriented = slicer.vtkOrientedImageData()
        if slicer.vtkSegmentationConverter.DeserializeImageGeometry(text, oriented, False):
            return _geometry_from_oriented(oriented)
    oriented = slicer.vtkOrientedImageData()
    text = segmentation.DetermineCommonLabelmapGeometry(segmentation.EXTENT_UNION_OF_SEGMENTS, None)
    if not text or not slicer.vtkSegmentationConverter.DeserializeImageGeometry(text, oriented, False):
        raise GeometryError(f"segmentation '{node.GetName()}' has no reference geometry and no labelmaps; "
                            "pass reference_volume= (the image the segments belong to)")
    return _geometry_from_oriented(oriented)


# -- tags ---------------------------------------------------------------------------------------------
def segment_tags(segment) -> dict[str, str]:
    """All tags of a ``vtkSegment`` as a dict (the C++ tag map is not wrapped in Python).

    Candidate keys are read from the segment's ``PrintSelf`` text (the "Tags:" section, the last one
    it prints, one ``key: value`` per line; Slicer forbids ':' in keys); each candidate is then
    confirmed and its value fetched with ``GetTag``, so values are exact even when they hold
    colons or line breaks, and text that is not a tag is ignored.
    """
    lines = str(segment).splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Tags:"]
    tags: dict[str, str] = {}
    if not starts:
        return tags
    for line in lines[starts[0] + 1:]:
        key = line.strip().split(":", 1)[0]
        if not key or key in tags:
            continue
        value = vtk.mutable("")
        if segment.GetTag(key, value):
            tags[key] = str(value)
    return tags


# -- LabelSet → node ----------------------------------------------------------------------------------
def labelset_to_segmentation_node(labelset: LabelSet, node=None, reference_volume=None, *,
                                  name: str | None = None):
    """Fill a ``vtkMRMLSegmentationNode`` with the segments of a :class:`LabelSet`.

    Parameters
    ----------
    labelset : LabelSet
        Segments with boolean (Z, Y, X) masks on ``labelset.geometry``.
    node : vtkMRMLSegmentationNode, optional
        Node to fill; its existing segments are removed. A new node is added to ``slicer.mrmlScene``
        when omitted.
    reference_volume : vtkMRMLScalarVolumeNode, optional
        The volume the segments belong to; its grid must equal the label set's grid (else
        :class:`GeometryError`). It becomes the node's reference geometry and source volume link.
    name : str, optional
        Name of a new node (default ``labelset.meta["name"]`` or "Segmentation").

    Returns
    -------
    vtkMRMLSegmentationNode
        One segment per label set segment, in order, with segment id = ``Segment.id``, name, colour,
        tags and the ``TerminologyEntry`` tag. A segment without terminology keeps Slicer's default
        entry (category and type "Tissue"), exactly what Slicer gives it when loading a file.
    """
    if not isinstance(labelset, LabelSet):
        raise InputError(f"labelset_to_segmentation_node expects a LabelSet; got {type(labelset).__name__}")
    geometry = labelset.geometry
    if reference_volume is not None:
        from .volumes import volume_node_to_image

        ref = Geometry.of(volume_node_to_image(reference_volume))
        if not ref.matches(geometry):
            raise GeometryError(
                f"label set grid (shape {geometry.shape}, spacing {geometry.spacing_mm} mm, origin "
                f"{geometry.origin_lps}) differs from reference volume '{reference_volume.GetName()}' "
                f"(shape {ref.shape}, spacing {ref.spacing_mm} mm, origin {ref.origin_lps}); "
                "resample the labels onto the volume first")
    if node is None:
        node = _scene().AddNewNodeByClass("vtkMRMLSegmentationNode", name or labelset.meta.get("name", "Segmentation"))
    elif name:
        node.SetName(name)
    if node.GetScene() is not None and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    segmentation = node.GetSegmentation()
    segmentation.RemoveAllSegments()
    segmentation.SetSourceRepresentationName(_BINARY)
    if reference_volume is not None:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
    else:
        segmentation.SetConversionParameter(
            slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(),
            slicer.vtkSegmentationConverter.SerializeImageGeometry(_oriented_from_geometry(geometry)))
    for seg in labelset:
        vseg = slicer.vtkSegment()
        vseg.SetName(seg.name)
        vseg.SetColor(*seg.color)
        for key, value in seg.tags.items():
            vseg.SetTag(key, value)
        if seg.terminology is not None:
            vseg.SetTag(TERMINOLOGY_TAG, seg.terminology.to_slicer())
        vseg.AddRepresentation(_BINARY, _oriented_from_geometry(geometry, seg.mask))
        if not segmentation.AddSegment(vseg, seg.id):
            raise InputError(f"Slicer refused segment '{seg.name}' (id {seg.id!r}); check for duplicate ids")
    return node


# -- node → LabelSet ----------------------------------------------------------------------------------
def _place(arr: np.ndarray, offset_kji, shape) -> np.ndarray:
    """Boolean array of ``shape`` with ``arr`` pasted so that ``arr[0, 0, 0]`` lands at ``offset_kji`` (clipped)."""
    out = np.zeros(shape, bool)
    src, dst = [], []
    for n_src, n_dst, o in zip(arr.shape, shape, offset_kji, strict=True):
        a, b = max(0, -o), min(n_src, n_dst - o)
        if b <= a:
            return out
        src.append(slice(a, b))
        dst.append(slice(a + o, b + o))
    out[tuple(dst)] = arr[tuple(src)]
    return out


def _mask_on_geometry(oriented, label_value: int, geometry: Geometry) -> np.ndarray:
    """Boolean (Z, Y, X) mask of voxels == ``label_value`` of a labelmap, placed on ``geometry``'s grid.

    Exact extent copy when the labelmap lies on the same lattice (same spacing and directions, origin
    shifted by whole voxels); Slicer's nearest-neighbour resampling otherwise.
    """
    ext = oriented.GetExtent()
    if ext[1] < ext[0] or ext[3] < ext[2] or ext[5] < ext[4] or oriented.GetPointData().GetScalars() is None:
        return np.zeros(geometry.shape, bool)
    m_ref = ijk_to_ras_of(geometry.spacing_mm, geometry.origin_lps, geometry.direction)
    vm_in = vtk.vtkMatrix4x4()
    oriented.GetImageToWorldMatrix(vm_in)
    m_in = _numpy_matrix(vm_in)
    if np.allclose(m_ref[:3, :3], m_in[:3, :3], atol=1e-6):
        shift = np.linalg.solve(m_ref[:3, :3], m_in[:3, 3] - m_ref[:3, 3])  # (i, j, k) of input index 0
        if np.allclose(shift, np.round(shift), atol=1e-3):
            i0, j0, k0 = (np.round(shift).astype(int) + np.array([ext[0], ext[2], ext[4]])).tolist()
            return _place(vtk_image_data_to_array(oriented) == label_value, (k0, j0, i0), geometry.shape)
    ref = _oriented_from_geometry(geometry)
    ref.AllocateScalars(oriented.GetScalarType(), 1)
    resampled = slicer.vtkOrientedImageData()
    if not slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            oriented, ref, resampled, False, False):
        raise GeometryError("could not resample a segment labelmap onto the reference grid")
    rext = resampled.GetExtent()
    return _place(vtk_image_data_to_array(resampled) == label_value, (rext[4], rext[2], rext[0]), geometry.shape)


def segmentation_node_to_labelset(node, reference_volume=None) -> LabelSet:
    """Read a ``vtkMRMLSegmentationNode`` into a :class:`LabelSet`.

    Parameters
    ----------
    node : vtkMRMLSegmentationNode
        Segmentation; a missing binary-labelmap representation (e.g. closed surfaces only) is created.
    reference_volume : vtkMRMLScalarVolumeNode, optional
        Grid of the returned masks. Default: the segmentation's reference image geometry, else the
        union of its labelmaps' extents.

    Returns
    -------
    LabelSet
        Segments in the node's order: name, colour (RGB 0..1), terminology parsed from the
        ``TerminologyEntry`` tag, the other tags, id, and a boolean (Z, Y, X) mask (voxels equal to
        the segment's label value in its, possibly shared, labelmap). Overlaps are kept. A repeated
        segment name becomes "name (segment id)", as in :func:`medlabel.io.read_seg_nrrd`.
        ``meta["name"]`` is the node's name.
    """
    if node is None or not node.IsA("vtkMRMLSegmentationNode"):
        raise InputError(f"expected a segmentation node; got {None if node is None else node.GetClassName()}")
    if node.GetParentTransformNode() is not None:
        raise InputError(f"segmentation '{node.GetName()}' is under transform "
                         f"'{node.GetParentTransformNode().GetName()}'; harden the transform first")
    segmentation = node.GetSegmentation()
    if segmentation.GetNumberOfSegments() and not segmentation.ContainsRepresentation(_BINARY):
        if not segmentation.CreateRepresentation(_BINARY):
            raise InputError(f"segmentation '{node.GetName()}' cannot be converted to binary labelmaps")
    geometry = _reference_geometry(node, reference_volume)
    ls = LabelSet(geometry, meta={"name": node.GetName()})
    for index in range(segmentation.GetNumberOfSegments()):
        seg_id = segmentation.GetNthSegmentID(index)
        vseg = segmentation.GetSegment(seg_id)
        tags = segment_tags(vseg)
        term_text = tags.pop(TERMINOLOGY_TAG, None)
        terminology = Terminology.from_slicer(term_text) if term_text else None
        if term_text and terminology is None:
            tags[TERMINOLOGY_TAG] = term_text  # keep what we cannot parse
        oriented = vseg.GetRepresentation(_BINARY)
        mask = np.zeros(geometry.shape, bool) if oriented is None else \
            _mask_on_geometry(oriented, vseg.GetLabelValue(), geometry)
        color = tuple(float(np.clip(c, 0.0, 1.0)) for c in vseg.GetColor())
        name = vseg.GetName() or seg_id
        if name in ls:  # Slicer allows repeated names; a LabelSet needs unique ones
            name = f"{name} ({seg_id})"
        ls.add(Segment(name, mask, color, terminology, _clean_tags(tags, name), id=seg_id))
    return ls


def _clean_tags(tags: dict[str, str], segment_name: str = "") -> dict[str, str]:
    """Tags a :class:`Segment` can hold; one with ':' in its key or '|' in its value (which Slicer
    cannot save either) is dropped with a warning naming it."""
    kept = {}
    for key, value in tags.items():
        if ":" in key or "|" in value:
            log.warning("segment '%s': tag %r=%r dropped (':' in keys and '|' in values cannot be saved)",
                        segment_name, key, value)
            continue
        kept[key] = value
    return kept
