"""Hidden module that registers the "Auto-label" Segment Editor effect."""

import os

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest


class SegmentEditorAutoLabel(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        parent.title = "SegmentEditorAutoLabel"
        parent.categories = ["Segmentation"]
        parent.dependencies = ["Segmentations"]
        parent.contributors = ["SlicerMedLabel developers"]
        parent.hidden = True
        parent.helpText = "Registers the Auto-label effect (model-predicted tissue labels) in the Segment Editor."
        parent.acknowledgementText = "Part of the SlicerMedLabel extension."
        slicer.app.connect("startupCompleted()", self.registerEditorEffect)

    def registerEditorEffect(self):
        import qSlicerSegmentationsEditorEffectsPythonQt as qSlicerSegmentationsEditorEffects

        instance = qSlicerSegmentationsEditorEffects.qSlicerSegmentEditorScriptedEffect(None)
        effectFilename = os.path.join(os.path.dirname(__file__), self.__class__.__name__ + "Lib/SegmentEditorEffect.py")
        instance.setPythonSource(effectFilename.replace("\\", "/"))
        instance.self().register()


class SegmentEditorAutoLabelTest(ScriptedLoadableModuleTest):
    """Runs the effect in a real Segment Editor on the L3 phantom: preview, Apply, Undo."""

    def setUp(self):
        slicer.mrmlScene.Clear(0)

    def runTest(self):
        from SlicerMedLabelLib.dependencies import ensure_packages

        ensure_packages()  # asks once; Slicer's testing mode accepts
        self.setUp()
        self.test_AutoLabelOnPhantom()

    def test_AutoLabelOnPhantom(self):
        from SlicerMedLabelLib.EffectSelfTest import runAutoLabelEffectTest

        self.delayDisplay("AutoLabel effect on the L3 phantom")
        runAutoLabelEffectTest(self, "Auto-label")
        self.delayDisplay("AutoLabel effect test passed")
