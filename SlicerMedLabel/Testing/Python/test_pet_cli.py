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


def test_bsa_scales_suv_and_rtstruct_is_refused(tmp_path, capsys):
    mask = str(data_path("tcia_sts/STS_001/PET/nifti/mask/mask.nii.gz"))
    assert main(["pet-stats", str(data_path(STS_PET)), mask, "-o", str(tmp_path / "a")]) == 0
    assert main(["pet-stats", str(data_path(STS_PET)), mask, "-o", str(tmp_path / "b"), "--suv", "bsa"]) == 0
    a = pd.read_csv(tmp_path / "a" / "pet_stats.csv").iloc[0]
    b = pd.read_csv(tmp_path / "b" / "pet_stats.csv").iloc[0]
    bsa_cm2 = 0.007184 * 71**0.425 * 163**0.725 * 1e4  # header: 71 kg, 1.63 m
    assert b.suv_max == pytest.approx(a.suv_max * bsa_cm2 / 71000.0)
    assert b.suv_type == "bsa" and b.suv_units == "cm2/ml"
    # RT structure sets are refused with a clear message
    rc = main(["pet-stats", str(data_path(STS_PET)), str(data_path("tcia_sts/STS_001/PET/dicom/mask/RS.dcm")),
               "-o", str(tmp_path / "c")])
    assert rc == 2 and "RT Structure Set" in capsys.readouterr().err
