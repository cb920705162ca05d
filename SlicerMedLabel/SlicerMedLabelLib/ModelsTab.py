"""Models tab of the SlicerMedLabel module (Qt widgets only; the work is in models_logic.ModelsLogic)."""

from __future__ import annotations

from pathlib import Path

import ctk
import qt
import slicer

from .dependencies import CORE_MODULES, ensure_packages, missing_packages
from .models_logic import ModelsLogic


class ModelsTab:
    """List the auto-label registry with its model cards; train a model on a folder of accepted labels."""

    def __init__(self, parent):
        self.logic = ModelsLogic(progress=self._progress)
        box = ctk.ctkCollapsibleButton()
        box.text = "Auto-label models"
        parent.layout().addWidget(box)
        form = qt.QFormLayout(box)

        self.tableView = slicer.qMRMLTableView()
        self.tableView.setMRMLScene(slicer.mrmlScene)
        self.tableView.minimumHeight = 140
        form.addRow(self.tableView)
        self.modelCombo = qt.QComboBox()
        self.modelCombo.toolTip = "Model whose card is shown below"
        self.modelCombo.connect("currentIndexChanged(int)", self.onShowCard)
        refresh = qt.QPushButton("Refresh")
        refresh.toolTip = "Re-scan the shipped and user model folders (~/.medlabel/models or $MEDLABEL_MODELS)"
        refresh.connect("clicked()", lambda: self.refresh(install=True))
        row = qt.QHBoxLayout()
        row.addWidget(self.modelCombo, 1)
        row.addWidget(refresh)
        form.addRow("Model card:", row)
        self.cardText = qt.QPlainTextEdit()
        self.cardText.readOnly = True
        self.cardText.minimumHeight = 160
        form.addRow(self.cardText)

        train = ctk.ctkCollapsibleButton()
        train.text = "Train a model"
        train.collapsed = True
        parent.layout().addWidget(train)
        tform = qt.QFormLayout(train)
        self.folderEdit = ctk.ctkPathLineEdit()
        self.folderEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.folderEdit.toolTip = ("Folder of images with <case>.seg.nrrd segmentations; only accepted segments "
                                   "(Review tab) or untagged manual segments are used")
        tform.addRow("Cases folder:", self.folderEdit)
        self.outEdit = ctk.ctkPathLineEdit()
        self.outEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.outEdit.currentPath = str(Path.home() / ".medlabel" / "models" / "my-tissue-model")
        tform.addRow("Model folder:", self.outEdit)
        self.nameEdit = qt.QLineEdit("my-tissue-model")
        tform.addRow("Model name:", self.nameEdit)
        self.epochsSpin = qt.QSpinBox()
        self.epochsSpin.minimum, self.epochsSpin.maximum, self.epochsSpin.value = 1, 500, 40
        self.epochsSpin.toolTip = "Maximum epochs; training stops earlier when validation Dice stops improving"
        tform.addRow("Epochs:", self.epochsSpin)
        self.initCombo = qt.QComboBox()
        self.initCombo.toolTip = "Fine-tune from an existing network (keeps its labels, grid and window)"
        tform.addRow("Start from:", self.initCombo)
        self.trainButton = qt.QPushButton("Train")
        self.trainButton.toolTip = "Runs on the CPU; an interrupted run resumes when started again with the same settings"
        self.trainButton.connect("clicked()", self.onTrain)
        tform.addRow(self.trainButton)
        self.progressBar = qt.QProgressBar()
        self.progressBar.setRange(0, 100)
        self.status = qt.QLabel("")
        self.status.wordWrap = True
        tform.addRow(self.progressBar)
        tform.addRow(self.status)
        self.refresh(install=False)

    def _progress(self, fraction, text):
        self.progressBar.value = int(100 * fraction)
        self.status.text = text
        slicer.app.processEvents()

    def refresh(self, install=True):
        """List the registry; when the tab is built (``install=False``) missing packages are not installed
        (that would ask the user while the module opens) - the Refresh button does it."""
        if not install and missing_packages(CORE_MODULES):
            self.status.text = "Press Refresh to list the models (installs the Python packages they need first)."
            return
        with slicer.util.tryWithErrorDisplay("Could not list the models.", waitCursor=True):
            ensure_packages()  # the registry reads model cards with pandas: installed on first use, after asking
            self.logic.registry(refresh=True)
            self.tableNode = self.logic.modelsTableNode(getattr(self, "tableNode", None))
            self.tableView.setMRMLTableNode(self.tableNode)
            names = self.logic.modelNames()
            self.modelCombo.clear()
            self.initCombo.clear()
            self.initCombo.addItem("(new network)", "")
            for name in names:
                self.modelCombo.addItem(name, name)
                if self.logic.registry().card(name).kind == "torch-unet2d":
                    self.initCombo.addItem(name, name)
            problems = self.logic.registry().problems
            self.status.text = "; ".join(problems) if problems else f"{len(names)} model(s)"

    def onShowCard(self, index):
        name = self.modelCombo.itemData(index) if index >= 0 else None
        self.cardText.plainText = self.logic.cardText(name) if name else ""

    def onTrain(self):
        with slicer.util.tryWithErrorDisplay("Training failed.", waitCursor=True):
            ensure_packages()
            folder, out = self.folderEdit.currentPath, self.outEdit.currentPath
            if not folder or not out:
                raise ValueError("Choose the cases folder and the model folder first.")
            result = self.logic.train(folder, out, name=self.nameEdit.text.strip(), epochs=self.epochsSpin.value,
                                      initFrom=self.initCombo.currentData or None)
            card = result.card
            self.status.text = (f"Trained {card.model_id}: validation mean Dice {card.metrics['validation']['mean_dice']}"
                                f" (epoch {card.training_data['best_epoch']}). Card: {card.path}")
            self.refresh()
