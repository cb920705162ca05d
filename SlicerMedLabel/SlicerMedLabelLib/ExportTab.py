"""Export tab of the SlicerMedLabel module: scene cases (or a CSV manifest) → COCO-style data set.

Widgets only gather inputs and call :class:`SlicerMedLabelLib.export_logic.ExportLogic`; errors are
shown with ``slicer.util.tryWithErrorDisplay``.
"""

from __future__ import annotations

import ctk
import qt
import slicer

from SlicerMedLabelLib.export_logic import ExportLogic, SceneCase


class ExportTab:
    """Build the Export tab inside ``page`` (an empty QWidget without a layout)."""

    def __init__(self, page):
        self.page = page
        self.cases: list[SceneCase] = []
        self.qaTableNode = None
        layout = qt.QVBoxLayout(page)

        # -- cases --------------------------------------------------------------------------------
        caseBox = ctk.ctkCollapsibleButton()
        caseBox.text = "Cases"
        layout.addWidget(caseBox)
        form = qt.QFormLayout(caseBox)
        self.volumeSelector = slicer.qMRMLNodeComboBox()
        self.volumeSelector.nodeTypes = ["vtkMRMLScalarVolumeNode"]
        self.volumeSelector.noneEnabled = True
        self.volumeSelector.addEnabled = self.volumeSelector.removeEnabled = False
        self.volumeSelector.toolTip = ("Image of the case. Volumes loaded from DICOM with this module also get "
                                       "DICOM SEG masks and, if asked, de-identified DICOM copies.")
        self.volumeSelector.setMRMLScene(slicer.mrmlScene)
        form.addRow("Volume:", self.volumeSelector)
        self.segmentationSelector = slicer.qMRMLCheckableNodeComboBox()
        self.segmentationSelector.nodeTypes = ["vtkMRMLSegmentationNode"]
        self.segmentationSelector.toolTip = "Segmentations drawn on the volume (one per annotator); check all to export"
        self.segmentationSelector.setMRMLScene(slicer.mrmlScene)
        form.addRow("Segmentations:", self.segmentationSelector)
        self.patientEdit = qt.QLineEdit()
        self.patientEdit.placeholderText = "from DICOM PatientID, else the volume name"
        form.addRow("Patient id:", self.patientEdit)
        buttons = qt.QHBoxLayout()
        self.addButton = qt.QPushButton("Add case")
        self.removeButton = qt.QPushButton("Remove selected")
        buttons.addWidget(self.addButton)
        buttons.addWidget(self.removeButton)
        form.addRow(buttons)
        self.caseList = qt.QListWidget()
        self.caseList.toolTip = "Cases to export; when empty, the volume and segmentations selected above are exported"
        form.addRow(self.caseList)

        # -- options ------------------------------------------------------------------------------
        optBox = ctk.ctkCollapsibleButton()
        optBox.text = "Options"
        layout.addWidget(optBox)
        opt = qt.QFormLayout(optBox)
        self.outputEdit = ctk.ctkPathLineEdit()
        self.outputEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.outputEdit.toolTip = "Folder for dataset.json, images/, masks/, dicom/, splits.csv and qa.csv"
        opt.addRow("Output folder:", self.outputEdit)
        self.splitEdit = qt.QLineEdit("8:1:1")
        self.splitEdit.toolTip = "Patient-level train:val:test ratios"
        opt.addRow("Split:", self.splitEdit)
        self.seedSpin = qt.QSpinBox()
        self.seedSpin.maximum = 1000000
        opt.addRow("Seed:", self.seedSpin)
        self.stratifyCombo = qt.QComboBox()
        for text, key in (("None", ""), ("Number of annotators", "annotators"), ("Labels present", "labels")):
            self.stratifyCombo.addItem(text, key)
        opt.addRow("Stratify by:", self.stratifyCombo)
        self.windowCombo = qt.QComboBox()
        self.windowCombo.editable = True
        self.windowCombo.addItems(["auto", "soft_tissue", "lung", "mediastinum", "bone", "liver", "brain"])
        self.windowCombo.toolTip = "PNG window: a preset or 'centre,width' in HU (auto: CT soft tissue, PET percentiles)"
        opt.addRow("Window:", self.windowCombo)
        self.groupEdit = qt.QLineEdit()
        self.groupEdit.placeholderText = "e.g. nodule=malignant, cyst=benign (default: terminology category)"
        opt.addRow("Supercategories:", self.groupEdit)
        self.allSlicesCheck = qt.QCheckBox("Export every slice (default: labelled slices only)")
        opt.addRow(self.allSlicesCheck)
        self.dicomMasksCheck = qt.QCheckBox("DICOM SEG mask per category (DICOM sources)")
        self.dicomMasksCheck.checked = True
        opt.addRow(self.dicomMasksCheck)
        self.deidCheck = qt.QCheckBox("De-identify (pseudonyms, shifted dates, de-identified DICOM copies)")
        opt.addRow(self.deidCheck)
        self.saltEdit = qt.QLineEdit()
        self.saltEdit.echoMode = qt.QLineEdit.Password
        self.saltEdit.placeholderText = "random (pseudonyms cannot be re-linked)"
        self.saltEdit.toolTip = "Secret text: the same salt gives the same pseudonyms in later exports. Keep it private."
        opt.addRow("Salt:", self.saltEdit)
        self.forceCheck = qt.QCheckBox("Write over a previous export in this folder")
        opt.addRow(self.forceCheck)

        # -- run ----------------------------------------------------------------------------------
        self.exportButton = qt.QPushButton("Export data set")
        self.manifestButton = qt.QPushButton("Export files listed in a CSV manifest...")
        self.manifestButton.toolTip = "Columns image, segmentation, optional patient_id, annotator, names (1=liver;2=spine)"
        layout.addWidget(self.exportButton)
        layout.addWidget(self.manifestButton)
        self.progressBar = qt.QProgressBar()
        self.progressBar.hide()
        layout.addWidget(self.progressBar)
        self.resultText = qt.QPlainTextEdit()
        self.resultText.readOnly = True
        self.resultText.maximumHeight = 160
        layout.addWidget(self.resultText)
        layout.addStretch(1)

        self.logic = ExportLogic(progress=self.onProgress)
        self.addButton.connect("clicked(bool)", self.onAddCase)
        self.removeButton.connect("clicked(bool)", self.onRemoveCase)
        self.exportButton.connect("clicked(bool)", self.onExport)
        self.manifestButton.connect("clicked(bool)", self.onExportManifest)
        self.deidCheck.connect("toggled(bool)", self.onDeidToggled)
        self.onDeidToggled(False)

    def onProgress(self, fraction, text):
        self.progressBar.show()
        self.progressBar.value = int(100 * fraction)
        self.progressBar.format = f"{text} (%p%)"
        slicer.app.processEvents()

    def onDeidToggled(self, checked):
        self.saltEdit.enabled = bool(checked)

    def _currentCase(self):
        volume = self.volumeSelector.currentNode()
        segs = list(self.segmentationSelector.checkedNodes())
        return SceneCase(volume, segs, self.patientEdit.text.strip() or None)

    def onAddCase(self):
        case = self._currentCase()
        if case.volumeNode is None or not case.segmentationNodes:
            slicer.util.warningDisplay("Select a volume and check at least one segmentation.")
            return
        self.cases.append(case)
        names = ", ".join(n.GetName() for n in case.segmentationNodes)
        self.caseList.addItem(f"{case.volumeNode.GetName()} ← {names}" + (f" [{case.patientId}]" if case.patientId else ""))

    def onRemoveCase(self):
        row = self.caseList.currentRow
        if 0 <= row < len(self.cases):
            self.caseList.takeItem(row)
            del self.cases[row]

    def _options(self):
        from medlabel.commands.export import parse_groups

        return {"split": self.splitEdit.text.strip() or "8:1:1", "seed": self.seedSpin.value,
                "supercategories": parse_groups(self.groupEdit.text),
                "stratify": self.stratifyCombo.currentData or None, "deidentify": self.deidCheck.checked,
                "salt": self.saltEdit.text or None, "window": self.windowCombo.currentText.strip() or "auto",
                "allSlices": self.allSlicesCheck.checked, "dicomMasks": self.dicomMasksCheck.checked,
                "force": self.forceCheck.checked, "qaTableNode": self.qaTableNode}

    def _show(self, result, table):
        self.qaTableNode = table
        self.resultText.setPlainText(self.logic.summary(result))
        slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
        slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(table.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()

    def onExport(self):
        cases = self.cases or [self._currentCase()]
        with slicer.util.tryWithErrorDisplay("Failed to export the data set.", waitCursor=True):
            result, table = self.logic.exportCases(cases, self.outputEdit.currentPath, **self._options())
            self._show(result, table)
        self.progressBar.hide()

    def onExportManifest(self):
        path = qt.QFileDialog.getOpenFileName(None, "Manifest of image/segmentation files", "", "CSV (*.csv)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay("Failed to export the data set.", waitCursor=True):
            result, table = self.logic.exportManifest(path, self.outputEdit.currentPath, **self._options())
            self._show(result, table)
        self.progressBar.hide()
