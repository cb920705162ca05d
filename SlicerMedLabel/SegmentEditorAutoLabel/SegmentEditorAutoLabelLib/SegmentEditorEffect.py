"""Auto-label effect: a registry model proposes tissue segments; preview, choose segments, apply (one undo step).

The work is in ``SlicerMedLabelLib.models_logic.ModelsLogic`` (tested under slicer-core); this file only
gathers widget values, shows the preview and calls the logic. torch is imported lazily by the engine.
"""

import os

import qt
import slicer
from SegmentEditorEffects import AbstractScriptedSegmentEditorEffect

MODEL, SCOPE, SLAB_HALF_WIDTH = "Model", "Scope", "SlabHalfWidthSlices"
SCOPES = [("Current slice", "slice"), ("Slab around current slice", "slab"), ("Whole volume", "volume")]


class SegmentEditorEffect(AbstractScriptedSegmentEditorEffect):
    """Propose muscle / SAT / VAT / IMAT with a model from the registry, then apply the checked segments."""

    def __init__(self, scriptedEffect):
        scriptedEffect.name = "Auto-label"
        scriptedEffect.perSegment = False
        scriptedEffect.requireSegments = False
        AbstractScriptedSegmentEditorEffect.__init__(self, scriptedEffect)
        self.proposal = None
        self.previewNode = None
        self._logic = None
        self._connections = []

    def clone(self):
        import qSlicerSegmentationsEditorEffectsPythonQt as effects

        clonedEffect = effects.qSlicerSegmentEditorScriptedEffect(None)
        clonedEffect.setPythonSource(__file__.replace("\\", "/"))
        return clonedEffect

    def icon(self):
        path = os.path.join(os.path.dirname(__file__), "../Resources/Icons/SegmentEditorAutoLabel.png")
        return qt.QIcon(path) if os.path.exists(path) else qt.QIcon()

    def helpText(self):
        return ("<html>Propose body-composition tissue segments with a model (rule-based or trained network).<p>"
                "<b>Preview</b> shows the proposal; untick segments you do not want; <b>Apply</b> writes the ticked "
                "segments on the proposed slices into this segmentation (one undo step, tagged status=proposed for "
                "review); <b>Cancel</b> discards it. Trained networks need the PyTorch extension.</html>")

    @property
    def logic(self):
        if self._logic is None:
            from SlicerMedLabelLib.models_logic import ModelsLogic

            self._logic = ModelsLogic(progress=self._progress)
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
        self.modelCombo = qt.QComboBox()
        self.modelCombo.toolTip = "Model from the registry (Models tab of SlicerMedLabel lists the cards)"
        self.scriptedEffect.addLabeledOptionsWidget("Model:", self.modelCombo)
        self.scopeCombo = qt.QComboBox()
        for title, key in SCOPES:
            self.scopeCombo.addItem(title, key)
        self.scriptedEffect.addLabeledOptionsWidget("Scope:", self.scopeCombo)
        self.slabSpin = qt.QSpinBox()
        self.slabSpin.minimum, self.slabSpin.maximum = 0, 50
        self.slabSpin.suffix = " slices each side"
        self.scriptedEffect.addLabeledOptionsWidget("Slab:", self.slabSpin)
        self.previewButton = qt.QPushButton("Preview")
        self.previewButton.toolTip = "Run the model on the chosen slices of the source volume (current slice = red view)"
        self.scriptedEffect.addOptionsWidget(self.previewButton)
        self.segmentList = qt.QListWidget()
        self.segmentList.toolTip = "Proposed segments: untick to leave one out (and hide its preview)"
        self.segmentList.maximumHeight = 110
        self.scriptedEffect.addOptionsWidget(self.segmentList)
        row = qt.QHBoxLayout()
        self.applyButton, self.cancelButton = qt.QPushButton("Apply"), qt.QPushButton("Cancel")
        row.addWidget(self.applyButton)
        row.addWidget(self.cancelButton)
        self.scriptedEffect.addOptionsWidget(row)
        self.progressBar = qt.QProgressBar()
        self.progressBar.setRange(0, 100)
        self.scriptedEffect.addOptionsWidget(self.progressBar)
        self._connect(self.previewButton, "clicked()", self.onPreview)
        self._connect(self.applyButton, "clicked()", self.onApply)
        self._connect(self.cancelButton, "clicked()", self.onCancel)
        self._connect(self.segmentList, "itemChanged(QListWidgetItem*)", self.onSegmentToggled)
        self._connect(self.modelCombo, "currentIndexChanged(int)", self.updateMRMLFromGUI)
        self._connect(self.scopeCombo, "currentIndexChanged(int)", self.updateMRMLFromGUI)
        self._connect(self.slabSpin, "valueChanged(int)", self.updateMRMLFromGUI)

    def setMRMLDefaults(self):
        self.scriptedEffect.setParameterDefault(MODEL, "rule-based-bodycomp")
        self.scriptedEffect.setParameterDefault(SCOPE, "slice")
        self.scriptedEffect.setParameterDefault(SLAB_HALF_WIDTH, 2)

    def activate(self):
        with slicer.util.tryWithErrorDisplay("Could not list the auto-label models."):
            from SlicerMedLabelLib.dependencies import ensure_packages

            ensure_packages()  # the registry and predict need pandas, scipy ...: installed on first use, after asking
            names = self.logic.modelNames()
            self.modelCombo.blockSignals(True)
            self.modelCombo.clear()
            for name in names:
                self.modelCombo.addItem(name, name)
            self.modelCombo.blockSignals(False)
        self.updateGUIFromMRML()
        self._updateButtons()

    def deactivate(self):
        self.onCancel()

    def updateGUIFromMRML(self):
        for widget, value in ((self.modelCombo, self.scriptedEffect.parameter(MODEL)),
                              (self.scopeCombo, self.scriptedEffect.parameter(SCOPE))):
            widget.blockSignals(True)
            index = widget.findData(value)
            if index >= 0:
                widget.setCurrentIndex(index)
            widget.blockSignals(False)
        self.slabSpin.blockSignals(True)
        self.slabSpin.value = self.scriptedEffect.integerParameter(SLAB_HALF_WIDTH)
        self.slabSpin.blockSignals(False)
        self.slabSpin.enabled = self.scopeCombo.currentData == "slab"

    def updateMRMLFromGUI(self, *args):
        if self.modelCombo.currentData:
            self.scriptedEffect.setParameter(MODEL, self.modelCombo.currentData)
        self.scriptedEffect.setParameter(SCOPE, self.scopeCombo.currentData)
        self.scriptedEffect.setParameter(SLAB_HALF_WIDTH, self.slabSpin.value)
        self.slabSpin.enabled = self.scopeCombo.currentData == "slab"

    # -- actions ------------------------------------------------------------------------------------
    def _progress(self, fraction, text):
        self.progressBar.value = int(100 * fraction)
        slicer.app.processEvents()

    def _sourceVolume(self):
        p = self.scriptedEffect.parameterSetNode()
        return p.GetSourceVolumeNode() if hasattr(p, "GetSourceVolumeNode") else p.GetMasterVolumeNode()

    def _currentSliceIndex(self, volume):
        sliceNode = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceNode()
        m = sliceNode.GetSliceToRAS()
        return self.logic.sliceIndexAtRas(volume, [m.GetElement(0, 3), m.GetElement(1, 3), m.GetElement(2, 3)])

    def onPreview(self):
        with slicer.util.tryWithErrorDisplay("Auto-label failed.", waitCursor=True):
            from SlicerMedLabelLib.dependencies import ensure_packages

            ensure_packages()
            volume = self._sourceVolume()
            if volume is None:
                raise ValueError("Select a source volume (CT) in the Segment Editor first.")
            self.onCancel()
            scope = self.scopeCombo.currentData
            index = None if scope == "volume" else self._currentSliceIndex(volume)
            self.proposal = self.logic.propose(volume, self.modelCombo.currentData, scope=scope, sliceIndex=index,
                                               slabHalfWidth=self.slabSpin.value)
            from medlabel.slicer_bridge import labelset_to_segmentation_node

            self.previewNode = labelset_to_segmentation_node(self.proposal, None, volume, name="Auto-label preview")
            self.previewNode.CreateDefaultDisplayNodes()
            self.previewNode.GetDisplayNode().SetOpacity2DFill(0.35)
            self.segmentList.blockSignals(True)
            self.segmentList.clear()
            for seg in self.proposal:
                item = qt.QListWidgetItem(f"{seg.name}  ({seg.voxel_count} voxels)")
                item.setData(qt.Qt.UserRole, seg.name)
                item.setFlags(item.flags() | qt.Qt.ItemIsUserCheckable)
                item.setCheckState(qt.Qt.Checked if seg.voxel_count else qt.Qt.Unchecked)
                self.segmentList.addItem(item)
            self.segmentList.blockSignals(False)
            self._updateButtons()

    def _checkedNames(self):
        return [self.segmentList.item(i).data(qt.Qt.UserRole) for i in range(self.segmentList.count)
                if self.segmentList.item(i).checkState() == qt.Qt.Checked]

    def onSegmentToggled(self, item):
        if self.previewNode is None:
            return
        name = item.data(qt.Qt.UserRole)
        segId = self.previewNode.GetSegmentation().GetSegmentIdBySegmentName(name)
        self.previewNode.GetDisplayNode().SetSegmentVisibility(segId, item.checkState() == qt.Qt.Checked)

    def onApply(self):
        with slicer.util.tryWithErrorDisplay("Could not apply the auto-labels.", waitCursor=True):
            from SlicerMedLabelLib.dependencies import ensure_packages

            ensure_packages()
            if self.proposal is None:
                raise ValueError("Click Preview first.")
            segmentationNode = self.scriptedEffect.parameterSetNode().GetSegmentationNode()
            self.scriptedEffect.saveStateForUndo()  # one undo step for all segments
            self.logic.applyProposal(segmentationNode, self.proposal, self._sourceVolume(), names=self._checkedNames())
            self.onCancel()

    def onCancel(self):
        if self.previewNode is not None and slicer.mrmlScene.IsNodePresent(self.previewNode):
            slicer.mrmlScene.RemoveNode(self.previewNode)
        self.previewNode = None
        self.proposal = None
        if hasattr(self, "segmentList"):
            self.segmentList.clear()
            self._updateButtons()

    def _updateButtons(self):
        ready = self.proposal is not None
        self.applyButton.enabled = self.cancelButton.enabled = ready
        self.applyButton.toolTip = "Write the ticked segments" if ready else "Click Preview first"
