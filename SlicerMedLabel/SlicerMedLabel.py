"""SlicerMedLabel main module: label CT/PET, review annotators, measure body composition.

The panel is a Designer file (``Resources/UI/SlicerMedLabel.ui``): a Data section (image and
segmentation selectors, load/save/phantom buttons), a tab widget (Review · Body composition ·
Models · Export · PET) and a progress bar. Each tab page is filled by
``SlicerMedLabelLib.<Topic>Tab.<Topic>Tab(page)``, imported lazily: a missing or failing tab shows a
message in its own page and never stops the module from loading.

All work is done by :class:`SlicerMedLabelLib.main_logic.SlicerMedLabelLogic` (Qt-free, tested
outside Slicer with slicer-core); this file only wires widgets to it.
"""

from __future__ import annotations

import os
import tempfile

import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from SlicerMedLabelLib.dependencies import ensure_packages
from SlicerMedLabelLib.main_logic import SlicerMedLabelLogic, build_tab

try:
    from slicer.i18n import tr as _
except ImportError:  # pragma: no cover - Slicer < 5.3

    def _(text):
        return text


#: (page object name in the .ui, tab title, candidate modules in SlicerMedLabelLib; class name = module name)
TABS = (
    ("reviewPage", "Review", ("ReviewTab",)),
    ("bodyCompositionPage", "Body composition", ("BodyCompositionTab",)),
    ("modelsPage", "Models", ("ModelsTab",)),
    ("exportPage", "Export", ("ExportTab",)),
    ("petPage", "PET", ("PetTab", "PETTab")),
)

__all__ = ["SlicerMedLabel", "SlicerMedLabelLogic", "SlicerMedLabelTest", "SlicerMedLabelWidget"]


#
# SlicerMedLabel
#
class SlicerMedLabel(ScriptedLoadableModule):
    """Module description shown by Slicer."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SlicerMedLabel")
        self.parent.categories = [_("Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["SlicerMedLabel developers"]
        self.parent.helpText = _(
            "Label CT and PET with back projection, GrabCut and auto-label effects (Segment Editor), review "
            "several annotators (STAPLE, agreement, workflow) and measure L3 body composition (skeletal "
            "muscle, subcutaneous, visceral and intermuscular fat, indices, T-scores against cited "
            "reference sets). The same engine runs from the command line: <code>medlabel --help</code>."
        )
        self.parent.acknowledgementText = _(
            "Test data: TCIA collections (CC BY), TotalSegmentator example data (CC BY 4.0), dcmqi, "
            "highdicom and slicerio test files; see PROVENANCE.md of the data folder."
        )


#
# Parameters
#
@parameterNodeWrapper
class SlicerMedLabelParameterNode:
    """Inputs shared by all tabs: the image and its segmentation."""

    volume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode


#
# Widget
#
class SlicerMedLabelWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Gathers inputs, calls :class:`SlicerMedLabelLogic`, shows progress and errors."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self.tabs: dict[str, object] = {}

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SlicerMedLabel.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.ui.progressBar.hide()

        self.logic = SlicerMedLabelLogic(progress=self.onProgress)

        for pageName, title, candidates in TABS:
            self.tabs[pageName] = self._populateTab(getattr(self.ui, pageName), title, candidates)

        self.ui.loadImageButton.connect("clicked(bool)", self.onLoadImage)
        self.ui.loadSegmentationButton.connect("clicked(bool)", self.onLoadSegmentation)
        self.ui.saveSegmentationButton.connect("clicked(bool)", self.onSaveSegmentation)
        self.ui.addPhantomButton.connect("clicked(bool)", self.onAddPhantom)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    # -- tabs -----------------------------------------------------------------------------------------
    @staticmethod
    def _populateTab(page, title: str, candidates: tuple[str, ...]):
        """Fill one page with its tab (see :func:`SlicerMedLabelLib.main_logic.build_tab`); on failure
        show the reason in the page instead."""
        tab, message = build_tab(page, title, candidates, make_layout=qt.QVBoxLayout)
        if tab is None:
            layout = page.layout() or qt.QVBoxLayout(page)
            label = qt.QLabel(message)
            label.wordWrap = True
            layout.addWidget(label)
            layout.addStretch(1)
        return tab

    # -- parameter node -------------------------------------------------------------------------------
    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(SlicerMedLabelParameterNode(self.logic.getParameterNode()))
        if self._parameterNode and not self._parameterNode.volume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first:
                self._parameterNode.volume = first

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNodeGuiTag = None
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    # -- actions --------------------------------------------------------------------------------------
    def onProgress(self, fraction: float, text: str) -> None:
        self.ui.progressBar.show()
        self.ui.progressBar.value = int(round(100 * fraction))
        self.ui.statusLabel.text = text
        slicer.app.processEvents()
        if fraction >= 1.0:
            self.ui.progressBar.hide()

    def onLoadImage(self) -> None:
        path = qt.QFileDialog.getOpenFileName(
            slicer.util.mainWindow(), _("Image file (or cancel to pick a DICOM folder)"), "",
            "Images (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.dcm);;All files (*)")
        if not path:
            path = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("DICOM folder"))
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to load the image."), waitCursor=True):
            ensure_packages()  # packages Slicer lacks: installed on first use, after asking
            node = self.logic.loadVolume(path)
            self.ui.volumeSelector.setCurrentNode(node)
            slicer.util.setSliceViewerLayers(background=node, fit=True)
            warnings = self.logic.volumeMetadata(node).get("warnings")
            if warnings:
                slicer.util.warningDisplay(warnings, windowTitle=_("SlicerMedLabel: check the series"))

    def onLoadSegmentation(self) -> None:
        path = qt.QFileDialog.getOpenFileName(
            slicer.util.mainWindow(), _("Segmentation file"), "",
            "Segmentations (*.seg.nrrd *.nrrd *.nii *.nii.gz *.dcm);;All files (*)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to load the segmentation."), waitCursor=True):
            ensure_packages()  # packages Slicer lacks: installed on first use, after asking
            node = self.logic.loadSegmentation(path, referenceVolume=self.ui.volumeSelector.currentNode())
            self.ui.segmentationSelector.setCurrentNode(node)

    def onSaveSegmentation(self) -> None:
        node = self.ui.segmentationSelector.currentNode()
        if node is None:
            slicer.util.errorDisplay(_("Select a segmentation to save."))
            return
        path = qt.QFileDialog.getSaveFileName(slicer.util.mainWindow(), _("Save segmentation"),
                                              f"{node.GetName()}.seg.nrrd", "Slicer segmentation (*.seg.nrrd)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to save the segmentation."), waitCursor=True):
            ensure_packages()  # packages Slicer lacks: installed on first use, after asking
            # the file dialog already asked before replacing an existing file
            self.logic.saveSegmentation(node, path, referenceVolume=self.ui.volumeSelector.currentNode(),
                                        force=True)

    def onAddPhantom(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to create the phantom."), waitCursor=True):
            ensure_packages()  # packages Slicer lacks: installed on first use, after asking
            volume, segmentation = self.logic.addPhantom()
            self.ui.volumeSelector.setCurrentNode(volume)
            self.ui.segmentationSelector.setCurrentNode(segmentation)
            slicer.util.setSliceViewerLayers(background=volume, fit=True)


#
# Logic: the module's logic class lives in SlicerMedLabelLib/main_logic.py (Qt-free, imported above),
# so slicer.util.getModuleLogic("SlicerMedLabel") and the tests use the same class.
#


#
# Test
#
class SlicerMedLabelTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: phantom → nodes → .seg.nrrd → engine reader, and a table export."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        ensure_packages()  # pandas, pynrrd ... (asks once; Slicer's testing mode accepts)
        self.setUp()
        self.test_PhantomSaveAndReload()
        self.setUp()
        self.test_TableExport()

    def test_PhantomSaveAndReload(self):
        import numpy as np

        from medlabel.io import read_seg_nrrd
        from medlabel.phantom import make_l3_phantom
        from medlabel.slicer_bridge import volume_node_to_image

        self.delayDisplay("Creating the L3 phantom")
        steps = []
        logic = SlicerMedLabelLogic(progress=lambda f, t: steps.append(f))
        volume, segmentation = logic.addPhantom(shape=(2, 256, 256), spacingMm=(3.0, 1.6, 1.6), seed=7)
        image, truth = make_l3_phantom((2, 256, 256), (3.0, 1.6, 1.6), seed=7)
        self.assertEqual(steps[-1], 1.0)
        self.assertTrue(np.array_equal(volume_node_to_image(volume).array, image.array))
        self.assertEqual(segmentation.GetSegmentation().GetNumberOfSegments(), len(truth))

        # the volume's RAS geometry: voxel (0, 0, 0) sits at the LPS origin with x, y negated
        ras = [0.0, 0.0, 0.0, 1.0]
        matrix = vtk.vtkMatrix4x4()
        volume.GetIJKToRASMatrix(matrix)
        ras = matrix.MultiplyPoint(ras)
        self.assertAlmostEqual(ras[0], -image.origin_lps[0], places=4)
        self.assertAlmostEqual(ras[1], -image.origin_lps[1], places=4)
        self.assertAlmostEqual(ras[2], image.origin_lps[2], places=4)

        self.delayDisplay("Saving and re-reading the truth segmentation")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "truth.seg.nrrd")
            logic.saveSegmentation(segmentation, path)
            back = read_seg_nrrd(path)
            self.assertEqual(back.names, truth.names)
            for segment in truth:
                self.assertTrue(np.array_equal(back[segment.name].mask, segment.mask), segment.name)
                self.assertEqual(back[segment.name].terminology, segment.terminology)
            # Slicer's own loader opens the file with the same segments
            loaded = slicer.util.loadSegmentation(path)
            self.assertEqual(loaded.GetSegmentation().GetNumberOfSegments(), len(truth))
            muscle = loaded.GetSegmentation().GetSegmentIdBySegmentName("skeletal_muscle")
            array = slicer.util.arrayFromSegmentBinaryLabelmap(loaded, muscle, volume)
            self.assertEqual(int(array.astype(bool).sum()), truth["skeletal_muscle"].voxel_count)
        self.delayDisplay("Phantom test passed")

    def test_TableExport(self):
        import pandas as pd

        logic = SlicerMedLabelLogic()
        df = pd.DataFrame({"segment": ["muscle", "sat"], "area_cm2": [150.5, 210.25]})
        table = logic.showTable(df, name="metrics", units={"area_cm2": "cm2"})
        with tempfile.TemporaryDirectory() as tmp:
            out = logic.exportTable(table, os.path.join(tmp, "metrics.csv"))
            pd.testing.assert_frame_equal(pd.read_csv(out), df)
        self.delayDisplay("Table export test passed")
