"""Rubber-band rectangle (drag with the left button in a slice view) and small shared helpers
of the GrabCut and Back projection Segment Editor effects (source volume, Apply with undo).

Used by the GrabCut and Back projection effects. It only draws the rectangle and reports its two
corners as world RAS points; the logic (``segment_effect_logic.boxFromRas``) maps them to the source
volume's voxels and makes the box.
"""

import vtk


class EffectRectangle:
    """Track one drag per effect; call :meth:`process` from ``processInteractionEvents``."""

    def __init__(self, scriptedEffect, onDone):
        self.scriptedEffect = scriptedEffect
        self.onDone = onDone            # onDone(rasStart, rasEnd, viewWidget)
        self.actors = {}
        self.start = None

    def process(self, callerInteractor, eventId, viewWidget, sourceImageData):
        """Return True when the event was used (the view should not pan/zoom)."""
        if viewWidget.className() != "qMRMLSliceWidget" or sourceImageData is None:
            return False
        xy = callerInteractor.GetEventPosition()
        if eventId == vtk.vtkCommand.LeftButtonPressEvent:
            self.start = (xy, viewWidget)
            self._draw(viewWidget, xy, xy)
            return True
        if self.start is None or self.start[1] is not viewWidget:
            return False
        if eventId == vtk.vtkCommand.MouseMoveEvent:
            self._draw(viewWidget, self.start[0], xy)
            return True
        if eventId == vtk.vtkCommand.LeftButtonReleaseEvent:
            start = self.start[0]
            self.start = None
            self.onDone(self._xyToRas(start, viewWidget), self._xyToRas(xy, viewWidget), viewWidget)
            return True
        return False

    def _xyToRas(self, xy, viewWidget):
        """World RAS of a view position: the C++ accessor takes a ``QPoint`` and returns a ``QVector3D``
        (like ``AbstractScriptedSegmentEditorEffect.xyToRas``), not a tuple."""
        import qt

        ras = self.scriptedEffect.xyToRas(qt.QPoint(int(xy[0]), int(xy[1])), viewWidget)
        return [ras.x(), ras.y(), ras.z()]

    def _draw(self, viewWidget, a, b):
        if viewWidget not in self.actors:
            points = vtk.vtkPoints()
            points.SetNumberOfPoints(5)
            lines = vtk.vtkCellArray()
            lines.InsertNextCell(5)
            for i in range(5):
                lines.InsertCellPoint(i)
            poly = vtk.vtkPolyData()
            poly.SetPoints(points)
            poly.SetLines(lines)
            mapper = vtk.vtkPolyDataMapper2D()
            mapper.SetInputData(poly)
            actor = vtk.vtkActor2D()
            actor.SetMapper(mapper)
            actor.GetProperty().SetColor(1.0, 0.85, 0.1)
            actor.GetProperty().SetLineWidth(2)
            self.scriptedEffect.addActor2D(viewWidget, actor)
            self.actors[viewWidget] = (actor, poly)
        actor, poly = self.actors[viewWidget]
        corners = [(a[0], a[1]), (b[0], a[1]), (b[0], b[1]), (a[0], b[1]), (a[0], a[1])]
        for i, (x, y) in enumerate(corners):
            poly.GetPoints().SetPoint(i, x, y, 0.0)
        poly.GetPoints().Modified()
        actor.VisibilityOn()
        self.scriptedEffect.scheduleRender(viewWidget)

    def clear(self):
        for viewWidget, (actor, _) in self.actors.items():
            self.scriptedEffect.removeActor2D(viewWidget, actor)
        self.actors = {}
        self.start = None


def sourceVolumeNode(scriptedEffect):
    """The Segment Editor's source volume (``GetMasterVolumeNode`` before Slicer 5.3)."""
    p = scriptedEffect.parameterSetNode()
    return p.GetSourceVolumeNode() if hasattr(p, "GetSourceVolumeNode") else p.GetMasterVolumeNode()


def applyToSelectedSegment(scriptedEffect, logic, mask, volumeNode, mode):
    """One undo step, then Set / Add / Remove ``mask`` in the selected segment (masking settings apply).

    Returns False (nothing written) when the selected segment is hidden and the user does not confirm
    editing it, as Slicer's own effects do."""
    import slicer

    if not scriptedEffect.confirmCurrentSegmentVisible():
        return False

    modes = {"Set": slicer.qSlicerSegmentEditorAbstractEffect.ModificationModeSet,
             "Add": slicer.qSlicerSegmentEditorAbstractEffect.ModificationModeAdd,
             "Remove": slicer.qSlicerSegmentEditorAbstractEffect.ModificationModeRemove}
    oriented = logic.maskToOrientedImage(mask, volumeNode)
    scriptedEffect.saveStateForUndo()
    scriptedEffect.modifySelectedSegmentByLabelmap(oriented, modes[mode])
    return True
