"""Back projection effect: the histogram of a dragged rectangle (or of the selected segment) finds all
similar voxels in the slice, a slab or the volume; preview, then Apply.

All work is in ``SlicerMedLabelLib.segment_effect_logic`` and ``medlabel.segment.back_project``; this
file gathers widget values, draws the rectangle and shows the preview.
"""

import os

import qt
import slicer
from SegmentEditorEffects import AbstractScriptedSegmentEditorEffect

SCOPE, SLAB_SLICES, BINS, THRESHOLD = "Scope", "SlabSlices", "Bins", "Threshold"
SMOOTHING_MM, CONNECTED, MIN_ISLAND, OPERATION = "SmoothingMm", "ConnectedToRoi", "MinimumIslandVoxels", "Operation"
SCOPES = [("Drawn slice", "slice"), ("Slab around it", "slab"), ("Whole volume", "volume")]
OPERATIONS = [("Add to the segment", "Add"), ("Set (replace the whole segment, all slices)", "Set"),
              ("Remove from the segment", "Remove")]


class SegmentEditorEffect(AbstractScriptedSegmentEditorEffect):
    """ROI histogram -> likelihood -> threshold -> preview -> Apply to the selected segment (one undo step)."""

    def __init__(self, scriptedEffect):
        scriptedEffect.name = "Back projection"
        scriptedEffect.perSegment = True
        AbstractScriptedSegmentEditorEffect.__init__(self, scriptedEffect)
        self.roi = None
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
        path = os.path.join(os.path.dirname(__file__), "../Resources/Icons/SegmentEditorBackProjection.png")
        return qt.QIcon(path) if os.path.exists(path) else qt.QIcon()

    def helpText(self):
        return ("<html>Find all voxels that look like a sample of tissue.<p><b>Left-drag</b> a rectangle over the "
                "tissue (or click <i>Use selected segment</i>): the intensity histogram of that region gives every "
                "voxel of the scope a likelihood; voxels above the threshold are previewed in yellow. Change the "
                "options to update the preview; <b>Apply</b> writes it into the selected segment (Add by "
                "default, or Set / Remove; masking settings respected, one undo step).</html>")

    @property
    def logic(self):
        if self._logic is None:
            from SlicerMedLabelLib.segment_effect_logic import SegmentEffectLogic

            self._logic = SegmentEffectLogic(progress=self._progress)
        return self._logic

    def _spin(self, label, minimum, maximum, step, tooltip, decimals=None, suffix=""):
        spin = qt.QDoubleSpinBox() if decimals is not None else qt.QSpinBox()
        if decimals is not None:
            spin.decimals = decimals
        spin.minimum, spin.maximum, spin.singleStep, spin.suffix = minimum, maximum, step, suffix
        spin.toolTip = tooltip
        self.scriptedEffect.addLabeledOptionsWidget(label, spin)
        return spin

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
        self.scopeCombo = qt.QComboBox()
        for title, key in SCOPES:
            self.scopeCombo.addItem(title, key)
        self.scriptedEffect.addLabeledOptionsWidget("Search in:", self.scopeCombo)
        self.slabSpin = self._spin("Slab:", 0, 500, 1, "Slices on each side of the drawn slice", suffix=" slices each side")
        self.binsSpin = self._spin("Bins:", 2, 1024, 8, "Histogram bins over the ROI's intensity range")
        self.thresholdSpin = self._spin("Threshold:", 0.0, 1.0, 0.02, "Keep voxels whose bin is at least this "
                                        "fraction of the ROI's most frequent bin", decimals=3)
        self.smoothingSpin = self._spin("Smoothing:", 0.0, 20.0, 0.5, "Gaussian sigma applied to the likelihood",
                                        decimals=1, suffix=" mm")
        self.islandSpin = self._spin("Minimum island:", 0, 100000, 10, "Remove regions smaller than this",
                                     suffix=" voxels")
        self.connectedCheck = qt.QCheckBox("Keep only regions touching the ROI")
        self.scriptedEffect.addOptionsWidget(self.connectedCheck)
        self.segmentRoiButton = qt.QPushButton("Use selected segment as ROI")
        self.segmentRoiButton.toolTip = "Take the histogram from the voxels of the selected segment instead of a rectangle"
        self.scriptedEffect.addOptionsWidget(self.segmentRoiButton)
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
        self._connect(self.segmentRoiButton, "clicked()", self.onSegmentRoi)
        for w, signal in ((self.scopeCombo, "currentIndexChanged(int)"), (self.slabSpin, "valueChanged(int)"),
                          (self.binsSpin, "valueChanged(int)"), (self.thresholdSpin, "valueChanged(double)"),
                          (self.smoothingSpin, "valueChanged(double)"), (self.islandSpin, "valueChanged(int)"),
                          (self.connectedCheck, "toggled(bool)"), (self.operationCombo, "currentIndexChanged(int)")):
            self._connect(w, signal, self.updateMRMLFromGUI)

    def setMRMLDefaults(self):
        for key, value in ((SCOPE, "slice"), (SLAB_SLICES, 5), (BINS, 64), (THRESHOLD, 0.1), (SMOOTHING_MM, 0.0),
                           (CONNECTED, 0), (MIN_ISLAND, 0), (OPERATION, "Add")):
            self.scriptedEffect.setParameterDefault(key, value)

    def activate(self):
        from SlicerMedLabelLib.EffectRectangle import EffectRectangle

        self._rect = EffectRectangle(self.scriptedEffect, self.onRectangle)
        self.updateGUIFromMRML()

    def deactivate(self):
        self.onCancel()
        if self._rect is not None:
            self._rect.clear()

    def updateGUIFromMRML(self):
        p = self.scriptedEffect
        widgets = [(self.slabSpin, p.integerParameter(SLAB_SLICES)), (self.binsSpin, p.integerParameter(BINS)),
                   (self.thresholdSpin, p.doubleParameter(THRESHOLD)), (self.smoothingSpin, p.doubleParameter(SMOOTHING_MM)),
                   (self.islandSpin, p.integerParameter(MIN_ISLAND))]
        for w, value in widgets:
            w.blockSignals(True)
            w.value = value
            w.blockSignals(False)
        for combo, key in ((self.scopeCombo, SCOPE), (self.operationCombo, OPERATION)):
            combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findData(p.parameter(key))))
            combo.blockSignals(False)
        self.connectedCheck.blockSignals(True)
        self.connectedCheck.checked = p.integerParameter(CONNECTED) != 0
        self.connectedCheck.blockSignals(False)
        self.slabSpin.enabled = self.scopeCombo.currentData == "slab"
        self._updateButtons()

    def updateMRMLFromGUI(self, *args):
        p = self.scriptedEffect
        p.setParameter(SCOPE, self.scopeCombo.currentData)
        p.setParameter(SLAB_SLICES, self.slabSpin.value)
        p.setParameter(BINS, self.binsSpin.value)
        p.setParameter(THRESHOLD, self.thresholdSpin.value)
        p.setParameter(SMOOTHING_MM, self.smoothingSpin.value)
        p.setParameter(MIN_ISLAND, self.islandSpin.value)
        p.setParameter(CONNECTED, 1 if self.connectedCheck.checked else 0)
        p.setParameter(OPERATION, self.operationCombo.currentData)
        self.slabSpin.enabled = self.scopeCombo.currentData == "slab"
        if self.roi is not None:
            self.updatePreview()

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

    @staticmethod
    def _ensurePackages():
        from SlicerMedLabelLib.dependencies import ensure_packages

        ensure_packages(["scipy"])  # installed on first use, after asking

    def onRectangle(self, rasA, rasB, viewWidget):
        with slicer.util.tryWithErrorDisplay("Back projection failed.", waitCursor=True):
            self._ensurePackages()
            self.roi = self.logic.boxFromRas(rasA, rasB, self._volume())
            self.updatePreview()

    def onSegmentRoi(self):
        with slicer.util.tryWithErrorDisplay("Back projection failed.", waitCursor=True):
            self._ensurePackages()
            p = self.scriptedEffect.parameterSetNode()
            self.roi = self.logic.segmentMask(p.GetSegmentationNode(), p.GetSelectedSegmentID(), self._volume())
            if self.scopeCombo.currentData != "volume":
                self.scopeCombo.setCurrentIndex(self.scopeCombo.findData("volume"))  # a segment has no single slice
            self.updatePreview()

    def updatePreview(self):
        with slicer.util.tryWithErrorDisplay("Back projection failed.", waitCursor=True):
            self._ensurePackages()
            res = self.logic.backProjectionForEffect(
                self._volume(), self.roi, scope=self.scopeCombo.currentData, slabSlices=self.slabSpin.value,
                bins=self.binsSpin.value, threshold=self.thresholdSpin.value, smoothing_mm=self.smoothingSpin.value,
                connected_to_roi=self.connectedCheck.checked, min_island_vox=self.islandSpin.value)
            self.mask = res.mask
            self.previewNode = self.logic.showPreview(self.mask, self._volume(), self.previewNode, name="Back projection")
            self._updateButtons()

    def onApply(self):
        with slicer.util.tryWithErrorDisplay("Could not apply the back projection.", waitCursor=True):
            if self.mask is None:
                raise ValueError("Drag a rectangle over the tissue first.")
            from SlicerMedLabelLib.EffectRectangle import applyToSelectedSegment

            if applyToSelectedSegment(self.scriptedEffect, self.logic, self.mask, self._volume(),
                                      self.operationCombo.currentData):
                self.onCancel()

    def onCancel(self):
        if self._logic is not None:
            self._logic.removePreview(self.previewNode)
        self.previewNode, self.mask, self.roi = None, None, None
        if hasattr(self, "applyButton"):
            self._updateButtons()

    def _updateButtons(self):
        ready = self.mask is not None
        self.applyButton.enabled = self.cancelButton.enabled = ready
        self.applyButton.toolTip = "Write the preview into the selected segment" if ready else "Drag a rectangle first"
