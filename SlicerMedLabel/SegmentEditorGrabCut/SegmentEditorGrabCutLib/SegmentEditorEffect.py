"""GrabCut effect: drag a rectangle in a slice view, optionally pick stroke segments, preview, Apply.

All work is in ``SlicerMedLabelLib.segment_effect_logic`` and ``medlabel.segment.grabcut`` (tested
under slicer-core); this file gathers widget values, draws the rectangle and shows the preview.
"""

import os

import qt
import slicer
from SegmentEditorEffects import AbstractScriptedSegmentEditorEffect

ITERATIONS, SMOOTHNESS, DEPTH_SLICES, OPERATION = "Iterations", "Smoothness", "DepthSlices", "Operation"
STAR = "StarShape"
FG_SEGMENT, BG_SEGMENT = "ForegroundStrokeSegment", "BackgroundStrokeSegment"
OPERATIONS = [("Add to the segment", "Add"), ("Set (replace the whole segment, all slices)", "Set"),
              ("Remove from the segment", "Remove")]


class SegmentEditorEffect(AbstractScriptedSegmentEditorEffect):
    """Box (and strokes) -> graph cut -> preview -> Apply to the selected segment (one undo step)."""

    def __init__(self, scriptedEffect):
        scriptedEffect.name = "GrabCut"
        scriptedEffect.perSegment = True
        AbstractScriptedSegmentEditorEffect.__init__(self, scriptedEffect)
        self.box = None
        self.mask = None
        self.previewNode = None
        self._logic = None
        self._connections = []
        self._rect = None

    def clone(self):
        import qSlicerSegmentationsEditorEffectsPythonQt as effects

        clonedEffect = effects.qSlicerSegmentEditorScriptedEffect(None)
        clonedEffect.setPythonSource(__file__.replace("\\", "/"))
        return clonedEffect

    def icon(self):
        path = os.path.join(os.path.dirname(__file__), "../Resources/Icons/SegmentEditorGrabCut.png")
        return qt.QIcon(path) if os.path.exists(path) else qt.QIcon()

    def helpText(self):
        return ("<html>Segment the object inside a box.<p><b>Left-drag</b> a tight rectangle around the object in a "
                "slice view: the rectangle's outline and everything outside it is background. The cut runs on that "
                "slice, or on a box of "
                "<i>depth</i> slices on each side (3-D). For an object with the same intensity as its "
                "surroundings, paint a rough <b>foreground stroke</b> (and optionally a background stroke) into "
                "helper segments with Paint and select them here. The preview is shown in yellow; <b>Apply</b> "
                "writes it into the selected segment (Add by default, or Set / Remove; masking settings respected, one undo "
                "step).</html>")

    @property
    def logic(self):
        if self._logic is None:
            from SlicerMedLabelLib.segment_effect_logic import SegmentEffectLogic

            self._logic = SegmentEffectLogic(progress=self._progress)
        return self._logic

    def _connect(self, widget, signal, slot):
        widget.connect(signal, slot)
        self._connections.append((widget, signal, slot))

    def cleanup(self):
        """Disconnect the option widgets (Slicer >= 5.8 calls this before deleting the effect; a live
        connection to a bound method keeps the effect object alive)."""
        for widget, signal, slot in self._connections:
            widget.disconnect(signal, slot)
        self._connections = []

    def setupOptionsFrame(self):
        self.depthSpin = qt.QSpinBox()
        self.depthSpin.minimum, self.depthSpin.maximum = 0, 200
        self.depthSpin.suffix = " slices each side"
        self.depthSpin.toolTip = "0 = 2-D cut on the drawn slice; N = 3-D box of N slices above and below"
        self.scriptedEffect.addLabeledOptionsWidget("Depth:", self.depthSpin)
        self.fgCombo, self.bgCombo = qt.QComboBox(), qt.QComboBox()
        self.fgCombo.toolTip = "Segment holding rough foreground strokes (optional; paint it with Paint)"
        self.bgCombo.toolTip = "Segment holding background strokes (optional)"
        self.scriptedEffect.addLabeledOptionsWidget("Foreground strokes:", self.fgCombo)
        self.scriptedEffect.addLabeledOptionsWidget("Background strokes:", self.bgCombo)
        self.iterSpin = qt.QSpinBox()
        self.iterSpin.minimum, self.iterSpin.maximum = 1, 20
        self.iterSpin.toolTip = "Maximum fit/cut rounds (stops earlier when stable)"
        self.scriptedEffect.addLabeledOptionsWidget("Iterations:", self.iterSpin)
        self.smoothSpin = qt.QDoubleSpinBox()
        self.smoothSpin.minimum, self.smoothSpin.maximum, self.smoothSpin.singleStep = 0.0, 100.0, 0.5
        self.smoothSpin.toolTip = "Boundary weight: higher gives smoother, more compact shapes"
        self.scriptedEffect.addLabeledOptionsWidget("Smoothness:", self.smoothSpin)
        self.starCheck = qt.QCheckBox("Compact object (star-shape prior)")
        self.starCheck.toolTip = "No notches or holes open to the outside around the box centre (lesions, not muscle)"
        self.scriptedEffect.addOptionsWidget(self.starCheck)
        self.operationCombo = qt.QComboBox()
        for title, key in OPERATIONS:
            self.operationCombo.addItem(title, key)
        self.scriptedEffect.addLabeledOptionsWidget("Apply as:", self.operationCombo)
        row = qt.QHBoxLayout()
        self.applyButton, self.cancelButton = qt.QPushButton("Apply"), qt.QPushButton("Cancel")
        row.addWidget(self.applyButton)
        row.addWidget(self.cancelButton)
        self.scriptedEffect.addOptionsWidget(row)
        self.progressBar = qt.QProgressBar()
        self.progressBar.setRange(0, 100)
        self.scriptedEffect.addOptionsWidget(self.progressBar)
        self._connect(self.applyButton, "clicked()", self.onApply)
        self._connect(self.cancelButton, "clicked()", self.onCancel)
        for w, signal in ((self.depthSpin, "valueChanged(int)"), (self.iterSpin, "valueChanged(int)"),
                          (self.smoothSpin, "valueChanged(double)"), (self.operationCombo, "currentIndexChanged(int)"),
                          (self.fgCombo, "currentIndexChanged(int)"), (self.bgCombo, "currentIndexChanged(int)"),
                          (self.starCheck, "toggled(bool)")):
            self._connect(w, signal, self.updateMRMLFromGUI)

    def setMRMLDefaults(self):
        self.scriptedEffect.setParameterDefault(ITERATIONS, 5)
        self.scriptedEffect.setParameterDefault(SMOOTHNESS, 2.0)
        self.scriptedEffect.setParameterDefault(DEPTH_SLICES, 0)
        self.scriptedEffect.setParameterDefault(OPERATION, "Add")
        self.scriptedEffect.setParameterDefault(FG_SEGMENT, "")
        self.scriptedEffect.setParameterDefault(BG_SEGMENT, "")
        self.scriptedEffect.setParameterDefault(STAR, 0)

    def activate(self):
        from SlicerMedLabelLib.EffectRectangle import EffectRectangle

        self._rect = EffectRectangle(self.scriptedEffect, self.onRectangle)
        self.updateGUIFromMRML()

    def deactivate(self):
        self.onCancel()
        if self._rect is not None:
            self._rect.clear()

    def updateGUIFromMRML(self):
        segmentation = self.scriptedEffect.parameterSetNode().GetSegmentationNode()
        for combo, key in ((self.fgCombo, FG_SEGMENT), (self.bgCombo, BG_SEGMENT)):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("(none)", "")
            if segmentation is not None:
                seg = segmentation.GetSegmentation()
                for sid in seg.GetSegmentIDs():
                    combo.addItem(seg.GetSegment(sid).GetName(), sid)
            combo.setCurrentIndex(max(0, combo.findData(self.scriptedEffect.parameter(key))))
            combo.blockSignals(False)
        for spin, value in ((self.iterSpin, self.scriptedEffect.integerParameter(ITERATIONS)),
                            (self.depthSpin, self.scriptedEffect.integerParameter(DEPTH_SLICES)),
                            (self.smoothSpin, self.scriptedEffect.doubleParameter(SMOOTHNESS))):
            spin.blockSignals(True)
            spin.value = value
            spin.blockSignals(False)
        self.operationCombo.blockSignals(True)
        self.operationCombo.setCurrentIndex(max(0, self.operationCombo.findData(self.scriptedEffect.parameter(OPERATION))))
        self.operationCombo.blockSignals(False)
        self.starCheck.blockSignals(True)
        self.starCheck.checked = self.scriptedEffect.integerParameter(STAR) != 0
        self.starCheck.blockSignals(False)
        self._updateButtons()

    def updateMRMLFromGUI(self, *args):
        self.scriptedEffect.setParameter(ITERATIONS, self.iterSpin.value)
        self.scriptedEffect.setParameter(DEPTH_SLICES, self.depthSpin.value)
        self.scriptedEffect.setParameter(SMOOTHNESS, self.smoothSpin.value)
        self.scriptedEffect.setParameter(OPERATION, self.operationCombo.currentData)
        self.scriptedEffect.setParameter(FG_SEGMENT, self.fgCombo.currentData or "")
        self.scriptedEffect.setParameter(BG_SEGMENT, self.bgCombo.currentData or "")
        self.scriptedEffect.setParameter(STAR, 1 if self.starCheck.checked else 0)

    def processInteractionEvents(self, callerInteractor, eventId, viewWidget):
        if self._rect is None:
            return False
        return self._rect.process(callerInteractor, eventId, viewWidget, self.scriptedEffect.sourceVolumeImageData())

    # -- actions ------------------------------------------------------------------------------------
    def _progress(self, fraction, text):
        self.progressBar.value = int(100 * fraction)
        slicer.app.processEvents()

    def _volume(self):
        from SlicerMedLabelLib.EffectRectangle import sourceVolumeNode

        return sourceVolumeNode(self.scriptedEffect)

    def onRectangle(self, rasA, rasB, viewWidget):
        with slicer.util.tryWithErrorDisplay("GrabCut failed.", waitCursor=True):
            from SlicerMedLabelLib.dependencies import ensure_packages

            ensure_packages(["scipy", "skimage", "maxflow"])  # graph cut: installed on first use, after asking
            volume = self._volume()
            box = self.logic.boxFromRas(rasA, rasB, volume)
            depth = self.depthSpin.value
            axis = self.logic.thinAxis(box)
            if depth > 0 and axis is not None:
                margin = [0, 0, 0]
                margin[axis] = depth
                box = box.grown(margin, self.logic.sourceImage(volume).shape)
            self.box = box
            self.mask = self.logic.grabcutMask(
                volume, box, segmentationNode=self.scriptedEffect.parameterSetNode().GetSegmentationNode(),
                foregroundSegmentId=self.fgCombo.currentData or None,
                backgroundSegmentId=self.bgCombo.currentData or None,
                iterations=self.iterSpin.value, smoothness=self.smoothSpin.value, star_shape=self.starCheck.checked)
            self.previewNode = self.logic.showPreview(self.mask, volume, self.previewNode, name="GrabCut")
            self._updateButtons()

    def onApply(self):
        with slicer.util.tryWithErrorDisplay("Could not apply the GrabCut result.", waitCursor=True):
            if self.mask is None:
                raise ValueError("Drag a rectangle around the object first.")
            from SlicerMedLabelLib.EffectRectangle import applyToSelectedSegment

            if applyToSelectedSegment(self.scriptedEffect, self.logic, self.mask, self._volume(),
                                      self.operationCombo.currentData):
                self.onCancel()

    def onCancel(self):
        if self._logic is not None:
            self._logic.removePreview(self.previewNode)
        self.previewNode, self.mask, self.box = None, None, None
        if hasattr(self, "applyButton"):
            self._updateButtons()

    def _updateButtons(self):
        ready = self.mask is not None
        self.applyButton.enabled = self.cancelButton.enabled = ready
        self.applyButton.toolTip = "Write the preview into the selected segment" if ready else "Drag a rectangle first"
