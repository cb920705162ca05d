"""Loading annotations: identity from manifest / tags / file names; grids resampled or refused."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import data_path
from medlabel import io
from medlabel.errors import GeometryError, InputError, ReadError
from medlabel.io import MedLabelWarning
from medlabel.labels import TAG_ANNOTATOR, TAG_SKILL, Geometry, LabelSet
from medlabel.review.inputs import (
    align_annotations,
    annotation_from_labelset,
    load_annotations,
    masks_by_annotator,
    resample_labelset,
)

READERS = [data_path(f"lidc_idri_0314/reader{i}.nii.gz") for i in range(1, 5)]


def test_lidc_readers_named_after_their_files():
    anns = load_annotations(READERS, label_names={1: "nodule"})
    assert [a.annotator for a in anns] == ["reader1", "reader2", "reader3", "reader4"]
    assert [a.labels["nodule"].voxel_count for a in anns] == [3148, 3850, 2592, 3730]  # PROVENANCE.md
    assert set(masks_by_annotator(anns)["reader2"]) == {"nodule"}


def _labelset(geom, mask, annotator=None, skill=None):
    ls = LabelSet(geom)
    tags = {}
    if annotator:
        tags[TAG_ANNOTATOR] = annotator
    if skill:
        tags[TAG_SKILL] = skill
    ls.add_mask("liver", mask, tags=tags)
    return ls


def test_folder_tags_and_manifest(tmp_path):
    geom = Geometry((4, 10, 12), (2.0, 1.0, 1.0), (5.0, -3.0, 10.0))
    m = np.zeros(geom.shape, bool)
    m[1:3, 2:8, 3:9] = True
    io.write_seg_nrrd(_labelset(geom, m, "dr_a", "novice"), tmp_path / "file_one.seg.nrrd")
    io.write_seg_nrrd(_labelset(geom, m), tmp_path / "file_two.seg.nrrd")
    anns = load_annotations(tmp_path)
    assert [(a.annotator, a.skill) for a in anns] == [("dr_a", "novice"), ("file_two", "expert")]
    manifest = tmp_path / "team.csv"
    manifest.write_text("file,annotator,skill,tool\nfile_two.seg.nrrd,dr_b,novice,semi-automatic\n"
                        "file_one.seg.nrrd,dr_c,expert,manual\n")
    anns = load_annotations(manifest=manifest)
    assert [(a.annotator, a.skill, a.tool) for a in anns] == [("dr_b", "novice", "semi-automatic"),
                                                              ("dr_c", "expert", "manual")]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,who\nx,y\n")
    with pytest.raises(InputError, match="needs columns 'file' and 'annotator'"):
        load_annotations(manifest=bad)
    io.write_seg_nrrd(_labelset(geom, m, "dr_a"), tmp_path / "file_three.seg.nrrd")
    with pytest.raises(InputError, match="appears twice"):
        load_annotations(tmp_path)
    with pytest.raises(ReadError, match="does not exist"):
        load_annotations([tmp_path / "nope.seg.nrrd"])


def test_compatible_grid_is_resampled_with_a_warning():
    ref = Geometry((6, 20, 20), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    fine = Geometry((12, 40, 40), (1.0, 0.5, 0.5), (-0.25, -0.25, -0.5))  # same extent, half the voxel size
    m_ref = np.zeros(ref.shape, bool)
    m_ref[2:4, 5:15, 6:12] = True
    m_fine = np.repeat(np.repeat(np.repeat(m_ref, 2, 0), 2, 1), 2, 2)
    a = annotation_from_labelset(_labelset(ref, m_ref, "a"))
    b = annotation_from_labelset(_labelset(fine, m_fine, "b"))
    with pytest.warns(MedLabelWarning, match="resampled onto the reference"):
        out = align_annotations([a, b])
    np.testing.assert_array_equal(out[1].labels["liver"].mask, m_ref)
    assert out[1].labels.geometry == ref and b.labels.geometry == fine  # input untouched


def test_incompatible_grids_raise():
    ref = Geometry((6, 20, 20), (2.0, 1.0, 1.0))
    far = Geometry((6, 20, 20), (2.0, 1.0, 1.0), (500.0, 0.0, 0.0))
    m = np.ones(ref.shape, bool)
    with pytest.raises(GeometryError, match="does not overlap"):
        resample_labelset(_labelset(far, m, "x"), ref)
    c, s = np.cos(np.deg2rad(30.0)), np.sin(np.deg2rad(30.0))
    rotated = Geometry((6, 20, 20), (2.0, 1.0, 1.0), direction=(c, -s, 0, s, c, 0, 0, 0, 1))
    with pytest.raises(GeometryError, match="axis directions"):
        resample_labelset(_labelset(rotated, m, "x"), ref)
    # x and y swapped (the same voxel lattice stored transposed) is resampled exactly instead
    swapped = Geometry((6, 20, 20), (2.0, 1.0, 1.0), direction=(0, 1, 0, 1, 0, 0, 0, 0, 1))
    ms = np.zeros(ref.shape, bool)
    ms[1:4, 2:5, 6:15] = True
    with pytest.warns(MedLabelWarning, match="resampled"):
        out = resample_labelset(_labelset(swapped, ms, "x"), ref)
    np.testing.assert_array_equal(out["liver"].mask, ms.transpose(0, 2, 1))
    with pytest.raises(InputError, match="has no annotator"):
        annotation_from_labelset(_labelset(ref, m))


def test_dicom_seg_and_label_map_of_the_same_liver():
    """dcmqi's liver.dcm (DICOM SEG) was made from liver_seg.nrrd: two 'annotators' that agree exactly."""
    from medlabel.review.consensus import review

    anns = load_annotations([data_path("dcmqi/liver.dcm"), data_path("dcmqi/liver_seg.nrrd")],
                            label_names={1: "Liver"})
    assert [a.annotator for a in anns] == ["liver", "liver_seg"]
    res = review(anns, method="staple")
    assert res.pairwise.loc[0, "dice"] == 1.0 and res.pairwise.loc[0, "hd_mm"] == 0.0
    np.testing.assert_array_equal(res.consensus["Liver"].mask, anns[1].labels["Liver"].mask)
    assert not res.disagreement.any() and res.flags.empty
