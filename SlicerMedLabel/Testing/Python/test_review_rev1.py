"""Regression tests for defects found in the engine/CLI correctness review (rev1).

Each test failed before its fix: bad inputs must give one clear MedLabelError line (exit 2), and
results must not depend on how an image is stored (axis order / flips of a NIfTI copy).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import data_path
from medlabel.cli import main
from medlabel.errors import MedLabelError
from medlabel.image import Image

STS_PET = "tcia_sts/STS_001/PET/dicom/image"


def _not_dicom(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"this is not DICOM\n")
    return bad


def test_read_segmentation_corrupt_dcm_is_a_medlabel_error(tmp_path):
    from medlabel import io

    bad = _not_dicom(tmp_path)
    with pytest.raises(MedLabelError, match="broken.dcm"):
        io.read_segmentation(bad)


def test_consensus_corrupt_dcm_one_line_error(tmp_path, capsys):
    bad = _not_dicom(tmp_path)
    rc = main(["consensus", "-o", str(tmp_path / "out"), str(bad),
               str(data_path("lidc_idri_0314/reader1.nii.gz"))])
    err = capsys.readouterr().err
    assert rc == 2 and "broken.dcm" in err and "Traceback" not in err


def test_pet_stats_corrupt_dcm_one_line_error(tmp_path, capsys):
    bad = _not_dicom(tmp_path)
    rc = main(["pet-stats", str(data_path(STS_PET)), str(bad), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "broken.dcm" in err
    assert not (tmp_path / "out" / "pet_stats.csv").exists()


def _permuted_ct() -> Image:
    """A small CT whose array axis k runs left-right (sagittal storage, like DICOMOrient 'PIL')."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(data_path("totalsegmentator/example_ct.nii.gz")))
    img = img[:, :, 60:80]
    return Image.from_sitk(sitk.DICOMOrient(img, "PIL"))


def test_bodycomp_refuses_non_axial_slices():
    from medlabel.bodycomp.slices import choose_slices

    image = _permuted_ct()
    assert abs(image.direction[2, 2]) < 0.5  # the k axis is not the patient z axis
    # a slice index would silently pick a sagittal plane and call it L3; a z position makes no sense
    for kw in ({"slice_index": 10}, {"slice_mm": float(image.index_to_lps(np.array([[0, 0, 0]]))[0, 2])}):
        with pytest.raises(MedLabelError, match="axial"):
            choose_slices(image, **kw)


def test_negative_surface_tolerance_is_refused(tmp_path, capsys):
    from medlabel.review.agreement import agreement_tables

    a = np.zeros((4, 8, 8), bool)
    a[1:3, 2:6, 2:6] = True
    # before the fix this silently reported surface Dice 0 for identical masks
    with pytest.raises(MedLabelError, match="tolerance_mm"):
        agreement_tables({"r1": {"s": a}, "r2": {"s": a}}, spacing_mm=(1, 1, 1), tolerance_mm=-1.0)
    out = tmp_path / "out"
    rc = main(["consensus", "-o", str(out), "--tolerance-mm", "-1",
               str(data_path("lidc_idri_0314/reader1.nii.gz")), str(data_path("lidc_idri_0314/reader2.nii.gz"))])
    assert rc == 2 and "tolerance_mm" in capsys.readouterr().err
    assert not (out / "pairwise.csv").exists()


QIN = ("tcia_qin_headneck/image", "tcia_qin_headneck/mask/mask.dcm")


@pytest.mark.parametrize("opts, names", [
    (["--weight-kg", "-3"], "weight"),          # used to say "PatientWeight is missing"
    (["--weight-kg", "70000"], "weight"),       # grams given as kg: used to give SUVs 1000x too high
    (["--half-life-s", "-5"], "half"),          # used to say "RadionuclideHalfLife is missing"
    (["--threshold", "absolute", "--threshold-value", "-1"], "threshold"),  # MTV silently = segment
])
def test_pet_stats_bad_values_are_named(tmp_path, capsys, opts, names):
    out = tmp_path / "out"
    rc = main(["pet-stats", str(data_path(QIN[0])), str(data_path(QIN[1])), "-o", str(out), *opts])
    err = capsys.readouterr().err
    assert rc == 2 and "missing" not in err and names in err.lower() and opts[-1] in err
    assert not (out / "pet_stats.csv").exists()


def test_suv_conversion_checks_given_values_even_for_gml():
    import datetime as dt

    from medlabel.pet.suv import PetTags, suv_conversion

    tags = PetTags(units="GML", decay_correction="START", injected_dose_bq=370e6, half_life_s=6586.2,
                   injection_datetime=dt.datetime(2020, 1, 1, 9), series_datetime=dt.datetime(2020, 1, 1, 10),
                   weight_kg=70.0)
    assert suv_conversion(tags).factor == 1.0  # values are SUVbw already
    with pytest.raises(MedLabelError, match="weight_kg"):
        suv_conversion(tags, weight_kg=-3.0)  # a given value that is wrong must not be ignored silently


def test_label_tissues_same_on_in_plane_transposed_storage():
    """An axial CT stored with rows along left-right (e.g. DICOMOrient 'PLS') is the same anatomy:
    before the fix the muscle area at L3 came out 55 % low (T-score -2.6 instead of +0.3)."""
    from medlabel import io
    from medlabel.bodycomp import label_tissues

    ct = io.read_image(data_path("tcia_crlm/CRLM-CT-1006"))
    one = Image(ct.array[9:10], ct.spacing_mm, tuple(ct.index_to_lps(np.array([[9, 0, 0]]))[0]), ct.direction)
    # same voxels, same physical grid: swap the array's y and x axes and the direction columns of i and j
    tr = Image(one.array.transpose(0, 2, 1).copy(), (one.spacing_mm[0], one.spacing_mm[2], one.spacing_mm[1]),
               one.origin_lps, np.asarray(one.direction)[:, [1, 0, 2]])
    np.testing.assert_allclose(tr.index_to_lps(np.array([[0, 5, 7]])), one.index_to_lps(np.array([[0, 7, 5]])))
    a, b = label_tissues(one), label_tissues(tr)
    for name in ("skeletal_muscle", "subcutaneous_fat", "visceral_fat", "intermuscular_fat"):
        ma, mb = a[name].mask, b[name].mask.transpose(0, 2, 1)
        assert ma.sum() > 100
        np.testing.assert_array_equal(ma, mb, err_msg=name)


def _transposed(image: Image) -> Image:
    """The same physical grid stored with the array's y and x axes swapped (rows along left-right)."""
    return Image(image.array.transpose(0, 2, 1).copy(), (image.spacing_mm[0], image.spacing_mm[2],
                 image.spacing_mm[1]), image.origin_lps, np.asarray(image.direction)[:, [1, 0, 2]], dict(image.meta))


def test_auto_l3_same_on_in_plane_transposed_storage():
    """Before the fix the pelvis search looked 'left/right' along the rows of a transposed image and put
    L3 outside the scan."""
    from medlabel import io
    from medlabel.bodycomp.slices import suggest_l3

    ct = io.read_image(data_path("tcia_crlm/CRLM-CT-1006"))
    small = Image(ct.array[:, ::2, ::2].copy(), (ct.spacing_mm[0], 2 * ct.spacing_mm[1], 2 * ct.spacing_mm[2]),
                  ct.origin_lps, ct.direction)
    a, b = suggest_l3(small), suggest_l3(_transposed(small))
    assert a.method == "auto_l3_image" and 5 <= a.index <= 12  # PROVENANCE: L3 at about k = 6..12
    assert (b.index, b.confidence) == (a.index, a.confidence)


def test_autolabel_unet_same_on_in_plane_transposed_storage():
    """The U-Net is trained on rows = anterior->posterior; a transposed axial image must be turned into
    that orientation (and its spacing swapped), not only flipped."""
    pytest.importorskip("torch")
    from medlabel import io
    from medlabel.autolabel import default_registry, predict
    from medlabel.autolabel.shipped import SHIPPED_NAME

    ct = io.read_image(data_path("tcia_crlm/CRLM-CT-1006"))
    one = Image(ct.array[9:10], ct.spacing_mm, tuple(ct.index_to_lps(np.array([[9, 0, 0]]))[0]), ct.direction)
    reg = default_registry(user_dirs=[])
    a = predict(one, SHIPPED_NAME, registry=reg)["skeletal_muscle"].mask
    b = predict(_transposed(one), SHIPPED_NAME, registry=reg)["skeletal_muscle"].mask.transpose(0, 2, 1)
    assert a.sum() * one.pixel_area_mm2 / 100 > 60  # a plausible L3 muscle area (cm²)
    assert (a & b).sum() * 2 / (a.sum() + b.sum()) > 0.98  # was 0.76 before the fix


def test_consensus_accepts_a_reader_stored_in_another_orientation(tmp_path):
    """Same voxels, stored RAS-flipped (as many NIfTI writers do): the review must give the same numbers.
    Before the fix the run stopped with 'axis directions ... differ ... cannot be compared'."""
    import pandas as pd
    import SimpleITK as sitk

    readers = [data_path(f"lidc_idri_0314/reader{r}.nii.gz") for r in (1, 2, 3)]
    flipped = tmp_path / "reader3.nii.gz"
    sitk.WriteImage(sitk.DICOMOrient(sitk.ReadImage(str(readers[2])), "RAI"), str(flipped))
    assert main(["consensus", "--no-surface", "-o", str(tmp_path / "a"), *map(str, readers)]) == 0
    with pytest.warns(UserWarning, match="resampled"):
        assert main(["consensus", "--no-surface", "-o", str(tmp_path / "b"), *map(str, readers[:2]), str(flipped)]) == 0
    a, b = (pd.read_csv(tmp_path / d / "pairwise.csv") for d in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)
    pa, pb = (pd.read_csv(tmp_path / d / "per_annotator.csv") for d in ("a", "b"))
    pd.testing.assert_frame_equal(pa, pb)


def test_autolabel_refuses_non_axial_slices():
    """The models label 2-D axial slices; a sagittal-stored image used to get 'visceral fat' on sagittal planes."""
    from medlabel.autolabel import predict

    image = _permuted_ct()
    with pytest.raises(MedLabelError, match="axial"):
        predict(image, "rule-based-bodycomp", slices=10)


def test_autolabel_checks_reference_and_score_outputs_before_writing(tmp_path, capsys):
    """A bad --reference or an existing --scores file used to fail only after the .seg.nrrd was written."""
    ct = str(data_path("totalsegmentator/example_ct_sm.nii.gz"))
    out = tmp_path / "proposal.seg.nrrd"
    base = ["autolabel", ct, "-o", str(out), "--model", "rule-based-bodycomp", "--slices", "3", "--no-progress"]
    assert main([*base, "--reference", str(_not_dicom(tmp_path))]) == 2
    assert "broken.dcm" in capsys.readouterr().err and not out.exists()
    scores = tmp_path / "scores.csv"
    scores.write_text("keep me\n")
    ref = str(data_path("totalsegmentator/example_seg_tissue_types/skeletal_muscle.nii.gz"))
    assert main([*base, "--reference", ref, "--scores", str(scores)]) == 2
    assert "exists" in capsys.readouterr().err and not out.exists()
    assert scores.read_text() == "keep me\n"


def _empty_reader(tmp_path, name):
    import SimpleITK as sitk

    m = sitk.ReadImage(str(data_path("lidc_idri_0314/reader1.nii.gz")))
    f = tmp_path / f"{name}.nii.gz"
    sitk.WriteImage(m * 0, str(f))
    return str(f)


def test_consensus_with_an_annotator_who_drew_nothing(tmp_path, capsys):
    """An empty label map is a legitimate 'drew nothing' (flagged missing_annotator): the run used to stop
    half-way with 'refusing to write annotations/empty.seg.nrrd' after the tables were written."""
    import pandas as pd

    out = tmp_path / "out"
    rc = main(["consensus", "--no-surface", "-o", str(out), _empty_reader(tmp_path, "empty"),
               str(data_path("lidc_idri_0314/reader1.nii.gz")), str(data_path("lidc_idri_0314/reader2.nii.gz"))])
    assert rc == 0, capsys.readouterr().err
    flags = pd.read_csv(out / "flags.csv")
    assert ((flags.flag == "missing_annotator") & (flags.annotator == "empty")).any()
    assert (out / "review.json").exists() and (out / "annotations" / "reader1.seg.nrrd").exists()


def test_consensus_all_empty_is_one_clear_error(tmp_path, capsys):
    """Used to end in a pandas KeyError traceback."""
    rc = main(["consensus", "--no-surface", "-o", str(tmp_path / "out"), _empty_reader(tmp_path, "e1"),
               _empty_reader(tmp_path, "e2")])
    err = capsys.readouterr().err
    assert rc == 2 and "e1" in err and "e2" in err and "Traceback" not in err


def test_bodycomp_slice_without_body_is_refused(tmp_path):
    """A slice outside the body (air only) used to give SMA 0 cm² rows with no warning."""
    from medlabel.bodycomp import run_study

    ct = Image(np.full((3, 64, 64), -1000.0, np.float32), (3.0, 5.0, 5.0), meta={"source": "air.nii.gz"})
    with pytest.raises(MedLabelError, match="no body"):
        run_study(ct, slice_index=1)


def test_pet_stats_empty_segmentation_is_refused(tmp_path, capsys):
    """An all-zero label map used to give an empty table and exit code 0."""
    import SimpleITK as sitk

    m = sitk.ReadImage(str(data_path("tcia_sts/STS_001/PET/nifti/mask/mask.nii.gz")))
    empty = tmp_path / "empty.nii.gz"
    sitk.WriteImage(m * 0, str(empty))
    out = tmp_path / "out"
    assert main(["pet-stats", str(data_path(STS_PET)), str(empty), "-o", str(out)]) == 2
    assert "empty.nii.gz" in capsys.readouterr().err and not (out / "pet_stats.csv").exists()
