"""Hidden module that registers the "GrabCut" Segment Editor effect."""

import os

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule


class SegmentEditorGrabCut(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        parent.title = "SegmentEditorGrabCut"
        parent.categories = ["Segmentation"]
        parent.dependencies = ["Segmentations"]
        parent.contributors = ["SlicerMedLabel developers"]
        parent.hidden = True
        parent.helpText = "Registers the GrabCut effect (box + optional strokes, graph cut) in the Segment Editor."
        parent.acknowledgementText = "Part of the SlicerMedLabel extension."
        slicer.app.connect("startupCompleted()", self.registerEditorEffect)

    def registerEditorEffect(self):
        import qSlicerSegmentationsEditorEffectsPythonQt as qSlicerSegmentationsEditorEffects

        instance = qSlicerSegmentationsEditorEffects.qSlicerSegmentEditorScriptedEffect(None)
        effectFilename = os.path.join(os.path.dirname(__file__), self.__class__.__name__ + "Lib/SegmentEditorEffect.py")
        instance.setPythonSource(effectFilename.replace("\\", "/"))
        instance.self().register()
