"""Bridge tests with the real MRML classes of PyPI slicer-core: geometry, voxels, segments, tables."""

from __future__ import annotations

import nrrd
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import slicer
import vtk

import bridge_fixtures
from conftest import data_path
from medlabel.errors import GeometryError, InputError
from medlabel.image import Image
from medlabel.labels import TERMS, Code, Geometry, LabelSet, Terminology
from medlabel.slicer_bridge import (
    dataframe_to_table_node,
    image_to_volume_node,
    labelset_to_segmentation_node,
    segment_tags,
    segmentation_node_to_labelset,
    table_node_to_dataframe,
    volume_node_to_image,
)

mrml_scene = bridge_fixtures.mrml_scene


def _rotation(ax: float, az: float) -> np.ndarray:
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ rx


OBLIQUE = _rotation(0.3, np.deg2rad(25))
SPACING = (2.5, 0.7, 0.9)  # z, y, x: anisotropic
ORIGIN = (10.0, -20.0, 30.0)


def _oblique_image(dtype=np.int16, shape=(5, 6, 7), seed=0) -> Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1000, 1000, shape).astype(dtype) if dtype != np.bool_ else rng.random(shape) > 0.5
    return Image(arr, SPACING, ORIGIN, OBLIQUE)


def _labelset(geometry, seed=1) -> LabelSet:
    """Three segments, two of them overlapping, with terminology, colours and provenance tags."""
    rng = np.random.default_rng(seed)
    ls = LabelSet(geometry)
    a = rng.random(ls.geometry.shape) > 0.6
    b = rng.random(ls.geometry.shape) > 0.6  # overlaps a
    c = np.zeros(ls.geometry.shape, bool)
    c[0, 0, 0] = True  # one corner voxel: off-by-one geometry errors would lose it
    ls.add_mask("muscle", a, terminology="skeletal_muscle", color=(0.1, 0.2, 0.3),
                tags={"MedLabel.Annotator": "reader 1", "MedLabel.Skill": "expert", "MedLabel.Tool": "manual"})
    ls.add_mask("sat", b, terminology="subcutaneous_fat", tags={"MedLabel.Time": "2026-11-23T10:00:00+00:00"})
    custom = Terminology(Code("SCT", "49755003", "Morphologically Altered Structure"),
                         Code("SCT", "108369006", "Neoplasm"), Code("SCT", "24028007", "Right"))
    ls.add_mask("lesion", c, terminology=custom, color=(1.0, 0.0, 0.5))
    assert ls.overlapping()
    return ls


def assert_labelsets_equal(a: LabelSet, b: LabelSet, *, ids: bool = True) -> None:
    assert a.geometry.matches(b.geometry, tol_mm=1e-6), (a.geometry, b.geometry)
    assert a.names == b.names
    for sa, sb in zip(a, b, strict=True):
        assert np.array_equal(sa.mask, sb.mask), f"mask of {sa.name} differs ({sa.voxel_count} vs {sb.voxel_count})"
        assert np.allclose(sa.color, sb.color, atol=1e-6), (sa.name, sa.color, sb.color)
        assert sa.terminology == sb.terminology, (sa.name, sa.terminology, sb.terminology)
        assert sa.tags == sb.tags, (sa.name, sa.tags, sb.tags)
        if ids:
            assert sa.id == sb.id


# -- volumes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.uint8, np.int32, np.float64])
def test_volume_roundtrip_oblique_anisotropic_is_exact(mrml_scene, dtype):
    img = _oblique_image(dtype)
    node = image_to_volume_node(img, name="ct")
    assert node.GetScene() is mrml_scene and node.GetName() == "ct"
    back = volume_node_to_image(node)
    assert back.array.dtype == img.array.dtype
    assert np.array_equal(back.array, img.array)
    assert np.allclose(back.spacing_mm, SPACING, atol=1e-9)
    assert np.allclose(back.origin_lps, ORIGIN, atol=1e-9)
    assert np.allclose(back.direction, OBLIQUE, atol=1e-9)
    # slicer.util reads the same voxels (k, j, i order) from the node
    assert np.array_equal(slicer.util.arrayFromVolume(node), img.array)


def test_volume_node_maps_voxels_to_ras_like_the_image(mrml_scene):
    img = _oblique_image()
    node = image_to_volume_node(img)
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    kji = np.array([[0, 0, 0], [4, 5, 6], [2, 1, 3]])
    for k, j, i in kji:
        ras = m.MultiplyPoint((float(i), float(j), float(k), 1.0))[:3]
        lps = img.index_to_lps([[k, j, i]])[0]
        assert np.allclose(ras, (-lps[0], -lps[1], lps[2]), atol=1e-9)
    assert np.allclose(node.GetSpacing(), img.spacing_xyz)


SAGITTAL_LEFT_HANDED = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # det = -1


@pytest.mark.parametrize("direction", [OBLIQUE, SAGITTAL_LEFT_HANDED, np.diag([-1.0, 1.0, -1.0])],
                         ids=["oblique", "sagittal-left-handed", "flipped"])
def test_volume_read_by_slicer_storage_matches_simpleitk(mrml_scene, tmp_path, direction):
    """Peer check of the LPS⇄RAS handling: SimpleITK writes an NRRD, Slicer's own reader loads it, the
    bridge turns the node into an Image equal to SimpleITK's view of the file; and the bridge's own
    node has the same IJKToRAS as Slicer's."""
    base = _oblique_image()
    img = Image(base.array, base.spacing_mm, base.origin_lps, direction)
    path = tmp_path / "oblique.nrrd"
    sitk.WriteImage(img.to_sitk(), str(path))
    node = mrml_scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    mrml_scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(node)
    back = volume_node_to_image(node)
    peer = Image.from_sitk(sitk.ReadImage(str(path)))
    assert np.array_equal(back.array, peer.array)
    assert back.same_geometry(peer, tol_mm=1e-5)
    ours, theirs = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    image_to_volume_node(img).GetIJKToRASMatrix(ours)
    node.GetIJKToRASMatrix(theirs)
    assert np.allclose([[ours.GetElement(r, c) for c in range(4)] for r in range(4)],
                       [[theirs.GetElement(r, c) for c in range(4)] for r in range(4)], atol=1e-5)


def test_volume_written_by_slicer_storage_reads_in_simpleitk(mrml_scene, tmp_path):
    img = _oblique_image(np.float32)
    node = image_to_volume_node(img)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    mrml_scene.AddNode(storage)
    path = tmp_path / "from_slicer.nrrd"
    storage.SetFileName(str(path))
    assert storage.WriteData(node)
    peer = Image.from_sitk(sitk.ReadImage(str(path)))
    assert np.array_equal(peer.array, img.array)
    assert peer.same_geometry(img, tol_mm=1e-5)


def test_volume_node_errors_name_the_problem(mrml_scene):
    empty = mrml_scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    with pytest.raises(InputError, match="'empty' has no image data"):
        volume_node_to_image(empty)
    node = image_to_volume_node(_oblique_image(), name="moved")
    tf = mrml_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    node.SetAndObserveTransformNodeID(tf.GetID())
    with pytest.raises(InputError, match="harden the transform"):
        volume_node_to_image(node)
    with pytest.raises(InputError, match="expected a volume node"):
        volume_node_to_image(mrml_scene.AddNewNodeByClass("vtkMRMLTableNode"))
    with pytest.raises(InputError, match="medlabel Image"):
        image_to_volume_node(np.zeros((2, 2, 2)))


# -- segmentations ------------------------------------------------------------------------------------
def test_segmentation_roundtrip_in_memory_is_exact(mrml_scene):
    img = _oblique_image()
    ls = _labelset(img)
    volume = image_to_volume_node(img)
    node = labelset_to_segmentation_node(ls, reference_volume=volume)
    seg = node.GetSegmentation()
    assert seg.GetNumberOfSegments() == 3
    vseg = seg.GetSegment("muscle")
    assert vseg.GetName() == "muscle"
    assert segment_tags(vseg)["MedLabel.Annotator"] == "reader 1"
    assert vseg.GetTerminology() == TERMS["skeletal_muscle"].to_slicer()
    # peer: slicer.util exports each segment onto the reference volume's grid
    for s in ls:
        assert np.array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(node, s.id, volume).astype(bool), s.mask)
    assert_labelsets_equal(ls, segmentation_node_to_labelset(node))
    assert_labelsets_equal(ls, segmentation_node_to_labelset(node, reference_volume=volume))


def test_segmentation_without_reference_volume_uses_labelset_grid(mrml_scene):
    ls = _labelset(Geometry((4, 5, 6), SPACING, ORIGIN, tuple(OBLIQUE.ravel())))
    node = labelset_to_segmentation_node(ls, name="no volume")
    assert node.GetName() == "no volume"
    assert_labelsets_equal(ls, segmentation_node_to_labelset(node))


def test_segments_read_from_slicer_editing_are_exact(mrml_scene):
    """Segments set by Slicer's own helper (updateSegmentBinaryLabelmapFromArray) read back exactly."""
    img = _oblique_image()
    volume = image_to_volume_node(img)
    node = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    mask = np.zeros(img.shape, np.uint8)
    mask[1:4, 2:5, 3:6] = 1
    seg_id = node.GetSegmentation().AddEmptySegment("box", "box", [0.2, 0.4, 0.6])
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, node, seg_id, volume)
    ls = segmentation_node_to_labelset(node)
    assert ls.names == ["box"] and ls["box"].id == seg_id
    assert np.array_equal(ls["box"].mask, mask.astype(bool))
    assert np.allclose(ls["box"].color, (0.2, 0.4, 0.6))


def test_shared_labelmap_layers_keep_segments_apart(mrml_scene):
    img = _oblique_image(shape=(3, 8, 9))
    ls = LabelSet(img)
    left = np.zeros(img.shape, bool)
    left[:, :, :4] = True
    right = np.zeros(img.shape, bool)
    right[:, :, 6:] = True
    ls.add_mask("left", left, terminology="bone")
    ls.add_mask("right", right, terminology="vertebra")
    node = labelset_to_segmentation_node(ls)
    seg = node.GetSegmentation()
    assert seg.GetNumberOfLayers() == 2
    seg.CollapseBinaryLabelmaps(False)  # Slicer merges non-overlapping segments into one layer
    assert seg.GetNumberOfLayers() == 1
    assert_labelsets_equal(ls, segmentation_node_to_labelset(node))


def test_without_reference_geometry_the_union_of_labelmaps_is_used(mrml_scene):
    ls = _labelset(Geometry((4, 5, 6), SPACING, ORIGIN, tuple(OBLIQUE.ravel())))
    node = labelset_to_segmentation_node(ls)
    node.GetSegmentation().SetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(), "")
    assert_labelsets_equal(ls, segmentation_node_to_labelset(node))


def test_cropped_labelmap_is_placed_on_reference_grid(mrml_scene):
    """A segmentation on a sub-block of the volume (origin moved by whole voxels) lands at the right offset."""
    img = _oblique_image(shape=(6, 7, 8))
    volume = image_to_volume_node(img)
    sub = img.slab(2, 5)  # slices 2..4, origin moved along k
    sub_ls = LabelSet(sub)
    m = np.zeros(sub.shape, bool)
    m[0, 1, 2] = m[2, 6, 7] = m[1, 3, 3] = True
    sub_ls.add_mask("dots", m, terminology="nodule")
    node = labelset_to_segmentation_node(sub_ls)
    full = segmentation_node_to_labelset(node, reference_volume=volume)
    expected = np.zeros(img.shape, bool)
    expected[2:5] = m
    assert full.geometry.matches(Geometry.of(img))
    assert np.array_equal(full["dots"].mask, expected)


def test_coarser_segmentation_is_resampled_nearest_neighbour(mrml_scene):
    fine = Image(np.zeros((4, 8, 8), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    volume = image_to_volume_node(fine)
    coarse = Geometry((2, 4, 4), (2.0, 2.0, 2.0), (0.5, 0.5, 0.5))  # voxel centres between fine ones
    ls = LabelSet(coarse)
    m = np.zeros(coarse.shape, bool)
    m[1, 2, 3] = True  # covers fine voxels z 2..3, y 4..5, x 6..7
    ls.add_mask("block", m, terminology="lesion")
    node = labelset_to_segmentation_node(ls)
    out = segmentation_node_to_labelset(node, reference_volume=volume)["block"].mask
    expected = np.zeros(fine.shape, bool)
    expected[2:4, 4:6, 6:8] = True
    assert np.array_equal(out, expected)


def test_segmentation_errors(mrml_scene):
    img = _oblique_image()
    other = image_to_volume_node(Image(np.zeros((5, 6, 8), np.int16), SPACING, ORIGIN, OBLIQUE), name="wide")
    with pytest.raises(GeometryError, match="reference volume 'wide'"):
        labelset_to_segmentation_node(_labelset(img), reference_volume=other)
    with pytest.raises(InputError, match="expects a LabelSet"):
        labelset_to_segmentation_node({"a": np.zeros(3)})
    with pytest.raises(InputError, match="expected a segmentation node"):
        segmentation_node_to_labelset(other)
    empty = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "blank")
    with pytest.raises(GeometryError, match="'blank' has no reference geometry"):
        segmentation_node_to_labelset(empty)


def test_seg_nrrd_through_slicer_storage_roundtrip(mrml_scene, tmp_path):
    """LabelSet → node → Slicer writes .seg.nrrd → Slicer reads → LabelSet: everything kept."""
    img = _oblique_image()
    ls = _labelset(img)
    node = labelset_to_segmentation_node(ls, reference_volume=image_to_volume_node(img))
    path = tmp_path / "labels.seg.nrrd"
    writer = slicer.vtkMRMLSegmentationStorageNode()
    mrml_scene.AddNode(writer)
    writer.SetFileName(str(path))
    assert writer.WriteData(node)
    back_node = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    reader = slicer.vtkMRMLSegmentationStorageNode()
    mrml_scene.AddNode(reader)
    reader.SetFileName(str(path))
    assert reader.ReadData(back_node)
    assert_labelsets_equal(ls, segmentation_node_to_labelset(back_node))


def _pynrrd_segments(path):
    """Independent reading of a Slicer .seg.nrrd with pynrrd: {id: (name, mask (z, y, x), color, tags)}."""
    data, header = nrrd.read(str(path))
    if data.ndim == 3:
        data = data[np.newaxis]
    data = np.transpose(data, (0, 3, 2, 1))  # (layer, x, y, z) → (layer, z, y, x)
    out = {}
    i = 0
    while f"Segment{i}_ID" in header:
        h = {k[len(f"Segment{i}_"):]: v for k, v in header.items() if k.startswith(f"Segment{i}_")}
        mask = data[int(h["Layer"])] == int(h["LabelValue"])
        tags = dict(t.split(":", 1) for t in h.get("Tags", "").split("|") if t)
        out[h["ID"]] = (h["Name"], mask, tuple(float(c) for c in h["Color"].split()), tags)
        i += 1
    return out, header


@pytest.mark.parametrize("name", ["Segmentation.seg.nrrd", "SegmentationOverlapping.seg.nrrd"])
def test_real_slicer_files_read_through_bridge_match_pynrrd(mrml_scene, name):
    path = data_path(f"slicerio/{name}")
    node = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    reader = slicer.vtkMRMLSegmentationStorageNode()
    mrml_scene.AddNode(reader)
    reader.SetFileName(str(path))
    assert reader.ReadData(node)
    ls = segmentation_node_to_labelset(node)
    truth, header = _pynrrd_segments(path)
    assert [s.id for s in ls] == list(truth)
    assert np.allclose(ls.geometry.origin_lps, header["space origin"])
    for s in ls:
        tname, tmask, tcolor, ttags = truth[s.id]
        assert s.name == tname
        assert np.array_equal(s.mask, tmask), s.name
        assert np.allclose(s.color, tcolor, atol=1e-6)
        assert s.terminology is not None and s.terminology.to_slicer() == ttags.pop("TerminologyEntry")
        assert s.tags == ttags
    assert ls.overlapping() == (name == "SegmentationOverlapping.seg.nrrd")


# -- tables -------------------------------------------------------------------------------------------
def test_table_roundtrip_keeps_types_and_missing_values(mrml_scene):
    df = pd.DataFrame({
        "patient": ["P1", "P2", None],
        "area_cm2": [150.25, np.nan, 99.5],
        "slice": np.array([3, 4, 5], np.int64),
        "flag": [True, False, True],
        "count": np.array([1, 2, 3], np.int32),
    })
    node = dataframe_to_table_node(df, name="metrics", units={"area_cm2": "cm2"}, descriptions={"slice": "L3 slice"})
    assert node.GetName() == "metrics" and node.GetNumberOfRows() == 3 and node.GetNumberOfColumns() == 5
    assert node.GetColumnUnitLabel("area_cm2") == "cm2"
    assert node.GetColumnDescription("slice") == "L3 slice"
    assert node.GetCellText(1, 0) == "P2"
    back = table_node_to_dataframe(node)
    assert list(back.columns) == list(df.columns)
    assert back["patient"].tolist() == ["P1", "P2", ""]
    assert np.array_equal(back["area_cm2"].to_numpy(), df["area_cm2"].to_numpy(), equal_nan=True)
    assert back["slice"].dtype == np.int64 and back["slice"].tolist() == [3, 4, 5]
    assert back["flag"].dtype == bool and back["flag"].tolist() == [True, False, True]
    assert back["count"].dtype == np.int32
    # slicer.util's own reader sees the same numbers
    assert slicer.util.dataframeFromTable(node)["area_cm2"].tolist()[0] == 150.25


def test_table_index_and_errors(mrml_scene):
    df = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="segment"))
    back = table_node_to_dataframe(dataframe_to_table_node(df))
    assert back.columns.tolist() == ["segment", "v"] and back["segment"].tolist() == ["a", "b"]
    node = dataframe_to_table_node(pd.DataFrame({"x": [1]}), name="t")
    dataframe_to_table_node(pd.DataFrame({"y": [1.5, 2.5]}), node)  # refill replaces columns
    assert table_node_to_dataframe(node).columns.tolist() == ["y"]
    with pytest.raises(InputError, match="duplicated: a"):
        dataframe_to_table_node(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(InputError, match="pandas DataFrame"):
        dataframe_to_table_node({"a": [1]})


def test_headless_scene_wires_slicer_util(mrml_scene):
    assert slicer.mrmlScene is mrml_scene
    labelmap = slicer.modules.volumes.logic().CreateAndAddLabelVolume(
        image_to_volume_node(_oblique_image()), "lab")
    assert labelmap.GetScene() is mrml_scene
    assert slicer.modules.segmentations.logic() is mrml_scene.medlabel_logics.segmentations


# -- interoperability with medlabel.io's .seg.nrrd ------------------------------------------------------
def _slicer_read_seg(scene, path):
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    reader = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(reader)
    reader.SetFileName(str(path))
    assert reader.ReadData(node), f"slicer-core could not read {path}"
    return node


@pytest.mark.parametrize(("overlap", "direction"), [(True, OBLIQUE), (False, OBLIQUE), (True, SAGITTAL_LEFT_HANDED)])
def test_seg_nrrd_written_by_engine_loads_in_slicer_core(mrml_scene, tmp_path, overlap, direction):
    from medlabel.io import write_seg_nrrd

    img = Image(_oblique_image().array, SPACING, ORIGIN, direction)
    ls = _labelset(img)
    if not overlap:
        ls.remove("sat")
        assert not ls.overlapping()
    path = write_seg_nrrd(ls, tmp_path / "engine.seg.nrrd")
    node = _slicer_read_seg(mrml_scene, path)
    assert node.GetSegmentation().GetNumberOfLayers() == (2 if overlap else 1)
    assert_labelsets_equal(ls, segmentation_node_to_labelset(node))


@pytest.mark.parametrize("direction", [OBLIQUE, SAGITTAL_LEFT_HANDED], ids=["oblique", "sagittal-left-handed"])
def test_seg_nrrd_written_by_slicer_core_reads_in_engine(mrml_scene, tmp_path, direction):
    from medlabel.io import read_seg_nrrd

    img = Image(_oblique_image().array, SPACING, ORIGIN, direction)
    ls = _labelset(img)
    node = labelset_to_segmentation_node(ls, reference_volume=image_to_volume_node(img))
    path = tmp_path / "slicer.seg.nrrd"
    writer = slicer.vtkMRMLSegmentationStorageNode()
    mrml_scene.AddNode(writer)
    writer.SetFileName(str(path))
    assert writer.WriteData(node)
    assert_labelsets_equal(ls, read_seg_nrrd(path))


@pytest.mark.parametrize("name", ["Segmentation.seg.nrrd", "SegmentationOverlapping.seg.nrrd"])
def test_real_slicer_files_bridge_equals_engine_reader(mrml_scene, name):
    from medlabel.io import read_seg_nrrd

    path = data_path(f"slicerio/{name}")
    via_slicer = segmentation_node_to_labelset(_slicer_read_seg(mrml_scene, path))
    assert_labelsets_equal(read_seg_nrrd(path), via_slicer)


def test_repeated_names_and_awkward_tag_values(mrml_scene, caplog):
    img = _oblique_image(shape=(2, 3, 4))
    node = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.SetReferenceImageGeometryParameterFromVolumeNode(image_to_volume_node(img))
    seg = node.GetSegmentation()
    first = seg.AddEmptySegment("a", "liver", [1.0, 0.0, 0.0])
    second = seg.AddEmptySegment("b", "liver", [0.0, 1.0, 0.0])
    seg.GetSegment(first).SetTag("Note", "line one\nTags:\nFake: not a tag")
    seg.GetSegment(first).SetTag("When", "2026-11-23T10:00:00+00:00")
    seg.GetSegment(second).SetTag("Bad", "x|y")
    ls = segmentation_node_to_labelset(node)
    assert ls.names == ["liver", f"liver ({second})"]
    tags = ls["liver"].tags
    assert tags["Note"] == "line one\nTags:\nFake: not a tag" and tags["When"] == "2026-11-23T10:00:00+00:00"
    assert "Fake" not in tags
    assert "Bad" not in ls[f"liver ({second})"].tags and "tag 'Bad'='x|y' dropped" in caplog.text


# -- vtkOrientedImageData (Segment Editor effects) ------------------------------------------------------
def test_oriented_image_with_offset_extent_roundtrip(mrml_scene):
    from medlabel.slicer_bridge import array_to_oriented_image, oriented_image_to_image

    volume_img = _oblique_image(shape=(6, 7, 8))
    rng = np.random.default_rng(5)
    block = rng.random((3, 4, 5)) > 0.5
    # an effect's labelmap covering only part of the volume: VTK extent i 2..6, j 1..4, k 2..4
    like = Image(block, SPACING, tuple(volume_img.index_to_lps([[2, 1, 2]])[0]), OBLIQUE, {"extent": (2, 6, 1, 4, 2, 4)})
    oriented = array_to_oriented_image(block, like)
    assert oriented.GetExtent() == (2, 6, 1, 4, 2, 4)
    m = vtk.vtkMatrix4x4()
    oriented.GetImageToWorldMatrix(m)
    ras = m.MultiplyPoint((0.0, 0.0, 0.0, 1.0))[:3]  # index 0 of the full grid = the volume's origin
    assert np.allclose(ras, (-ORIGIN[0], -ORIGIN[1], ORIGIN[2]), atol=1e-9)
    back = oriented_image_to_image(oriented)
    assert back.meta["extent"] == (2, 6, 1, 4, 2, 4)
    assert np.array_equal(back.array.astype(bool), block) and back.same_geometry(like, tol_mm=1e-9)
    # peer: as a segment's labelmap, Slicer's segmentation places it on the full volume grid
    volume = image_to_volume_node(volume_img)
    node = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    seg_id = node.GetSegmentation().AddEmptySegment("part", "part", [1.0, 0.0, 0.0])
    assert slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
        oriented, node, seg_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE)
    expected = np.zeros(volume_img.shape, bool)
    expected[2:5, 1:5, 2:7] = block
    assert np.array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(node, seg_id, volume).astype(bool), expected)


def test_update_oriented_image_from_array_takes_reference_geometry(mrml_scene):
    from medlabel.slicer_bridge import (
        array_to_oriented_image,
        oriented_image_to_image,
        update_oriented_image_from_array,
    )

    source = array_to_oriented_image(_oblique_image(shape=(2, 3, 4)).array, _oblique_image(shape=(2, 3, 4)))
    target = slicer.vtkOrientedImageData()
    mask = np.zeros((2, 3, 4), bool)
    mask[1, 2, 3] = True
    update_oriented_image_from_array(target, mask, reference=source)
    out = oriented_image_to_image(target)
    assert out.array.dtype == np.uint8 and np.array_equal(out.array.astype(bool), mask)
    assert out.same_geometry(oriented_image_to_image(source), tol_mm=1e-9)
    with pytest.raises(GeometryError, match=r"array shape \(1, 3, 4\) differs"):
        update_oriented_image_from_array(target, np.zeros((1, 3, 4)), reference=source)
    with pytest.raises(InputError, match="vtkOrientedImageData or an Image"):
        array_to_oriented_image(mask, "grid")


def test_closed_surface_segment_is_rasterised_on_the_reference_grid(mrml_scene):
    """A segment that exists only as a closed surface (model, RTSTRUCT import) is converted to a
    binary labelmap by Slicer's converter; its volume matches the analytic sphere volume."""
    grid = Image(np.zeros((40, 40, 40), np.int16), (1.0, 1.0, 1.0), (-20.0, -20.0, -20.0))
    volume = image_to_volume_node(grid)
    node = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    sphere = vtk.vtkSphereSource()
    sphere.SetRadius(10.0)
    sphere.SetThetaResolution(64)
    sphere.SetPhiResolution(64)
    sphere.Update()
    node.GetSegmentation().SetSourceRepresentationName(
        slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName())
    node.AddSegmentFromClosedSurfaceRepresentation(sphere.GetOutput(), "sphere", [0.2, 0.8, 0.2])
    ls = segmentation_node_to_labelset(node, reference_volume=volume)
    expected = 4.0 / 3.0 * np.pi * 10.0**3  # mm³ with 1 mm voxels
    assert abs(ls["sphere"].voxel_count - expected) / expected < 0.05
    zc, yc, xc = np.argwhere(ls["sphere"].mask).mean(axis=0)
    assert np.allclose((zc, yc, xc), (20.0, 20.0, 20.0), atol=0.1)  # voxel 20 is at the origin, the centre
