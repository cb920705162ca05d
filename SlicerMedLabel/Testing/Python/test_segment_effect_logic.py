"""Qt-free logic of the GrabCut / Back projection effects under slicer-core: box from view corners,
stroke segments, 2-D cuts in any view plane, the oriented labelmap the effect applies (Set / Add /
Remove through Slicer's segment editor logic, with undo) and the preview node."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

import bridge_fixtures
from conftest import data_path
from medlabel import io
from medlabel.errors import InputError, MedLabelError
from medlabel.segment import Box, back_project, dice, grabcut

mrml_scene = bridge_fixtures.mrml_scene


@pytest.fixture
def pet_case(mrml_scene):
    from medlabel.slicer_bridge import image_to_volume_node

    image = io.read_image(data_path("tcia_sts/STS_001/PET/nifti/image/image.nii.gz"))
    ref = io.read_image(data_path("tcia_sts/STS_001/PET/nifti/mask/mask.nii.gz")).array > 0
    volume = image_to_volume_node(image, name="PET")
    seg = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    seg.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    return image, ref, volume, seg


def _logic():
    from SlicerMedLabelLib.segment_effect_logic import SegmentEffectLogic

    return SegmentEffectLogic()


def test_box_from_ijk_corners():
    logic = _logic()
    box = logic.boxFromIjk((10.4, 3.6, 7.0), (2.2, 8.1, 7.2), (20, 30, 40))
    assert box == Box(7, 8, 4, 9, 2, 11)                     # k, j, i rounded; both corner voxels inside
    assert logic.thinAxis(box) == 0
    assert logic.boxFromIjk((-5, -5, 3), (50, 4, 3), (5, 10, 12)) == Box(3, 4, 0, 5, 0, 12)   # clipped
    with pytest.raises(InputError, match="outside the source volume"):
        logic.boxFromIjk((100, 100, 2), (120, 130, 2), (5, 10, 12))


def test_grabcut_mask_with_stroke_segment_equals_engine(pet_case):
    import slicer

    image, ref, volume, seg = pet_case
    k = 22
    b = Box.of_mask(ref[k:k + 1], margin_vox=(0, 2, 2))
    box = Box(k, k + 1, b.y0, b.y1, b.x0, b.x1)
    stroke = np.zeros(ref.shape, bool)
    stroke[k] = ndi.binary_erosion(ref[k], iterations=3)
    sid = seg.GetSegmentation().AddEmptySegment("fg strokes")
    slicer.util.updateSegmentBinaryLabelmapFromArray(stroke.astype(np.uint8), seg, sid, volume)
    logic = _logic()
    corners = ((box.x0, box.y0, k), (box.x1 - 1, box.y1 - 1, k))          # as xyToIjk gives them (i, j, k)
    got_box = logic.boxFromIjk(*corners, image.shape)
    assert got_box == box
    mask = logic.grabcutMask(volume, got_box, segmentationNode=seg, foregroundSegmentId=sid)
    expected = grabcut(image.array, box, spacing_mm=image.spacing_mm, fg_seeds=stroke)
    np.testing.assert_array_equal(mask, expected)
    assert dice(mask[k], ref[k]) > 0.8
    with pytest.raises(InputError, match="not in the segmentation"):
        logic.grabcutMask(volume, got_box, segmentationNode=seg, foregroundSegmentId="nope")


def test_rectangle_in_a_coronal_view_cuts_in_that_plane(pet_case):
    image, ref, volume, seg = pet_case
    j = 21                                                  # a coronal plane (array axis 1) through the lesion
    plane = ref[:, j, :]
    ks, iis = np.nonzero(plane)
    box = Box(ks.min() - 2, ks.max() + 3, j, j + 1, iis.min() - 2, iis.max() + 3)
    logic = _logic()
    mask = logic.grabcutMask(volume, box)
    assert not np.delete(mask, j, axis=1).any()             # nothing outside the plane
    direct = grabcut(image.array[:, j, :], Box(0, 1, box.z0, box.z1, box.x0, box.x1),
                     spacing_mm=(image.spacing_mm[0], image.spacing_mm[2]))
    np.testing.assert_array_equal(mask[:, j, :], direct)
    assert dice(mask[:, j, :], plane) > 0.7


def test_back_projection_slice_scope_in_view_plane(pet_case):
    image, ref, volume, seg = pet_case
    logic = _logic()
    k = 25
    ys, xs = np.nonzero(ndi.binary_erosion(ref[k], iterations=2))
    roi = Box(k, k + 1, ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
    res = logic.backProjection(volume, roi, scope="slice", bins=16, threshold=0.05)
    direct = back_project(image.array, roi, spacing_mm=image.spacing_mm, scope="slice", bins=16, threshold=0.05)
    np.testing.assert_array_equal(res.mask, direct.mask)
    sag = Box(roi.z0 - 3, roi.z1 + 3, roi.y0, roi.y1, 20, 21)           # sagittal rectangle: slice = i = 20
    res2 = logic.backProjection(volume, sag, scope="slice", bins=16, threshold=0.05)
    assert res2.mask.any() and not np.delete(res2.mask, 20, axis=2).any()


@pytest.mark.parametrize("mode", ["Set", "Add", "Remove"])
def test_oriented_labelmap_applies_with_undo(pet_case, mode, mrml_scene):
    """What the effect's Apply does, run through Slicer's headless segment editor logic."""
    import slicer

    image, ref, volume, seg = pet_case
    logic = _logic()
    target = seg.GetSegmentation().AddEmptySegment("lesion")
    before = np.zeros(ref.shape, bool)
    before[30, 5:15, 5:15] = True
    slicer.util.updateSegmentBinaryLabelmapFromArray(before.astype(np.uint8), seg, target, volume)
    k = 30
    b = Box.of_mask(ref[k:k + 1], margin_vox=(0, 2, 2))
    mask = logic.grabcutMask(volume, Box(k, k + 1, b.y0, b.y1, b.x0, b.x1))
    oriented = logic.maskToOrientedImage(mask, volume)

    editorNode = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentEditorNode")
    ed = slicer.vtkSlicerSegmentEditorLogic()
    ed.SetMRMLScene(mrml_scene)
    ed.SetSegmentEditorNode(editorNode)
    ed.SetSegmentationNode(seg)
    ed.SetSourceVolumeNode(volume)
    ed.UpdateReferenceGeometryImage()
    ed.SaveStateForUndo()
    modes = {"Set": slicer.vtkSlicerSegmentEditorLogic.ModificationModeSet,
             "Add": slicer.vtkSlicerSegmentEditorLogic.ModificationModeAdd,
             "Remove": slicer.vtkSlicerSegmentEditorLogic.ModificationModeRemove}
    ed.ModifySegmentByLabelmap(seg, target, oriented, modes[mode], False, True)
    after = slicer.util.arrayFromSegmentBinaryLabelmap(seg, target, volume) > 0
    expected = {"Set": mask, "Add": before | mask, "Remove": before & ~mask}[mode]
    np.testing.assert_array_equal(after, expected)
    ed.Undo()
    np.testing.assert_array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(seg, target, volume) > 0, before)


def test_preview_node_holds_the_mask_and_is_removed(pet_case, mrml_scene):
    import slicer

    image, ref, volume, seg = pet_case
    logic = _logic()
    mask = np.zeros(ref.shape, bool)
    mask[20, 10:20, 12:18] = True
    node = logic.showPreview(mask, volume, name="GrabCut")
    sid = node.GetSegmentation().GetSegmentIdBySegmentName("GrabCut")
    np.testing.assert_array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(node, sid, volume) > 0, mask)
    again = logic.showPreview(mask[::-1].copy(), volume, node, name="GrabCut")
    assert again is node and mrml_scene.IsNodePresent(node)
    assert seg.GetSegmentation().GetNumberOfSegments() == 0          # the user's segmentation is untouched
    logic.removePreview(node)
    assert not mrml_scene.IsNodePresent(node)


def test_back_projection_effect_scopes(pet_case):
    image, ref, volume, seg = pet_case
    logic = _logic()
    roi = Box(25, 26, 18, 24, 18, 24)
    slab = logic.backProjectionForEffect(volume, roi, scope="slab", slabSlices=2, bins=16, threshold=0.05)
    direct = back_project(image.array, roi, spacing_mm=image.spacing_mm, scope="slab", slab=(23, 28), bins=16,
                          threshold=0.05)
    np.testing.assert_array_equal(slab.mask, direct.mask)
    assert slab.mask[23:28].any() and not slab.mask[:23].any() and not slab.mask[28:].any()
    # a coronal rectangle: the slab runs along j
    cor = Box(20, 30, 21, 22, 15, 25)
    res = logic.backProjectionForEffect(volume, cor, scope="slab", slabSlices=1, bins=16, threshold=0.05)
    assert res.mask[:, 20:23].any() and not np.delete(res.mask, [20, 21, 22], axis=1).any()
    # a segment ROI searches the volume
    roi_mask = np.zeros(ref.shape, bool)
    roi_mask[25, 18:24, 18:24] = True
    vol = logic.backProjectionForEffect(volume, roi_mask, scope="slice", bins=16, threshold=0.05)
    assert vol.scope.all()
    with pytest.raises(InputError, match="slab needs a rectangle"):
        logic.backProjectionForEffect(volume, roi_mask, scope="slab", slabSlices=1)


def test_box_from_ras_uses_the_volume_grid_and_its_parent_transform(mrml_scene):
    """The effects get world RAS corners from ``xyToRas``; the box must land on the source volume node's
    voxels for an oblique, anisotropic volume and for a volume under a (translating) parent transform."""
    import vtk

    from medlabel.image import Image
    from medlabel.slicer_bridge import image_to_volume_node

    angle = np.deg2rad(30)
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1.0]])
    image = Image(np.zeros((6, 20, 30), np.int16), (2.5, 0.8, 1.2), (10.0, -20.0, 30.0), direction)
    volume = image_to_volume_node(image, name="oblique")
    logic = _logic()
    kji = np.array([[0, 0, 0], [5, 19, 29], [3, 7, 11]])
    lps = image.index_to_lps(kji)
    ras = lps * np.array([-1.0, -1.0, 1.0])
    for point, (k, j, i) in zip(ras, kji, strict=True):
        np.testing.assert_allclose(logic.rasToIjk(volume, point), (i, j, k), atol=1e-6)
    assert logic.boxFromRas(ras[2], ras[1], volume) == Box(3, 6, 7, 20, 11, 30)
    with pytest.raises(InputError, match="outside the source volume"):
        logic.boxFromRas(ras[2] + [1000.0, 0, 0], ras[1] + [1000.0, 0, 0], volume)

    shift = vtk.vtkMatrix4x4()
    shift.SetElement(0, 3, 40.0)                              # node -> world: +40 mm along R
    transform = mrml_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    transform.SetMatrixTransformToParent(shift)
    volume.SetAndObserveTransformNodeID(transform.GetID())
    np.testing.assert_allclose(logic.rasToIjk(volume, ras[2] + [40.0, 0, 0]), (11, 7, 3), atol=1e-6)
    with pytest.raises(MedLabelError, match="harden the transform"):   # the voxels are read untransformed
        logic.boxFromRas(ras[2] + [40.0, 0, 0], ras[1] + [40.0, 0, 0], volume)
