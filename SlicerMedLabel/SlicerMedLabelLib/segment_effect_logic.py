"""Qt-free logic of the "Back projection" and "GrabCut" Segment Editor effects.

The effects only collect input (a rectangle dragged in a slice view, option widgets, stroke
segments) and show output; every decision is made here or in :mod:`medlabel.segment`. Runs in the
Slicer application and under PyPI ``slicer-core`` (tests use ``headless_scene()``).

Coordinates: the effect converts the two corners of the dragged rectangle with ``xyToRas`` to
world RAS points; :meth:`SegmentEffectLogic.boxFromRas` maps them to IJK of the source volume node
and :meth:`SegmentEffectLogic.boxFromIjk` turns them into a
:class:`medlabel.segment.Box` (array order z, y, x = k, j, i). A rectangle drawn in an axial,
coronal or sagittal view is one voxel thick along that view's axis; the 2-D cut then runs in that
plane (the arrays are transposed so the thin axis comes first, and back).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import slicer

from medlabel.errors import InputError
from medlabel.labels import TAG_SOURCE, TAG_TOOL, LabelSet, Tool
from medlabel.segment import Box, back_project, grabcut
from medlabel.slicer_bridge import (
    array_to_oriented_image,
    labelset_to_segmentation_node,
    volume_node_to_image,
)

MODES = ("Set", "Add", "Remove")


class SegmentEffectLogic:
    """Compute GrabCut / back-projection masks on a source volume node and hand them to an effect.

    Parameters
    ----------
    progress : callable(fraction, text), optional
        Receives progress of long runs (the effect shows it in its progress bar).
    """

    def __init__(self, progress=None):
        self.progress = progress or (lambda fraction, text: logging.debug("%.0f%% %s", 100 * fraction, text))
        self._cache: tuple = (None, None)

    # -- inputs ---------------------------------------------------------------------------------
    def sourceImage(self, volumeNode):
        """The volume as a medlabel Image (cached while the node's voxels are unchanged)."""
        if volumeNode is None:
            raise InputError("Select a source volume in the Segment Editor first.")
        data = volumeNode.GetImageData()
        key = (volumeNode.GetID(), volumeNode.GetMTime(), data.GetMTime() if data is not None else 0)
        if self._cache[0] != key:
            self._cache = (key, volume_node_to_image(volumeNode))
        return self._cache[1]

    @staticmethod
    def boxFromIjk(ijkA, ijkB, shape) -> Box:
        """Box of the voxels between two IJK points (i, j, k; continuous, e.g. from ``xyToIjk``).

        Each corner is rounded to its voxel; the box includes both corner voxels and is clipped to
        ``shape`` (z, y, x). Raises :class:`InputError` when the rectangle misses the volume.
        """
        a = np.round(np.asarray(ijkA, float)).astype(int)[::-1]   # -> k, j, i
        b = np.round(np.asarray(ijkB, float)).astype(int)[::-1]
        lo, hi = np.minimum(a, b), np.maximum(a, b) + 1
        box = Box(int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1]), int(lo[2]), int(hi[2]))
        clipped = box.clipped(shape)
        if clipped.z1 <= clipped.z0 or clipped.y1 <= clipped.y0 or clipped.x1 <= clipped.x0:
            raise InputError(f"the rectangle (IJK {tuple(np.round(ijkA, 1))} to {tuple(np.round(ijkB, 1))}) lies "
                             "outside the source volume; draw it on the image")
        return clipped

    @staticmethod
    def rasToIjk(volumeNode, ras) -> tuple[float, float, float]:
        """Continuous IJK (i, j, k) of a world RAS point in the volume node's own voxel grid.

        A parent transform of the volume is undone first (world -> node coordinates). Effects convert
        the slice-view position with ``scriptedEffect.xyToRas(qt.QPoint(x, y), viewWidget)`` and then
        call this, so the box is on the grid the logic computes on (the Segment Editor's
        ``sourceVolumeImageData()`` is resampled to the segmentation's geometry, which may differ,
        e.g. a PET source volume on a CT-based segmentation).
        """
        import vtk

        if volumeNode is None:
            raise InputError("Select a source volume in the Segment Editor first.")
        point = [float(ras[0]), float(ras[1]), float(ras[2])]
        if volumeNode.GetParentTransformNode() is not None:
            local = [0.0, 0.0, 0.0]
            volumeNode.TransformPointFromWorld(point, local)   # undo the node's parent transforms
            point = local
        ras_to_ijk = vtk.vtkMatrix4x4()
        volumeNode.GetRASToIJKMatrix(ras_to_ijk)
        ijk = ras_to_ijk.MultiplyPoint([*point, 1.0])
        return float(ijk[0]), float(ijk[1]), float(ijk[2])

    def boxFromRas(self, rasA, rasB, volumeNode) -> Box:
        """:meth:`boxFromIjk` of two world RAS corners (e.g. of a rectangle dragged in a slice view)."""
        shape = self.sourceImage(volumeNode).shape
        return self.boxFromIjk(self.rasToIjk(volumeNode, rasA), self.rasToIjk(volumeNode, rasB), shape)

    @staticmethod
    def thinAxis(box: Box) -> int | None:
        """Array axis (0 = k, 1 = j, 2 = i) along which the box is one voxel thick (a rectangle), or None."""
        for axis, n in enumerate(box.shape):
            if n == 1:
                return axis
        return None

    def segmentMask(self, segmentationNode, segmentId, volumeNode) -> np.ndarray | None:
        """Boolean (Z, Y, X) mask of a segment on the source volume's grid (None when no segment is given)."""
        if not segmentId:
            return None
        if segmentationNode is None or segmentationNode.GetSegmentation().GetSegment(segmentId) is None:
            raise InputError(f"segment '{segmentId}' is not in the segmentation; choose another stroke segment")
        arr = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode)
        return np.asarray(arr) > 0

    # -- computations ---------------------------------------------------------------------------
    def grabcutMask(self, volumeNode, box: Box, *, segmentationNode=None, foregroundSegmentId=None,
                    backgroundSegmentId=None, **params) -> np.ndarray:
        """GrabCut in ``box`` on the source volume; returns a (Z, Y, X) bool mask on its grid.

        ``params`` go to :func:`medlabel.segment.grabcut` (iterations, smoothness, geodesic, ...).
        A one-voxel-thick box is cut in 2-D in its own plane.
        """
        image = self.sourceImage(volumeNode)
        fg = self.segmentMask(segmentationNode, foregroundSegmentId, volumeNode)
        bg = self.segmentMask(segmentationNode, backgroundSegmentId, volumeNode)
        axis = self.thinAxis(box)
        order = _axis_first(axis)
        arr, sp = np.transpose(image.array, order), tuple(image.spacing_mm[a] for a in order)
        tbox = _permute_box(box, order)
        t0 = time.time()
        mask = grabcut(arr, tbox, spacing_mm=sp,
                       fg_seeds=None if fg is None else np.transpose(fg, order),
                       bg_seeds=None if bg is None else np.transpose(bg, order),
                       progress=self.progress, **params)
        logging.info("GrabCut on %s voxels (box %s) in %.2f s", tbox.shape, box, time.time() - t0)
        return np.transpose(mask, np.argsort(order))

    def backProjection(self, volumeNode, roi: Box | np.ndarray, *, scope: str = "slice", **params):
        """Back projection from ``roi`` on the source volume; returns the engine's result (mask, likelihood).

        With ``scope='slice'`` and a rectangle ``roi``, the slice is the rectangle's plane (any view).
        """
        image = self.sourceImage(volumeNode)
        axis = self.thinAxis(roi) if isinstance(roi, Box) else None
        order = _axis_first(axis if scope in ("slice", "slab") else None)
        arr, sp = np.transpose(image.array, order), tuple(image.spacing_mm[a] for a in order)
        troi = _permute_box(roi, order) if isinstance(roi, Box) else np.transpose(roi, order)
        for key in ("scope_mask",):
            if params.get(key) is not None:
                params[key] = np.transpose(params[key], order)
        res = back_project(arr, troi, spacing_mm=sp, scope=scope, progress=self.progress, **params)
        inv = np.argsort(order)
        inside = None if res.scope_inside is None else np.transpose(res.scope_inside, inv)
        return type(res)(np.transpose(res.mask, inv), res.histogram, tuple(res.scope_box[i] for i in inv), inside,
                         np.transpose(res.likelihood, inv), None)

    def backProjectionForEffect(self, volumeNode, roi: Box | np.ndarray, *, scope: str, slabSlices: int = 0,
                                **params):
        """The effect's scopes: 'slice' (the rectangle's plane), 'slab' (``slabSlices`` planes on each side of
        it, along the view's axis) or 'volume'. A segment ROI (mask) is searched in the whole volume."""
        if scope == "slab":
            if not isinstance(roi, Box) or self.thinAxis(roi) is None:
                raise InputError("a slab needs a rectangle drawn in a slice view (not a segment or a 3-D box)")
            axis = self.thinAxis(roi)
            centre = (roi.z0, roi.y0, roi.x0)[axis]
            params["slab"] = (centre - int(slabSlices), centre + int(slabSlices) + 1)
        elif scope == "slice" and not isinstance(roi, Box):
            scope = "volume"
        return self.backProjection(volumeNode, roi, scope=scope, **params)

    # -- outputs --------------------------------------------------------------------------------
    def maskToOrientedImage(self, mask: np.ndarray, volumeNode):
        """uint8 ``vtkOrientedImageData`` of ``mask`` with the source volume's geometry, for
        ``scriptedEffect.modifySelectedSegmentByLabelmap`` (which applies the editor's masking)."""
        image = self.sourceImage(volumeNode)
        mask = np.asarray(mask)
        if mask.shape != image.shape:
            raise InputError(f"mask shape {mask.shape} differs from the source volume {image.shape}")
        return array_to_oriented_image(mask.astype(np.uint8), image.with_array(mask.astype(np.uint8)))

    def showPreview(self, mask: np.ndarray, volumeNode, previewNode=None, *, name="Preview",
                    color=(1.0, 0.85, 0.1), tool: str = ""):
        """Show ``mask`` in a (new or reused) preview segmentation node; never touches the user's segments."""
        image = self.sourceImage(volumeNode)
        ls = LabelSet(image)
        ls.add_mask(name, mask, color=color, tags={TAG_TOOL: Tool.SEMI_AUTOMATIC.value, TAG_SOURCE: tool or name})
        node = labelset_to_segmentation_node(ls, previewNode, volumeNode, name=f"{name} (preview)")
        if node.GetDisplayNode() is None:
            node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
        if display is not None:
            display.SetOpacity2DFill(0.4)
        return node

    @staticmethod
    def removePreview(previewNode) -> None:
        scene = slicer.mrmlScene
        if previewNode is not None and scene is not None and scene.IsNodePresent(previewNode):
            scene.RemoveNode(previewNode)


def _axis_first(axis: int | None) -> tuple[int, int, int]:
    if axis in (None, 0):
        return (0, 1, 2)
    return (axis,) + tuple(a for a in range(3) if a != axis)


def _permute_box(box: Box, order) -> Box:
    r = [(box.z0, box.z1), (box.y0, box.y1), (box.x0, box.x1)]
    p = [r[a] for a in order]
    return Box(p[0][0], p[0][1], p[1][0], p[1][1], p[2][0], p[2][1])
