"""medlabel.io: every real volume loads with the right geometry; bad input gives clear errors."""

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import data_path
from medlabel import io
from medlabel.errors import DicomError, GeometryError, InputError, OutputExistsError, ReadError
from medlabel.image import Image
from medlabel.labels import TERMS, LabelSet

# path, shape (z, y, x), spacing (z, y, x) mm, (min, max) of values
VOLUMES = [
    ("totalsegmentator/example_ct.nii.gz", (112, 101, 122), (3.0, 3.0, 3.0), (-1207, 3382)),
    ("totalsegmentator/example_ct_sm.nii.gz", (30, 101, 122), (3.0, 3.0, 3.0), (-1100, 3382)),
    ("totalsegmentator/example_ct_dicom", (20, 512, 512), (2.0, 0.9765625, 0.9765625), (-1024, 1839)),
    ("tcia_crlm/CRLM-CT-1006/image", (51, 512, 512), (5.0, 0.8047, 0.8047), (-3024, 1184)),
    ("tcia_sts/STS_001/CT/dicom/image", (59, 202, 198), (3.27, 0.977, 0.977), (-1000, 1397)),
    ("tcia_sts/STS_001/PET/dicom/image", (59, 43, 41), (3.27, 4.6875, 4.6875), (0, 25.5)),
    ("tcia_sts/STS_001/CT/nifti/image/image.nii.gz", (59, 202, 198), (3.27, 0.977, 0.977), (-1000, 1397)),
    ("lidc_idri_0314/image", (29, 512, 512), (1.0, 0.78125, 0.78125), (-1000, 1753)),
    ("dcmqi/ct-3slice", (3, 512, 512), (1.0, 0.8105, 0.8105), (-3024, 1381)),
    ("slicerio/CTChest4.nrrd", (34, 128, 128), (10.0, 3.047, 3.047), (-3024, 3070)),
    ("highdicom/ct_image.dcm", (1, 128, 128), (None, 0.6615, 0.6615), (-1100, 2200)),
    ("tcia_qin_headneck/image", (545, 168, 168), (2.025, 3.394, 3.394), (0, 1e7)),
]


@pytest.mark.parametrize("rel,shape,spacing,value_range", VOLUMES, ids=[v[0] for v in VOLUMES])
def test_every_shared_volume_loads(rel, shape, spacing, value_range):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", io.MedLabelWarning)
        img = io.read_image(data_path(rel))
    if shape is not None:
        assert img.shape == shape
    for got, want in zip(img.spacing_mm, spacing, strict=True):
        if want is not None:
            assert got == pytest.approx(want, abs=2e-3)
    lo, hi = value_range
    assert img.array.min() >= lo - 1e-3 and img.array.max() <= hi + 1e-3
    assert np.isfinite(img.array).all()
    if img.meta.get("Modality") == "CT":
        assert img.array.min() < -500 < 0 < img.array.max()  # air and tissue in HU, i.e. rescaled


def test_jpeg2000_series_decodes_like_gdcm():
    folder = data_path("totalsegmentator/example_ct_dicom")
    ours = io.read_image(folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    ref = Image.from_sitk(reader.Execute())
    assert ours.same_geometry(ref, tol_mm=1e-3)
    assert np.array_equal(ours.array, ref.array.astype(np.float32))


def test_dicom_tags_reported():
    img = io.read_image(data_path("tcia_sts/STS_001/PET/dicom/image"))
    assert img.meta["Modality"] == "PT"
    assert img.meta["PatientSex"] == "M"
    assert img.meta["PatientSize"] == pytest.approx(1.63)
    assert img.meta["PatientWeight"] == pytest.approx(71.0)
    qin = io.read_image(data_path("tcia_qin_headneck/image"))
    assert qin.meta["Units"] == "BQML"
    assert qin.meta["DecayCorrection"] == "START"
    assert qin.meta["RadionuclideHalfLife"] == pytest.approx(6586.2)
    assert qin.meta["RadionuclideTotalDose"] == pytest.approx(587.9e6, rel=1e-3)
    assert len(qin.meta["files"]) == 545


def test_geometry_matches_simpleitk_for_dicom():
    folder = data_path("tcia_crlm/CRLM-CT-1006/image")
    ours = io.read_image(folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    ref = Image.from_sitk(reader.Execute())
    assert ours.same_geometry(ref, tol_mm=1e-3)
    assert np.allclose(ours.array, ref.array)


def test_empty_folder(tmp_path):
    with pytest.raises(DicomError, match="no DICOM image series"):
        io.read_image(tmp_path)


def test_non_image_dicom_alone(tmp_path):
    shutil.copy(data_path("tcia_sts/STS_001/CT/dicom/mask/RS.dcm"), tmp_path / "RS.dcm")
    with pytest.raises(DicomError, match="RT Structure Set"):
        io.read_image(tmp_path)
    with pytest.raises(DicomError, match="not an image"):
        io.read_image(tmp_path / "RS.dcm")


def test_corrupt_file(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x00" * 128 + b"DICM" + b"garbage" * 10)
    with pytest.raises(DicomError):
        io.read_image(bad)
    with pytest.raises(ReadError, match="unknown image format"):
        (tmp_path / "x.xyz").write_text("hello")
        io.read_image(tmp_path / "x.xyz")
    with pytest.raises(ReadError, match="does not exist"):
        io.read_image(tmp_path / "missing.nii.gz")


def test_several_series_pick_largest_and_warn(tmp_path):
    for f in data_path("dcmqi/ct-3slice").glob("*.dcm"):
        shutil.copy(f, tmp_path / f"a_{f.name}")
    for f in sorted(data_path("lidc_idri_0314/image").glob("*.dcm"))[:5]:
        shutil.copy(f, tmp_path / f"b_{f.name}")
    with pytest.warns(io.MedLabelWarning, match="2 image series; reading the largest"):
        img = io.read_image(tmp_path)
    assert img.shape[0] == 5
    series = io.list_dicom_series(tmp_path)
    small = [s for s in series if s["files"] == 3][0]["SeriesInstanceUID"]
    img3 = io.read_image(tmp_path, series_uid=small)
    assert img3.shape[0] == 3
    with pytest.raises(DicomError, match="not found"):
        io.read_image(tmp_path, series_uid="1.2.3")


def test_missing_and_duplicated_slices_warn(tmp_path):
    files = sorted(data_path("lidc_idri_0314/image").glob("*.dcm"))
    full = io.read_image(data_path("lidc_idri_0314/image"))
    locs = full.meta["SliceLocationsMm"]
    # drop the file holding the 10th slice
    drop = full.meta["files"][10]
    for f in files:
        if str(f) != drop:
            shutil.copy(f, tmp_path / f.name)
    shutil.copy(files[0], tmp_path / "dup.dcm")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        img = io.read_image(tmp_path)
    text = " ".join(str(x.message) for x in w)
    assert "duplicated slice position" in text
    assert "uneven slice spacing" in text and f"{locs[9]:.2f}" in text and "1 slice(s) missing" in text
    assert img.shape[0] == 28


def test_seg_nrrd_roundtrip_keeps_everything(tmp_path):
    src = data_path("slicerio/SegmentationOverlapping.seg.nrrd")
    ls = io.read_seg_nrrd(src)
    assert len(ls) == 8 and ls.overlapping()
    assert ls["right lung"].terminology.type.value == "39607008"
    assert ls["right lung"].tags["Segmentation.Status"] == "inprogress"
    out = io.write_seg_nrrd(ls, tmp_path / "copy.seg.nrrd")
    back = io.read_seg_nrrd(out)
    assert back.names == ls.names and back.geometry.matches(ls.geometry)
    for a, b in zip(ls, back, strict=True):
        assert np.array_equal(a.mask, b.mask) and a.tags == b.tags and a.terminology == b.terminology
        assert np.allclose(a.color, b.color, atol=1e-5)
    with pytest.raises(OutputExistsError, match="--force"):
        io.write_seg_nrrd(ls, out)
    io.write_seg_nrrd(ls, out, force=True)


def test_labelmap_and_geometry_mismatch(tmp_path):
    img = io.read_image(data_path("dcmqi/ct-3slice"))
    liver = io.read_segmentation(data_path("dcmqi/liver_seg.nrrd"), reference=img)
    assert len(liver) == 1 and liver.segments[0].voxel_count > 1000
    other = io.read_image(data_path("slicerio/CTChest4.nrrd"))
    with pytest.raises(GeometryError, match="does not match"):
        io.read_segmentation(data_path("dcmqi/liver_seg.nrrd"), reference=other)
    ls = LabelSet(img)
    m = np.zeros(img.shape, bool)
    m[1, 100:200, 100:300] = True
    ls.add_mask("skeletal_muscle", m)
    p = io.write_labelmap(ls, tmp_path / "lm.nii.gz")
    back = io.read_labelmap(p, names={1: "skeletal_muscle"}, reference=img)
    assert np.array_equal(back["skeletal_muscle"].mask, m)
    seg = io.write_seg_nrrd(ls, tmp_path / "a.seg.nrrd")
    with pytest.raises(GeometryError):
        io.read_segmentation(seg, reference=other)
    assert io.read_segmentation(seg, reference=img)["skeletal_muscle"].terminology == TERMS["skeletal_muscle"]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("keep me")
    with pytest.raises(RuntimeError):
        with io.atomic_write(target, force=True) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_written_files_get_normal_permissions(tmp_path):
    """Atomic writes go through mkstemp (owner-only 0600); the result must look like a normally created
    file (0666 minus the umask), or colleagues sharing the study folder cannot read it."""
    import stat

    import pandas as pd

    old = os.umask(0o022)
    try:
        paths = [io.write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv"),
                 io.write_image(Image(np.zeros((2, 3, 4), np.int16)), tmp_path / "i.nrrd")]
        normal = tmp_path / "normal.txt"
        normal.write_text("x")
    finally:
        os.umask(old)
    for p in paths:
        assert stat.S_IMODE(Path(p).stat().st_mode) == stat.S_IMODE(normal.stat().st_mode) == 0o644, p


def test_tables(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"a": [1, 2], "area_cm2": [1.5, 2.5]})
    for name in ("t.csv", "t.xlsx"):
        io.write_table(df, tmp_path / name)
        assert io.read_table(tmp_path / name).equals(df)
    with pytest.raises(InputError, match=".csv or .xlsx"):
        io.write_table(df, tmp_path / "t.txt")


def _all_volume_files():
    from conftest import SHARED_DATA

    files = sorted(p for p in SHARED_DATA.rglob("*") if p.name.endswith((".nii.gz", ".nii", ".nrrd")))
    return [str(p.relative_to(SHARED_DATA)) for p in files if "spine_report.nii.gz" not in p.name]


@pytest.mark.parametrize("rel", _all_volume_files())
def test_every_volume_file_in_shared_data_loads(rel):
    """Every NIfTI/NRRD volume (images, label maps, .seg.nrrd) loads as a 3-D grid with sane geometry."""
    path = data_path(rel)
    if rel.endswith(".seg.nrrd"):
        ls = io.read_seg_nrrd(path)
        assert len(ls) > 0 and all(s.voxel_count > 0 for s in ls)
        return
    img = io.read_image(path)
    assert img.array.ndim == 3 and min(img.shape) >= 1
    assert all(0.3 < s < 11 for s in img.spacing_mm)
    assert np.isfinite(img.array).all()
    assert abs(np.linalg.det(img.direction)) == pytest.approx(1.0, abs=1e-4)


def test_rendered_report_image_is_not_a_volume():
    # spine_report.nii.gz is a 2-D RGB picture (PROVENANCE.md): it must be refused as a scalar volume
    with pytest.raises(ReadError, match="components per voxel"):
        io.read_image(data_path("totalsegmentator/spine_report/spine_report.nii.gz"))


def test_read_segmentation_dispatches_dicom_seg_and_rtstruct():
    ct = io.read_image(data_path("tcia_sts/STS_001/CT/dicom/image"))
    gtv = io.read_segmentation(data_path("tcia_sts/STS_001/CT/dicom/mask/RS.dcm"), reference=ct)
    nifti = io.read_image(data_path("tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz"))
    assert np.array_equal(gtv.segments[0].mask, nifti.array > 0)
    with pytest.raises(InputError, match="RT structure set"):
        io.read_segmentation(data_path("tcia_sts/STS_001/CT/dicom/mask/RS.dcm"))
    img = io.read_image(data_path("dcmqi/ct-3slice"))
    liver = io.read_segmentation(data_path("dcmqi/liver.dcm"), reference=img)
    ref = io.read_segmentation(data_path("dcmqi/liver_seg.nrrd"), reference=img)
    assert np.array_equal(liver.segments[0].mask, ref.segments[0].mask)
