"""Self-tests of the SlicerMedLabel Segment Editor effects (run inside the Slicer application only:
they drive a real ``qMRMLSegmentEditorWidget``; the effects' Qt-free logic is tested with pytest).

Each hidden effect module's ``*Test.runTest`` calls one of these on the L3 phantom: the effect is
activated by name, its Python object (``activeEffect().self()``) gets a rectangle as RAS corners (as
``EffectRectangle`` reports a drag) or a Preview click, Apply writes into the selected segment through
``modifySelectedSegmentByLabelmap`` (or the auto-label logic), and Undo restores the segment.
"""

import numpy as np
import slicer
import vtk


def segmentArray(segmentationNode, segmentId, volumeNode):
    """Segment voxels (k, j, i) on the volume's grid; zeros for an empty segment."""
    array = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode)
    if array is None:
        dims = volumeNode.GetImageData().GetDimensions()
        return np.zeros(dims[::-1], bool)
    return np.asarray(array) > 0


def rasOfIjk(volumeNode, ijk):
    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    return list(matrix.MultiplyPoint([float(ijk[0]), float(ijk[1]), float(ijk[2]), 1.0])[:3])


def editorWithPhantom(effectName, segmentName="edited"):
    """Phantom volume + truth, an empty selected segment and a segment editor with ``effectName`` active."""
    from SlicerMedLabelLib.main_logic import SlicerMedLabelLogic

    volume, truth = SlicerMedLabelLogic().addPhantom(shape=(3, 128, 128), spacingMm=(3.0, 3.2, 3.2), seed=1)
    segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "edited")
    segmentation.CreateDefaultDisplayNodes()
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    segmentId = segmentation.GetSegmentation().AddEmptySegment(segmentName)
    widget = slicer.qMRMLSegmentEditorWidget()
    widget.setMRMLScene(slicer.mrmlScene)
    editorNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentEditorNode")
    widget.setMRMLSegmentEditorNode(editorNode)
    widget.setSegmentationNode(segmentation)
    if hasattr(widget, "setSourceVolumeNode"):
        widget.setSourceVolumeNode(volume)
    else:  # Slicer < 5.3
        widget.setMasterVolumeNode(volume)
    editorNode.SetSelectedSegmentID(segmentId)
    widget.setActiveEffectByName(effectName)
    effect = widget.activeEffect()
    if effect is None:
        raise RuntimeError(f"the Segment Editor has no effect named {effectName!r}")
    return widget, effect, volume, truth, segmentation, segmentId


def runRectangleEffectTest(testCase, effectName, truthName="visceral_fat"):
    """Drag a rectangle around a phantom structure on the middle slice, Apply (Set), Undo."""
    widget, effect, volume, truth, segmentation, segmentId = editorWithPhantom(effectName)
    try:
        truthId = truth.GetSegmentation().GetSegmentIdBySegmentName(truthName)
        target = segmentArray(truth, truthId, volume)
        k = target.shape[0] // 2
        js, iis = np.nonzero(target[k])
        rasA = rasOfIjk(volume, (iis.min() - 2, js.min() - 2, k))
        rasB = rasOfIjk(volume, (iis.max() + 2, js.max() + 2, k))
        effect.self().onRectangle(rasA, rasB, None)
        mask = effect.self().mask
        testCase.assertIsNotNone(mask, f"{effectName}: no preview after the rectangle")
        testCase.assertTrue(mask[k].any(), f"{effectName}: empty preview")
        testCase.assertFalse(np.delete(mask, k, axis=0).any(), f"{effectName}: preview outside the drawn slice")
        effect.self().onApply()
        applied = segmentArray(segmentation, segmentId, volume)
        testCase.assertTrue(np.array_equal(applied, mask), f"{effectName}: Apply wrote other voxels than previewed")
        widget.undo()
        testCase.assertFalse(segmentArray(segmentation, segmentId, volume).any(), f"{effectName}: Undo failed")
    finally:
        widget.setActiveEffect(None)


def runAutoLabelEffectTest(testCase, effectName="Auto-label"):
    """Preview the rule-based model on the whole phantom, Apply the proposal, Undo."""
    widget, effect, volume, truth, segmentation, segmentId = editorWithPhantom(effectName)
    try:
        effect.setParameter("Scope", "volume")
        effect.self().updateGUIFromMRML()
        effect.self().onPreview()
        proposal = effect.self().proposal
        testCase.assertIsNotNone(proposal, "Auto-label: no proposal after Preview")
        names = [s.name for s in proposal if s.voxel_count]
        testCase.assertTrue(names, "Auto-label: the proposal is empty")
        effect.self().onApply()
        seg = segmentation.GetSegmentation()
        for name in names:
            testCase.assertTrue(seg.GetSegmentIdBySegmentName(name), f"Auto-label: {name} not applied")
        widget.undo()
        testCase.assertEqual(seg.GetNumberOfSegments(), 1, "Auto-label: Undo did not remove the proposal")
    finally:
        widget.setActiveEffect(None)
