"""DICOM SEG read/write against dcmqi's labelmaps, highdicom's own reader and the QIN PET SEG."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from conftest import data_path
from medlabel.dicom_seg import read_dicom_seg, write_dicom_seg
from medlabel.errors import DicomError, GeometryError, InputError, OutputExistsError
from medlabel.io import read_image, read_segmentation
from medlabel.labels import TAG_ANNOTATOR, TAG_MODEL, TAG_TOOL, TERMS, LabelSet


@pytest.fixture(scope="module")
def ct3():
    return read_image(data_path("dcmqi/ct-3slice"))


def _lps_points(mask: np.ndarray, kji_to_lps) -> set[tuple[float, float, float]]:
    idx = np.argwhere(mask)
    pts = kji_to_lps(idx)
    return {tuple(p) for p in np.round(pts, 2)}


def test_dcmqi_liver_on_reference_matches_labelmap_voxel_exact(ct3):
    ls = read_dicom_seg(data_path("dcmqi/liver.dcm"), reference=ct3)
    truth = read_image(data_path("dcmqi/liver_seg.nrrd"))
    assert truth.same_geometry(ct3)
    assert ls.names == ["Liver"]
    np.testing.assert_array_equal(ls["Liver"].mask, truth.array > 0)
    assert ls["Liver"].voxel_count == int((truth.array > 0).sum()) > 1000
    term = ls["Liver"].terminology
    assert term.type.meaning == "Liver" and term.category.meaning == "Tissue"
    assert ls["Liver"].tags[TAG_TOOL] == "semi-automatic"
    # lead's generic reader dispatches here
    assert read_segmentation(data_path("dcmqi/liver.dcm"), reference=ct3)["Liver"].voxel_count == ls["Liver"].voxel_count


def test_dcmqi_liver_without_reference_builds_the_same_grid(ct3):
    ls = read_dicom_seg(data_path("dcmqi/liver.dcm"))
    g = ls.geometry
    assert g.shape == ct3.shape
    np.testing.assert_allclose(g.origin_lps, ct3.origin_lps, atol=1e-3)
    np.testing.assert_allclose(g.spacing_mm, ct3.spacing_mm, atol=1e-4)
    truth = read_image(data_path("dcmqi/liver_seg.nrrd")).array > 0
    np.testing.assert_array_equal(ls["Liver"].mask, truth)


@pytest.mark.parametrize("name", ["seg_image_ct_binary", "seg_image_ct_binary_overlap",
                                  "seg_image_ct_binary_fractional", "seg_image_ct_true_fractional"])
def test_highdicom_test_files_agree_with_highdicom_volume(name):
    path = data_path(f"highdicom/{name}.dcm")
    ls = read_dicom_seg(path)
    seg = hd.seg.segread(str(path))
    vol = seg.get_volume()  # (slices, rows, cols, segments) + affine of (k, j, i)
    arr = vol.array
    if str(seg.SegmentationType) == "FRACTIONAL":
        arr = arr / float(seg.MaximumFractionalValue) >= 0.5 if arr.max() > 1 else arr >= 0.5
    aff = vol.affine

    def hd_lps(idx):
        return (aff @ np.c_[idx, np.ones(len(idx))].T).T[:, :3]

    img = ls.geometry.empty_image()
    assert len(ls) == seg.number_of_segments
    for n, s in enumerate(ls, start=1):
        ours = _lps_points(s.mask, img.index_to_lps)
        theirs = _lps_points(arr[..., n - 1] > 0, hd_lps)
        assert ours == theirs and len(ours) > 0
        assert s.name == seg.get_segment_description(n).segment_label


def test_overlapping_segments_keep_both_masks():
    ls = read_dicom_seg(data_path("highdicom/seg_image_ct_binary_overlap.dcm"))
    a, b = ls.segments
    assert (a.mask & b.mask).any()


def test_write_then_read_with_highdicom(tmp_path, ct3):
    ls = LabelSet(ct3)
    m1 = np.zeros(ct3.shape, bool)
    m1[0:2, 100:180, 150:260] = True
    m1[0, 120:130, 200:210] = False
    ls.add_mask("Lesion A", m1, terminology="lesion",
                tags={TAG_TOOL: "automatic", TAG_MODEL: "unet@1.2", TAG_ANNOTATOR: "reader1"})
    m2 = np.zeros(ct3.shape, bool)
    m2[1:3, 300:400, 50:100] = True
    m2[1:3, 170:180, 250:255] = True  # overlaps lesion A on slice 1
    ls.add_mask("skeletal_muscle", m2, tags={TAG_ANNOTATOR: "reader1"})
    out = write_dicom_seg(ls, ct3.meta["files"], tmp_path / "seg.dcm", series_description="test")

    seg = hd.seg.segread(str(out))
    assert seg.number_of_segments == 2
    assert str(seg.ContentCreatorName) == "reader1"
    # masks by source instance, placed through the CT files' own SOPInstanceUIDs (independent of our grid code)
    uids = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in ct3.meta["files"]]
    px = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1, 2],
                                           combine_segments=False)
    np.testing.assert_array_equal(px[..., 0] > 0, m1)
    np.testing.assert_array_equal(px[..., 1] > 0, m2)
    d1, d2 = seg.get_segment_description(1), seg.get_segment_description(2)
    assert d1.segment_label == "Lesion A" and d2.segment_label == "skeletal_muscle"
    assert d1.segmented_property_type.value == TERMS["lesion"].type.value
    assert d1.segmented_property_category.value == TERMS["lesion"].category.value
    assert d2.segmented_property_type.value == "127954009"
    assert d1.algorithm_type.value == "AUTOMATIC" and d2.algorithm_type.value == "MANUAL"
    assert d1.algorithm_identification[0].AlgorithmName == "unet@1.2"

    back = read_dicom_seg(out, reference=ct3)
    for s in ls:
        r = back[s.name]
        np.testing.assert_array_equal(r.mask, s.mask)
        assert r.terminology.type == s.terminology.type and r.terminology.category == s.terminology.category
        assert np.allclose(r.color, s.color, atol=0.02)
    assert back["Lesion A"].tags[TAG_MODEL] == "unet@1.2"

    with pytest.raises(OutputExistsError):
        write_dicom_seg(ls, ct3.meta["files"], out)
    write_dicom_seg(ls, ct3.meta["files"], out, force=True)


def test_write_rejects_wrong_grid_and_empty(tmp_path, ct3):
    small = LabelSet(ct3.slab(0, 2))
    small.add_mask("x", np.ones(small.geometry.shape, bool))
    with pytest.raises(GeometryError, match="resample"):
        write_dicom_seg(small, ct3.meta["files"], tmp_path / "a.dcm")
    empty = LabelSet(ct3)
    empty.add_mask("nothing", np.zeros(ct3.shape, bool))
    with pytest.raises(InputError, match="empty"):
        write_dicom_seg(empty, ct3.meta["files"], tmp_path / "b.dcm")
    assert not list(tmp_path.iterdir())


def test_qin_seg_on_pet_grid_matches_source_instances():
    pet = read_image(data_path("tcia_qin_headneck/image"))
    path = data_path("tcia_qin_headneck/mask/mask.dcm")
    ls = read_dicom_seg(path, reference=pet)
    assert len(ls) == 11 and ls.geometry.shape == pet.shape
    assert ls.names[0] == "Neoplasm, Primary"
    assert ls.segments[0].tags[TAG_ANNOTATOR] == "User2"
    seg = hd.seg.segread(str(path))
    uids = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in pet.meta["files"]]
    referenced = {i.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence for i in s.ReferencedInstanceSequence}
    ks = [k for k, u in enumerate(uids) if u in referenced]
    px = seg.get_pixels_by_source_instance(source_sop_instance_uids=[uids[k] for k in ks],
                                           segment_numbers=list(range(1, 12)), combine_segments=False,
                                           ignore_spatial_locations=True)
    for n, s in enumerate(ls):
        full = np.zeros(pet.shape, bool)
        full[ks] = px[..., n] > 0
        np.testing.assert_array_equal(s.mask, full)
    z = pet.slice_z_mm()[np.nonzero(np.any(np.sum([s.mask for s in ls], 0), axis=(1, 2)))[0]]
    assert z.min() == pytest.approx(-1077.6, abs=0.1) and z.max() == pytest.approx(-935.9, abs=0.1)


def test_wrong_reference_and_non_seg_file(ct3):
    with pytest.raises(GeometryError, match="pixel spacing|outside|between"):
        read_dicom_seg(data_path("tcia_qin_headneck/mask/mask.dcm"), reference=ct3)
    with pytest.raises(DicomError, match="not a DICOM SEG"):
        read_dicom_seg(ct3.meta["files"][0])


@pytest.mark.parametrize("modality", ["PET", "CT"])
def test_rtstruct_rasterised_like_the_shipped_masks(modality):
    """STS_001's RT structure sets on their own series equal mirp's NIfTI masks voxel for voxel."""
    from medlabel.rtstruct import read_rtstruct

    base = f"tcia_sts/STS_001/{modality}"
    image = read_image(data_path(f"{base}/dicom/image"))
    ls = read_rtstruct(data_path(f"{base}/dicom/mask/RS.dcm"), reference=image)
    truth = read_image(data_path(f"{base}/nifti/mask/mask.nii.gz")).array > 0
    assert ls.names == [f"GTV_Mass_{modality}"]
    np.testing.assert_array_equal(ls.segments[0].mask, truth)
    assert ls.segments[0].tags[TAG_TOOL] == "manual" and ls.segments[0].color == (1.0, 0.0, 0.0)
    with pytest.raises(DicomError, match="not found"):
        read_rtstruct(data_path(f"{base}/dicom/mask/RS.dcm"), reference=image, names=["Liver"])


def test_rtstruct_on_wrong_reference_is_a_geometry_error(ct3):
    from medlabel.rtstruct import read_rtstruct

    with pytest.raises(GeometryError, match="reference image"):
        read_rtstruct(data_path("tcia_sts/STS_001/PET/dicom/mask/RS.dcm"), reference=ct3)
    with pytest.raises(DicomError, match="RT Structure Set"):
        read_dicom_seg(data_path("tcia_sts/STS_001/PET/dicom/mask/RS.dcm"))


def test_dcmqi_partial_overlaps_match_their_input_labelmaps(ct3):
    """dcmqi's 5 overlapping segments were made from 3 label maps: segment n = value n in one of them."""
    ls = read_dicom_seg(data_path("dcmqi/partial_overlaps.dcm"), reference=ct3)
    maps = [read_image(data_path(f"dcmqi/partial_overlaps-{i}.nrrd")).array for i in (1, 2, 3)]
    assert len(ls) == 5 and ls.overlapping()
    for s in ls:
        n = int(s.tags["DICOM.SegmentNumber"])
        truth = np.any([m == n for m in maps], axis=0)
        assert truth.any()
        np.testing.assert_array_equal(s.mask, truth)
