"""Hidden module that registers the "Auto-label" Segment Editor effect."""

import os

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule


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
