"""Review tab of the SlicerMedLabel module (Qt widgets only; the work is in review_logic.ReviewLogic)."""

from __future__ import annotations

import ctk
import qt
import slicer

from SlicerMedLabelLib.dependencies import ensure_packages
from SlicerMedLabelLib.review_logic import ReviewLogic

METHODS = [("STAPLE", "staple"), ("Majority vote", "majority"), ("k of n", "kofn"),
           ("Vote weighted by STAPLE performance", "weighted"), ("Multi-label STAPLE (all structures)", "multilabel")]


class ReviewTab:
    """Pick image + annotators' segmentations, compute consensus and agreement, mark accept/redo/adjudicate."""

    def __init__(self, page):
        self.logic = ReviewLogic(progress=self._progress)
        self.outputs: dict = {}
        layout = page.layout() or qt.QVBoxLayout(page)
        box = ctk.ctkCollapsibleButton()
        box.text = "Review annotators"
        layout.addWidget(box)
        form = qt.QFormLayout(box)

        self.volumeSelector = slicer.qMRMLNodeComboBox()
        self.volumeSelector.nodeTypes = ["vtkMRMLScalarVolumeNode"]
        self.volumeSelector.noneEnabled = False
        self.volumeSelector.addEnabled = False
        self.volumeSelector.setMRMLScene(slicer.mrmlScene)
        self.volumeSelector.toolTip = "The image all annotators segmented"
        form.addRow("Image:", self.volumeSelector)

        self.annotatorList = qt.QListWidget()
        self.annotatorList.toolTip = "Tick the segmentations to compare (one per annotator)"
        refresh = qt.QPushButton("Refresh list")
        refresh.connect("clicked()", self.refreshAnnotators)
        form.addRow("Annotators:", self.annotatorList)
        form.addRow("", refresh)

        self.methodCombo = qt.QComboBox()
        for title, key in METHODS:
            self.methodCombo.addItem(title, key)
        self.kSpin = qt.QSpinBox()
        self.kSpin.minimum, self.kSpin.maximum, self.kSpin.value = 1, 50, 2
        self.kSpin.toolTip = "k of n: how many annotators must mark a voxel"
        form.addRow("Method:", self.methodCombo)
        form.addRow("k:", self.kSpin)

        self.minDice = self._spin(0.0, 1.0, 0.5, 2, "Flag annotator pairs whose Dice is below this")
        self.tolerance = self._spin(0.0, 50.0, 2.0, 1, "Surface Dice tolerance", " mm")
        self.acceptThreshold = self._spin(0.0, 1.0, 0.9, 2, "A novice is accepted at or above this Dice")
        form.addRow("Low-agreement Dice:", self.minDice)
        form.addRow("Surface tolerance:", self.tolerance)
        form.addRow("Accept novice at Dice:", self.acceptThreshold)

        self.computeButton = qt.QPushButton("Compute consensus and agreement")
        self.computeButton.connect("clicked()", self.onCompute)
        self.progressBar = qt.QProgressBar()
        self.progressBar.setRange(0, 100)
        self.status = qt.QLabel("")
        form.addRow(self.computeButton)
        form.addRow(self.progressBar)
        form.addRow(self.status)

        self.tableView = slicer.qMRMLTableView()
        self.tableView.setMRMLScene(slicer.mrmlScene)
        self.tableView.minimumHeight = 180
        form.addRow(self.tableView)

        row = qt.QHBoxLayout()
        for title, action in (("Accept", "accept"), ("Redo", "redo"), ("Adjudicate", "adjudicate")):
            b = qt.QPushButton(title)
            b.toolTip = f"Mark the highlighted annotator's segments as {action}"
            b.connect("clicked()", lambda a=action: self.onMark(a))
            row.addWidget(b)
        form.addRow("Highlighted annotator:", row)
        applyButton = qt.QPushButton("Apply suggested decisions to all annotators")
        applyButton.toolTip = "Novice vs reference: accept or redo; disagreeing experts: adjudicate (segment tags)"
        applyButton.connect("clicked()", self.onApplyDecisions)
        form.addRow(applyButton)
        layout.addStretch(1)
        self.refreshAnnotators()

    def _spin(self, lo, hi, value, decimals, tip, suffix=""):
        s = qt.QDoubleSpinBox()
        s.minimum, s.maximum, s.decimals, s.value, s.suffix, s.toolTip = lo, hi, decimals, value, suffix, tip
        s.singleStep = 0.05 if hi <= 1 else 0.5
        return s

    def _progress(self, fraction, text):
        self.progressBar.value = int(100 * fraction)
        self.status.text = text
        slicer.app.processEvents()

    def refreshAnnotators(self):
        self.annotatorList.clear()
        for node in slicer.util.getNodesByClass("vtkMRMLSegmentationNode"):
            if node.GetName().startswith("Consensus"):
                continue
            item = qt.QListWidgetItem(f"{ReviewLogic.annotatorOf(node)}  ({node.GetName()})")
            item.setData(qt.Qt.UserRole, node.GetID())
            item.setFlags(item.flags() | qt.Qt.ItemIsUserCheckable)
            item.setCheckState(qt.Qt.Checked)
            self.annotatorList.addItem(item)

    def _checkedNodes(self):
        out = []
        for i in range(self.annotatorList.count):
            item = self.annotatorList.item(i)
            if item.checkState() == qt.Qt.Checked:
                out.append(slicer.mrmlScene.GetNodeByID(item.data(qt.Qt.UserRole)))
        return out

    def onCompute(self):
        with slicer.util.tryWithErrorDisplay("Review failed.", waitCursor=True):
            ensure_packages()  # pandas, scipy ... for medlabel.review: installed on first use, after asking
            method = self.methodCombo.currentData
            self.outputs = self.logic.compute(
                self.volumeSelector.currentNode(), self._checkedNodes(), method=method,
                k=self.kSpin.value if method == "kofn" else None, minDice=self.minDice.value,
                toleranceMm=self.tolerance.value, acceptThreshold=self.acceptThreshold.value)
            self.tableView.setMRMLTableNode(self.outputs["perAnnotator"])
            slicer.util.setSliceViewerLayers(foreground=self.outputs["disagreement"], foregroundOpacity=0.4)
            flags = self.logic.lastResult.flags
            self.status.text = f"Done: {len(flags)} flag(s). Tables: per annotator, pairwise, flags, review."

    def onMark(self, action):
        with slicer.util.tryWithErrorDisplay(f"Could not mark as {action}.", waitCursor=True):
            ensure_packages()  # pandas, scipy ... for medlabel.review: installed on first use, after asking
            item = self.annotatorList.currentItem()
            if item is None:
                raise ValueError("Highlight an annotator in the list first.")
            node = slicer.mrmlScene.GetNodeByID(item.data(qt.Qt.UserRole))
            ids = ReviewLogic.setStatus(node, action)
            self.status.text = f"{node.GetName()}: {len(ids)} segment(s) marked {action}"

    def onApplyDecisions(self):
        with slicer.util.tryWithErrorDisplay("Could not apply the decisions.", waitCursor=True):
            ensure_packages()  # pandas, scipy ... for medlabel.review: installed on first use, after asking
            n = self.logic.applyDecisions(self._checkedNodes())
            if "review" in self.outputs:
                self.tableView.setMRMLTableNode(self.outputs["review"])
            self.status.text = f"Decisions written into {n} segment(s)"
