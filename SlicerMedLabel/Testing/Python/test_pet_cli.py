"""`medlabel pet-stats` end to end on the real PET series (in-process CLI calls)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pydicom
import pytest

from conftest import data_path
from medlabel.cli import main

STS_PET = "tcia_sts/STS_001/PET/dicom/image"


def test_qin_seg_table_json_and_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    args = [str(data_path("tcia_qin_headneck/image")), str(data_path("tcia_qin_headneck/mask/mask.dcm")),
            "-o", str(out), "--threshold", "relative", "--save-suv"]
    assert main(["pet-stats", *args]) == 0
    df = pd.read_csv(out / "pet_stats.csv")
    assert len(df) == 11 and df.segment.iloc[0] == "Neoplasm, Primary"
    assert (df.suv_type == "bw").all() and (df.threshold == "relative").all()
    np.testing.assert_allclose(df.threshold_suv, 0.41 * df.suv_max)
    rec = json.loads((out / "pet_stats.json").read_text())
    ds = pydicom.dcmread(sorted(data_path("tcia_qin_headneck/image").glob("*.dcm"))[0], stop_before_pixels=True)
    rp = ds.RadiopharmaceuticalInformationSequence[0]
    uptake = (10 * 3600 + 27 * 60 + 31.687) - (8 * 3600 + 45 * 60)  # SeriesTime - RadiopharmaceuticalStartTime
    factor = float(ds.PatientWeight) * 1000 / (float(rp.RadionuclideTotalDose) * 2 ** (-uptake / float(rp.RadionuclideHalfLife)))
    assert rec["suv_conversion"]["uptake_time_s"] == pytest.approx(uptake)
    assert rec["suv_conversion"]["suv_factor"] == pytest.approx(factor, rel=1e-9)
    assert rec["parameters"]["threshold"] == "relative" and rec["software"].startswith("medlabel")
    assert (out / "suv.nrrd").exists()
    assert "Neoplasm, Primary" in capsys.readouterr().out
    # a second run refuses to overwrite, names the file, and leaves it untouched
    before = (out / "pet_stats.csv").read_bytes()
    assert main(["pet-stats", *args]) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / "pet_stats.csv").read_bytes() == before


def test_sts_ct_mask_resampled_with_fraction_and_xlsx(tmp_path):
    out = tmp_path / "o"
    rc = main(["pet-stats", str(data_path(STS_PET)), str(data_path("tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz")),
               "-o", str(out), "--resample", "fraction", "--format", "xlsx"])
    assert rc == 0
    df = pd.read_excel(out / "pet_stats.xlsx")
    row = df.iloc[0]
    assert row.resampling == "fraction" and row.suv_max > 1
    # same GTV drawn on PET: the CT-drawn volume resampled with fractions keeps the CT volume
    import SimpleITK as sitk

    ct_mask = sitk.ReadImage(str(data_path("tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz")))
    ct_ml = float((sitk.GetArrayFromImage(ct_mask) > 0).sum()) * np.prod(ct_mask.GetSpacing()) / 1000.0
    assert row.volume_ml == pytest.approx(ct_ml, rel=0.02)


def test_bsa_scales_suv_and_rtstruct_is_read(tmp_path, capsys):
    mask = str(data_path("tcia_sts/STS_001/PET/nifti/mask/mask.nii.gz"))
    assert main(["pet-stats", str(data_path(STS_PET)), mask, "-o", str(tmp_path / "a")]) == 0
    assert main(["pet-stats", str(data_path(STS_PET)), mask, "-o", str(tmp_path / "b"), "--suv", "bsa"]) == 0
    a = pd.read_csv(tmp_path / "a" / "pet_stats.csv").iloc[0]
    b = pd.read_csv(tmp_path / "b" / "pet_stats.csv").iloc[0]
    bsa_cm2 = 0.007184 * 71**0.425 * 163**0.725 * 1e4  # header: 71 kg, 1.63 m
    assert b.suv_max == pytest.approx(a.suv_max * bsa_cm2 / 71000.0)
    assert b.suv_type == "bsa" and b.suv_units == "cm2/ml"
    # the shipped RT structure set (drawn on this PET) gives the same numbers as the NIfTI mask
    assert main(["pet-stats", str(data_path(STS_PET)), str(data_path("tcia_sts/STS_001/PET/dicom/mask/RS.dcm")),
                 "-o", str(tmp_path / "c")]) == 0
    c = pd.read_csv(tmp_path / "c" / "pet_stats.csv").iloc[0]
    assert c.segment == "GTV_Mass_PET"
    for col in ("voxel_count", "suv_max", "suv_mean", "suv_peak", "mtv_ml", "tlg"):
        assert c[col] == pytest.approx(a[col], rel=1e-12)
    # the CT structure set: its contours lie in the PET's slice planes here (same z positions), so they
    # are rasterised on the PET directly; with --reference they are rasterised on the CT and resampled
    ct_rs = str(data_path("tcia_sts/STS_001/CT/dicom/mask/RS.dcm"))
    assert main(["pet-stats", str(data_path(STS_PET)), ct_rs, "-o", str(tmp_path / "d")]) == 0
    assert main(["pet-stats", str(data_path(STS_PET)), ct_rs, "-o", str(tmp_path / "e"), "--resample", "fraction",
                 "--reference", str(data_path("tcia_sts/STS_001/CT/dicom/image"))]) == 0
    d = pd.read_csv(tmp_path / "d" / "pet_stats.csv").iloc[0]
    e = pd.read_csv(tmp_path / "e" / "pet_stats.csv").iloc[0]
    assert d.segment == e.segment == "GTV_Mass_CT" and d.resampling == "none" and e.resampling == "fraction"
    assert e.volume_ml == pytest.approx(d.volume_ml, rel=0.02)
    assert e.suv_max == d.suv_max

def test_ct_drawn_dicom_seg_with_and_without_reference(tmp_path):
    """A SEG written on the STS CT series (from the CT NIfTI mask) measured on the PET: with the CT as
    reference, with the SEG's own frame grid, and as the NIfTI label map all give the same numbers."""
    from medlabel.dicom_seg import write_dicom_seg
    from medlabel.io import read_image
    from medlabel.labels import LabelSet

    ct = read_image(data_path("tcia_sts/STS_001/CT/dicom/image"))
    mask = read_image(data_path("tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz"))
    assert ct.same_geometry(mask)
    labels = LabelSet(ct)
    labels.add_mask("GTV_Mass_CT", mask.array > 0, terminology="lesion")
    seg = write_dicom_seg(labels, ct.meta["files"], tmp_path / "ct_seg.dcm")
    pet = str(data_path(STS_PET))
    runs = {
        "ref": ["--reference", str(data_path("tcia_sts/STS_001/CT/dicom/image"))],
        "frames": [],
    }
    tables = {}
    for key, extra in runs.items():
        assert main(["pet-stats", pet, str(seg), "-o", str(tmp_path / key), *extra]) == 0
        tables[key] = pd.read_csv(tmp_path / key / "pet_stats.csv")
    assert main(["pet-stats", pet, str(data_path("tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz")),
                 "-o", str(tmp_path / "nii")]) == 0
    tables["nii"] = pd.read_csv(tmp_path / "nii" / "pet_stats.csv")
    for key in ("frames", "nii"):
        for col in ("voxel_count", "suv_max", "suv_mean", "suv_peak", "mtv_ml"):
            assert tables[key][col].iloc[0] == pytest.approx(tables["ref"][col].iloc[0], rel=1e-9), (key, col)
    assert tables["ref"].segment.iloc[0] == "GTV_Mass_CT"
