"""Body composition tab of the SlicerMedLabel module: CT volume + patient data → L3 slice → Compute
(tissue segmentation + results tables) → edit with any Segment Editor effect → Recompute → Export.

Widgets only gather inputs and call :class:`SlicerMedLabelLib.bodycomp_logic.BodyCompositionLogic`;
errors are shown with ``slicer.util.tryWithErrorDisplay``.
"""

from __future__ import annotations

import ctk
import qt
import slicer

from SlicerMedLabelLib.bodycomp_logic import PACKAGES, BodyCompositionLogic, referenceChoices
from SlicerMedLabelLib.dependencies import ensure_packages


class BodyCompositionTab:
    """Build the Body composition tab inside ``page`` (an empty QWidget without a layout)."""

    def __init__(self, page):
        self.page = page
        self.segmentationNode = self.metricsTable = self.resultsTable = None
        self.sliceMethod, self.sliceConfidence, self.sliceNote = "index", None, ""
        layout = qt.QVBoxLayout(page)

        inBox = ctk.ctkCollapsibleButton()
        inBox.text = "CT and patient"
        layout.addWidget(inBox)
        form = qt.QFormLayout(inBox)
        self.pathEdit = ctk.ctkPathLineEdit()
        self.pathEdit.toolTip = "Optional: a DICOM folder or NIfTI/NRRD file to load with its patient tags"
        loadButton = qt.QPushButton("Load")
        row = qt.QHBoxLayout()
        row.addWidget(self.pathEdit)
        row.addWidget(loadButton)
        form.addRow("Load study:", row)
        self.volumeSelector = slicer.qMRMLNodeComboBox()
        self.volumeSelector.nodeTypes = ["vtkMRMLScalarVolumeNode"]
        self.volumeSelector.noneEnabled = True
        self.volumeSelector.addEnabled = self.volumeSelector.removeEnabled = False
        self.volumeSelector.toolTip = "CT volume in Hounsfield units"
        self.volumeSelector.setMRMLScene(slicer.mrmlScene)
        form.addRow("CT volume:", self.volumeSelector)
        self.sexCombo = qt.QComboBox()
        self.sexCombo.addItems(["unknown", "M", "F"])
        form.addRow("Sex:", self.sexCombo)
        self.heightSpin = self._spin(0, 2.5, " m", "Height in metres; 0 = unknown (prefilled from DICOM PatientSize)", 2)
        form.addRow("Height:", self.heightSpin)
        self.weightSpin = self._spin(0, 350, " kg", "Weight in kg; 0 = unknown (prefilled from DICOM PatientWeight)", 1)
        form.addRow("Weight:", self.weightSpin)
        self.patientNote = qt.QLabel("")
        self.patientNote.wordWrap = True
        form.addRow(self.patientNote)

        sliceBox = ctk.ctkCollapsibleButton()
        sliceBox.text = "L3 slice"
        layout.addWidget(sliceBox)
        form2 = qt.QFormLayout(sliceBox)
        self.sliceSpin = qt.QSpinBox()
        self.sliceSpin.maximum = 10000
        self.sliceSpin.toolTip = "Array index k of the slice through the middle of L3"
        useRed = qt.QPushButton("Use Red view slice")
        useRed.toolTip = "Scroll the Red (axial) view to the middle of L3, then press this"
        suggest = qt.QPushButton("Suggest L3")
        suggest.toolTip = "Automatic estimate (with confidence); check it in the slice view before Compute"
        row2 = qt.QHBoxLayout()
        for w in (self.sliceSpin, useRed, suggest):
            row2.addWidget(w)
        form2.addRow("Slice:", row2)
        self.slabSpin = qt.QSpinBox()
        self.slabSpin.minimum, self.slabSpin.maximum, self.slabSpin.singleStep = 1, 9, 2
        self.slabSpin.toolTip = "Odd number of slices around the chosen one, averaged"
        form2.addRow("Slab (slices):", self.slabSpin)
        self.sliceNoteLabel = qt.QLabel("")
        self.sliceNoteLabel.wordWrap = True
        form2.addRow(self.sliceNoteLabel)
        self.presetCombo = qt.QComboBox()
        self.presetCombo.addItem("Alberta (VAT -150..-50 HU)", "alberta")
        self.presetCombo.addItem("All fat -190..-30 HU", "fat_190_30")
        form2.addRow("HU windows:", self.presetCombo)
        self.referenceCombo = qt.QComboBox()
        for name, population in referenceChoices():
            self.referenceCombo.addItem(f"{name}: {population}", name)
        form2.addRow("T-score reference:", self.referenceCombo)

        actBox = ctk.ctkCollapsibleButton()
        actBox.text = "Compute, edit, export"
        layout.addWidget(actBox)
        form3 = qt.QFormLayout(actBox)
        self.computeButton = qt.QPushButton("Compute")
        self.computeButton.toolTip = "Label muscle, SAT, VAT, IMAT on the slice(s) and fill the results tables"
        self.recomputeButton = qt.QPushButton("Recompute after edits")
        self.recomputeButton.toolTip = "Edit the segments with any Segment Editor effect, then press this"
        form3.addRow(self.computeButton)
        form3.addRow(self.recomputeButton)
        self.outputEdit = ctk.ctkPathLineEdit()
        self.outputEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.forceCheck = qt.QCheckBox("overwrite existing files")
        form3.addRow("Output folder:", self.outputEdit)
        form3.addRow(self.forceCheck)
        self.exportButton = qt.QPushButton("Export CSV, XLSX, PNG, .seg.nrrd")
        form3.addRow(self.exportButton)
        self.summary = qt.QLabel("")
        self.summary.wordWrap = True
        form3.addRow(self.summary)
        self.progressBar = qt.QProgressBar()
        self.progressBar.hide()
        layout.addWidget(self.progressBar)
        layout.addStretch(1)

        self.logic = BodyCompositionLogic(progress=self.onProgress)
        loadButton.connect("clicked(bool)", self.onLoad)
        self.volumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onVolumeChanged)
        useRed.connect("clicked(bool)", self.onUseRed)
        suggest.connect("clicked(bool)", self.onSuggest)
        self.sliceSpin.connect("valueChanged(int)", self.onSliceEdited)
        self.computeButton.connect("clicked(bool)", self.onCompute)
        self.recomputeButton.connect("clicked(bool)", self.onRecompute)
        self.exportButton.connect("clicked(bool)", self.onExport)

    @staticmethod
    def _spin(lo, hi, suffix, tip, decimals):
        s = qt.QDoubleSpinBox()
        s.minimum, s.maximum, s.decimals, s.suffix, s.toolTip = lo, hi, decimals, suffix, tip
        return s

    def _patient(self):
        sex = self.sexCombo.currentText if self.sexCombo.currentIndex > 0 else None
        return sex, self.heightSpin.value or None, self.weightSpin.value or None

    def onProgress(self, fraction, text):
        self.progressBar.show()
        self.progressBar.value = int(100 * fraction)
        self.progressBar.format = f"{text} (%p%)"
        slicer.app.processEvents()

    def onLoad(self):
        with slicer.util.tryWithErrorDisplay("Failed to load the study.", waitCursor=True):
            ensure_packages(PACKAGES)  # installed on first use, after asking
            node = self.logic.loadStudy(self.pathEdit.currentPath)
            self.volumeSelector.setCurrentNode(node)
            slicer.util.setSliceViewerLayers(background=node, fit=True)

    def onVolumeChanged(self, node):
        if node is None:
            return
        with slicer.util.tryWithErrorDisplay("Failed to read the patient data of the volume."):
            ensure_packages(PACKAGES)
            self._prefill(node)

    def _prefill(self, node):
        info = self.logic.prefill(node)
        self.sexCombo.currentIndex = {"M": 1, "F": 2}.get(info["sex"], 0)
        self.heightSpin.value, self.weightSpin.value = info["heightM"], info["weightKg"]
        src = info["sources"]
        self.patientNote.text = (f"sex: {src['sex']}, height: {src['height']}, weight: {src['weight']}"
                                 + ("; " + "; ".join(info["notes"]) if info["notes"] else ""))
        self.sliceSpin.maximum = max(0, node.GetImageData().GetDimensions()[2] - 1) if node.GetImageData() else 0

    def _setSlice(self, k, method, confidence=None, note=""):
        self.sliceSpin.blockSignals(True)
        self.sliceSpin.value = k
        self.sliceSpin.blockSignals(False)
        self.sliceMethod, self.sliceConfidence, self.sliceNote = method, confidence, note
        conf = f" (confidence {confidence:.2f})" if confidence is not None else ""
        self.sliceNoteLabel.text = f"slice {k}: {method}{conf}. {note}"

    def onSliceEdited(self, value):
        self._setSlice(value, "index")

    def onUseRed(self):
        with slicer.util.tryWithErrorDisplay("Failed to read the Red slice position."):
            sliceNode = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceNode()
            ras = [sliceNode.GetSliceToRAS().GetElement(i, 3) for i in range(3)]
            self._setSlice(self.logic.sliceIndexAtRas(self.volumeSelector.currentNode(), ras), "index",
                           note="chosen in the Red slice view")

    def onSuggest(self):
        with slicer.util.tryWithErrorDisplay("Automatic L3 suggestion failed; choose the slice by hand.",
                                             waitCursor=True):
            ensure_packages(PACKAGES)
            node = self.volumeSelector.currentNode()
            s = self.logic.suggestL3(node)
            self._setSlice(s.index, s.method, s.confidence, s.note)
            slicer.util.setSliceViewerLayers(background=node)
            red = slicer.app.layoutManager().sliceWidget("Red").sliceLogic()
            red.SetSliceOffset(self.logic.sliceRasZ(node, s.index))  # show it: the user must check it

    def onCompute(self):
        sex, height, weight = self._patient()
        with slicer.util.tryWithErrorDisplay("Failed to compute body composition.", waitCursor=True):
            ensure_packages(PACKAGES)
            self.segmentationNode, self.metricsTable, self.resultsTable = self.logic.compute(
                self.volumeSelector.currentNode(), self.sliceSpin.value, slabSlices=self.slabSpin.value,
                sex=sex, heightM=height, weightKg=weight, preset=self.presetCombo.currentData,
                reference=self.referenceCombo.currentData, method=self.sliceMethod,
                confidence=self.sliceConfidence, note=self.sliceNote, segmentationNode=self.segmentationNode,
                metricsTableNode=self.metricsTable, resultsTableNode=self.resultsTable)
            self._show()
        self.progressBar.hide()

    def onRecompute(self):
        sex, height, weight = self._patient()
        with slicer.util.tryWithErrorDisplay("Failed to recompute.", waitCursor=True):
            ensure_packages(PACKAGES)
            self.metricsTable, self.resultsTable = self.logic.recompute(
                self.volumeSelector.currentNode(), self.segmentationNode, sex=sex, heightM=height, weightKg=weight,
                metricsTableNode=self.metricsTable, resultsTableNode=self.resultsTable)
            self._show()

    def onExport(self):
        with slicer.util.tryWithErrorDisplay("Failed to export.", waitCursor=True):
            ensure_packages(PACKAGES)
            paths = self.logic.export(self.volumeSelector.currentNode(), self.segmentationNode,
                                      self.outputEdit.currentPath, force=self.forceCheck.checked)
            slicer.util.showStatusMessage(f"Wrote {len(paths)} files to {self.outputEdit.currentPath}", 5000)

    def _show(self):
        r = self.logic.lastResult.row
        self.summary.text = (f"Muscle {r['muscle_area_cm2']:.1f} cm² ({r['muscle_mean_hu']:.0f} HU), "
                             f"IMAT {r['imat_area_cm2']:.1f}, VAT {r['vat_area_cm2']:.1f}, SAT {r['sat_area_cm2']:.1f} cm²; "
                             f"SMI {r['smi_cm2_m2']:.1f} cm²/m², T = {r['t_smi_cm2_m2']:.2f} "
                             f"({r['band_smi_cm2_m2'] or 'n/a'})")
        slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
        slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(self.resultsTable.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()
