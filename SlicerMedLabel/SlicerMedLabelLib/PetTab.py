"""PET tab of the SlicerMedLabel module: load a PET series as SUV, measure segments, export the table.

Widgets only gather inputs and call :class:`SlicerMedLabelLib.pet_logic.PetLogic`; errors are shown
with ``slicer.util.tryWithErrorDisplay``.
"""

from __future__ import annotations

import ctk
import qt
import slicer

from SlicerMedLabelLib.dependencies import ensure_packages
from SlicerMedLabelLib.pet_logic import PetLogic


class PetTab:
    """Build the PET tab inside ``page`` (an empty QWidget without a layout)."""

    def __init__(self, page):
        self.page = page
        self.tableNode = None
        layout = qt.QVBoxLayout(page)

        # -- load ---------------------------------------------------------------------------------
        loadBox = ctk.ctkCollapsibleButton()
        loadBox.text = "Load PET as SUV"
        layout.addWidget(loadBox)
        form = qt.QFormLayout(loadBox)
        self.folderEdit = ctk.ctkPathLineEdit()
        self.folderEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.folderEdit.toolTip = "Folder with the PET DICOM series (Units BQML, CNTS with Philips tags, or GML)"
        form.addRow("PET DICOM folder:", self.folderEdit)
        self.suvTypeCombo = qt.QComboBox()
        for text, key in (("Body weight (SUVbw)", "bw"), ("Lean body mass, Janmahasatian (SUVlbm)", "lbm:janmahasatian"),
                          ("Lean body mass, James (SUVlbm)", "lbm:james"), ("Body surface area (SUVbsa)", "bsa")):
            self.suvTypeCombo.addItem(text, key)
        form.addRow("SUV:", self.suvTypeCombo)
        self.weightSpin = self._spin(0, 400, " kg", "Body weight; 0 = use PatientWeight from DICOM")
        form.addRow("Weight:", self.weightSpin)
        self.heightSpin = self._spin(0, 2.5, " m", "Height (for SUVlbm/SUVbsa); 0 = use PatientSize", decimals=2)
        form.addRow("Height:", self.heightSpin)
        self.doseSpin = self._spin(0, 5000, " MBq", "Injected activity; 0 = use RadionuclideTotalDose")
        form.addRow("Injected activity:", self.doseSpin)
        self.injectionEdit = qt.QLineEdit()
        self.injectionEdit.placeholderText = "from DICOM (or e.g. 08:45 / 2024-03-01T08:45)"
        form.addRow("Injection time:", self.injectionEdit)
        self.sexCombo = qt.QComboBox()
        self.sexCombo.addItems(["from DICOM", "M", "F"])
        form.addRow("Sex:", self.sexCombo)
        self.loadButton = qt.QPushButton("Load as SUV")
        form.addRow(self.loadButton)

        # -- statistics ---------------------------------------------------------------------------
        statBox = ctk.ctkCollapsibleButton()
        statBox.text = "SUV statistics per segment"
        layout.addWidget(statBox)
        form2 = qt.QFormLayout(statBox)
        self.volumeSelector = self._selector("vtkMRMLScalarVolumeNode", "PET volume in SUV")
        form2.addRow("PET (SUV) volume:", self.volumeSelector)
        self.segmentationSelector = self._selector("vtkMRMLSegmentationNode",
                                                   "Segments drawn on the PET or on the CT of the same study")
        form2.addRow("Segmentation:", self.segmentationSelector)
        self.thresholdCombo = qt.QComboBox()
        self.thresholdCombo.addItem("Whole segment", "none")
        self.thresholdCombo.addItem("SUV >= fraction of SUVmax", "relative")
        self.thresholdCombo.addItem("SUV >= fixed value", "absolute")
        form2.addRow("MTV region:", self.thresholdCombo)
        self.thresholdSpin = self._spin(0.01, 100, "", "0.41 = 41% of SUVmax; or an SUV such as 2.5", decimals=2)
        self.thresholdSpin.value = 0.41
        form2.addRow("Threshold:", self.thresholdSpin)
        self.resampleCombo = qt.QComboBox()
        self.resampleCombo.addItem("Nearest (voxel centre)", "nearest")
        self.resampleCombo.addItem("Fraction (partial volume)", "fraction")
        self.resampleCombo.toolTip = "How segments on another grid (CT) are moved onto the PET grid"
        form2.addRow("CT→PET resampling:", self.resampleCombo)
        self.scaleSpin = self._spin(0.0, 1e6, "", "Multiplies the volume's values first: 1 for volumes loaded "
                                    "here as SUV; the SUV factor for a Bq/ml volume loaded elsewhere", decimals=8)
        self.scaleSpin.value = 1.0
        form2.addRow("Value scale:", self.scaleSpin)
        self.computeButton = qt.QPushButton("Compute table")
        self.exportButton = qt.QPushButton("Export table (CSV/XLSX)...")
        form2.addRow(self.computeButton)
        form2.addRow(self.exportButton)
        self.progressBar = qt.QProgressBar()
        self.progressBar.hide()
        layout.addWidget(self.progressBar)
        layout.addStretch(1)

        self.logic = PetLogic(progress=self.onProgress)
        self.loadButton.connect("clicked(bool)", self.onLoad)
        self.computeButton.connect("clicked(bool)", self.onCompute)
        self.exportButton.connect("clicked(bool)", self.onExport)
        self.thresholdCombo.connect("currentIndexChanged(int)", self.onThresholdMode)
        self.onThresholdMode()

    @staticmethod
    def _spin(lo, hi, suffix, tip, decimals=1):
        s = qt.QDoubleSpinBox()
        s.minimum, s.maximum, s.decimals, s.suffix, s.toolTip = lo, hi, decimals, suffix, tip
        return s

    @staticmethod
    def _selector(cls, tip):
        s = slicer.qMRMLNodeComboBox()
        s.nodeTypes = [cls]
        s.noneEnabled = True
        s.addEnabled = False
        s.removeEnabled = False
        s.toolTip = tip
        s.setMRMLScene(slicer.mrmlScene)
        return s

    def onProgress(self, fraction, text):
        self.progressBar.show()
        self.progressBar.value = int(100 * fraction)
        self.progressBar.format = f"{text} (%p%)"
        slicer.app.processEvents()

    def onThresholdMode(self, *_):
        mode = self.thresholdCombo.currentData
        self.thresholdSpin.enabled = mode != "none"
        if mode == "relative" and self.thresholdSpin.value > 1:
            self.thresholdSpin.value = 0.41
        elif mode == "absolute" and self.thresholdSpin.value < 1:
            self.thresholdSpin.value = 2.5

    def onLoad(self):
        suv, _, formula = self.suvTypeCombo.currentData.partition(":")
        sex = self.sexCombo.currentText if self.sexCombo.currentIndex > 0 else None
        with slicer.util.tryWithErrorDisplay("Failed to load the PET series as SUV.", waitCursor=True):
            ensure_packages()  # pandas, nibabel ... for medlabel.pet: installed on first use, after asking
            node = self.logic.loadSuvVolume(
                self.folderEdit.currentPath, suvType=suv, lbmFormula=formula or "janmahasatian",
                weightKg=self.weightSpin.value or None, heightM=self.heightSpin.value or None, sex=sex,
                doseMBq=self.doseSpin.value or None, injectionTime=self.injectionEdit.text.strip() or None)
            self.volumeSelector.setCurrentNode(node)
            slicer.util.setSliceViewerLayers(foreground=node, foregroundOpacity=0.5)
            for note in self.logic.lastConversion.notes:
                slicer.util.showStatusMessage(note, 5000)
        self.progressBar.hide()

    def onCompute(self):
        mode = self.thresholdCombo.currentData
        with slicer.util.tryWithErrorDisplay("Failed to compute the PET statistics.", waitCursor=True):
            ensure_packages()  # pandas, nibabel ... for medlabel.pet: installed on first use, after asking
            self.tableNode = self.logic.computeStatistics(
                self.volumeSelector.currentNode(), self.segmentationSelector.currentNode(),
                resample=self.resampleCombo.currentData, threshold=mode,
                thresholdValue=None if mode == "none" else self.thresholdSpin.value, suvScale=self.scaleSpin.value,
                tableNode=self.tableNode)
            slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
            slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(self.tableNode.GetID())
            slicer.app.applicationLogic().PropagateTableSelection()
        self.progressBar.hide()

    def onExport(self):
        path = qt.QFileDialog.getSaveFileName(None, "Export PET statistics", "pet_stats.csv",
                                              "CSV (*.csv);;Excel (*.xlsx)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay("Failed to export the table.", waitCursor=True):
            ensure_packages()  # pandas, nibabel ... for medlabel.pet: installed on first use, after asking
            out = self.logic.exportTable(self.tableNode, path, force=True)  # the dialog asked to overwrite
            slicer.util.showStatusMessage(f"Wrote {out}", 5000)
