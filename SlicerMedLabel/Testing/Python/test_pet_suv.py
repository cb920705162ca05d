"""SUV conversion: real QIN-HEADNECK PET (BQML, START) against an independent pydicom computation,
STS PET (GML), and edge cases on synthetic tags (missing tags, CNTS, ADMIN/START/NONE, midnight)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from conftest import data_path
from medlabel.errors import InputError, MissingTagError
from medlabel.pet.series import read_pet_series, read_suv
from medlabel.pet.suv import (
    PetTags,
    bsa_dubois_m2,
    lbm_james_kg,
    lbm_janmahasatian_kg,
    parse_dicom_datetime,
    parse_dicom_time,
    pet_tags_from_headers,
    suv_conversion,
)

QIN = "tcia_qin_headneck/image"


@pytest.fixture(scope="module")
def qin():
    return read_pet_series(data_path(QIN))


def _seconds(tm: str) -> float:
    """TM 'HHMMSS.ffff' to seconds since midnight, written out plainly for the independent check."""
    return int(tm[0:2]) * 3600 + int(tm[2:4]) * 60 + float(tm[4:])


def test_qin_suvbw_matches_independent_pydicom_computation(qin):
    files = sorted(Path(data_path(QIN)).glob("*.dcm"))
    ds0 = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert ds0.Units == "BQML" and ds0.DecayCorrection == "START"
    rp = ds0.RadiopharmaceuticalInformationSequence[0]
    dose = float(rp.RadionuclideTotalDose)
    half = float(rp.RadionuclideHalfLife)
    t_inj = _seconds(rp.RadiopharmaceuticalStartTime)
    acq_min = min(_seconds(pydicom.dcmread(f, stop_before_pixels=True).AcquisitionTime) for f in files)
    t_ref = min(_seconds(ds0.SeriesTime), acq_min)
    decayed = dose * 2.0 ** (-(t_ref - t_inj) / half)
    factor = float(ds0.PatientWeight) * 1000.0 / decayed

    suv, conv = qin.to_suv()
    assert conv.factor == pytest.approx(factor, rel=1e-9)
    assert conv.uptake_time_s == pytest.approx(t_ref - t_inj, abs=1e-3)
    # every slice: raw stored values * slope + intercept, * factor, matched by position
    z_of = {round(float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]), 3): f for f in files}
    zs = suv.slice_z_mm()
    for k in range(0, suv.shape[0], 17):
        ds = pydicom.dcmread(z_of[round(float(zs[k]), 3)])
        expected = (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)) * factor
        np.testing.assert_allclose(suv.array[k], expected, rtol=1e-6, atol=1e-6)
    assert suv.meta["Units"] == "g/ml"


def test_qin_lbm_needs_height_then_works_by_hand(qin):
    with pytest.raises(MissingTagError, match=r"PatientSize"):
        qin.to_suv(suv_type="lbm")
    _, bw = qin.to_suv()
    _, lbm = qin.to_suv(suv_type="lbm", height_m=1.80)
    w, h = 123.6, 180.0
    james = 1.10 * w - 128.0 * (w / h) ** 2
    janma = 9270.0 * w / (6680.0 + 216.0 * w / 1.8**2)
    assert lbm.lbm_kg == pytest.approx(janma)
    assert lbm.factor == pytest.approx(bw.factor * janma / w)
    _, lbm_j = qin.to_suv(suv_type="lbm", height_m=1.80, lbm_formula="james")
    assert lbm_j.lbm_kg == pytest.approx(james)


def test_sts_gml_is_already_suv():
    series = read_pet_series(data_path("tcia_sts/STS_001/PET/dicom/image"))
    suv, conv = series.to_suv()
    assert conv.input_units == "GML" and conv.factor == 1.0
    np.testing.assert_array_equal(suv.array, series.image.array)
    import SimpleITK as sitk

    nii = sitk.GetArrayFromImage(sitk.ReadImage(str(data_path("tcia_sts/STS_001/PET/nifti/image/image.nii.gz"))))
    assert nii.shape == suv.shape
    assert abs(float(nii.max()) - float(suv.array.max())) < 1e-3 * float(nii.max())
    # lbm/bsa use the header's weight 71 kg and height 1.63 m
    _, bsa = series.to_suv(suv_type="bsa")
    assert bsa.bsa_m2 == pytest.approx(0.007184 * 71**0.425 * 163**0.725)
    assert bsa.factor == pytest.approx(bsa.bsa_m2 * 1e4 / 71000.0)
    assert bsa.units == "cm2/ml"


def test_read_suv_rejects_unknown_option():
    with pytest.raises(InputError, match="unknown SUV option"):
        read_suv(data_path("tcia_sts/STS_001/PET/dicom/image"), weight=70)


# -- formulas -----------------------------------------------------------------------------------

def test_body_formulas_hand_checked():
    # 80 kg, 1.70 m: BMI 27.68
    assert lbm_james_kg(80, 1.70, "M") == pytest.approx(88.0 - 128 * (80 / 170) ** 2)  # 59.65
    assert lbm_james_kg(80, 1.70, "F") == pytest.approx(85.6 - 148 * (80 / 170) ** 2)  # 52.82
    assert lbm_janmahasatian_kg(80, 1.70, "M") == pytest.approx(741600 / (6680 + 216 * 80 / 2.89), rel=1e-9)
    assert lbm_janmahasatian_kg(80, 1.70, "female") == pytest.approx(741600 / (8780 + 244 * 80 / 2.89), rel=1e-9)
    assert round(lbm_james_kg(80, 1.70, "M"), 2) == 59.65
    assert round(bsa_dubois_m2(80, 1.70), 3) == 1.915  # 0.007184 * 6.439 * 41.41
    with pytest.raises(InputError, match="metres"):
        bsa_dubois_m2(80, 170)
    with pytest.raises(MissingTagError, match="PatientSex"):
        lbm_james_kg(80, 1.7, "O")


def test_dicom_time_parsing():
    assert parse_dicom_time("084500.000000") == dt.time(8, 45)
    assert parse_dicom_time("0845") == dt.time(8, 45)
    assert parse_dicom_time("08:45:30.5") == dt.time(8, 45, 30, 500000)
    assert parse_dicom_datetime("20240301084500.25+0100") == dt.datetime(2024, 3, 1, 8, 45, 0, 250000)
    assert parse_dicom_time("") is None
    with pytest.raises(InputError, match="not a DICOM time"):
        parse_dicom_time("8h45")


# -- synthetic tags -----------------------------------------------------------------------------

DAY = dt.date(2021, 5, 4)


def _tags(**kw) -> PetTags:
    base = dict(source="synthetic", units="BQML", decay_correction="START", injected_dose_bq=400e6,
                half_life_s=6586.2, injection_datetime=dt.datetime.combine(DAY, dt.time(9, 0)),
                series_datetime=dt.datetime.combine(DAY, dt.time(10, 0)),
                acquisition_datetimes=(dt.datetime.combine(DAY, dt.time(10, 0)),) * 3,
                weight_kg=80.0, height_m=1.7, sex="F")
    base.update(kw)
    return PetTags(**base)


def test_start_vs_admin_decay_correction():
    start = suv_conversion(_tags())
    admin = suv_conversion(_tags(decay_correction="ADMIN"))
    assert admin.factor == pytest.approx(80000.0 / 400e6)
    assert start.factor == pytest.approx(80000.0 / (400e6 * math.exp(-math.log(2) * 3600 / 6586.2)))
    assert start.factor / admin.factor == pytest.approx(2 ** (3600 / 6586.2))
    # ADMIN needs no times at all
    no_times = _tags(decay_correction="ADMIN", injection_datetime=None, series_datetime=None,
                     acquisition_datetimes=())
    assert suv_conversion(no_times).factor == pytest.approx(admin.factor)


def test_decay_none_is_per_slice():
    acq = tuple(dt.datetime.combine(DAY, dt.time(10, m)) for m in (0, 3, 6))
    conv = suv_conversion(_tags(decay_correction="NONE", acquisition_datetimes=acq))
    expected = [80000.0 / (400e6 * 2 ** (-(3600 + 180 * i) / 6586.2)) for i in range(3)]
    np.testing.assert_allclose(conv.factor_per_slice, expected, rtol=1e-12)
    vals = np.ones((3, 2, 2))
    np.testing.assert_allclose(conv.apply(vals)[:, 0, 0], expected)
    with pytest.raises(InputError, match="differ per slice"):
        _ = conv.factor


def test_series_time_after_first_acquisition_uses_acquisition():
    acq = (dt.datetime.combine(DAY, dt.time(9, 50)),) * 3
    conv = suv_conversion(_tags(acquisition_datetimes=acq))
    assert conv.uptake_time_s == pytest.approx(50 * 60)
    assert "earliest acquisition" in "; ".join(conv.notes)


@pytest.mark.parametrize("field, tag, option", [
    ("weight_kg", "PatientWeight", "weight_kg"),
    ("injected_dose_bq", "RadionuclideTotalDose", "injected_dose_bq"),
    ("half_life_s", "RadionuclideHalfLife", "half_life_s"),
    ("injection_datetime", "RadiopharmaceuticalStartDateTime", "injection_datetime"),
    ("units", "Units", None),
])
def test_missing_tag_names_the_tag_and_can_be_supplied(field, tag, option):
    tags = _tags(**{field: None})
    with pytest.raises(MissingTagError, match=tag) as err:
        suv_conversion(tags)
    assert "synthetic" in str(err.value)
    if option is None:
        return
    given = {"weight_kg": 80.0, "injected_dose_bq": 400e6, "half_life_s": 6586.2,
             "injection_datetime": "09:00"}[option]
    assert suv_conversion(tags, **{option: given}).factor == pytest.approx(suv_conversion(_tags()).factor)


def test_series_time_missing_can_be_supplied():
    tags = _tags(series_datetime=None, acquisition_datetimes=())
    with pytest.raises(MissingTagError, match="SeriesDate/SeriesTime"):
        suv_conversion(tags)
    conv = suv_conversion(tags, reference_datetime="2021-05-04T10:00:00")
    assert conv.factor == pytest.approx(suv_conversion(_tags()).factor)


def test_injection_after_acquisition_start_is_an_error():
    tags = _tags(injection_datetime=dt.datetime.combine(DAY, dt.time(10, 30)))
    with pytest.raises(InputError, match="after the acquisition"):
        suv_conversion(tags)
    # time-only injection 30 min after the scan: moving it a day back gives 23.5 h uptake > 12 h -> error
    tags = _tags(injection_datetime=None, injection_time=dt.time(10, 30))
    with pytest.raises(InputError, match="after the acquisition"):
        suv_conversion(tags)


def test_midnight_crossing_with_time_only_injection():
    next_day = DAY + dt.timedelta(days=1)
    tags = _tags(injection_datetime=None, injection_time=dt.time(23, 30),
                 series_datetime=dt.datetime.combine(next_day, dt.time(0, 40)),
                 acquisition_datetimes=(dt.datetime.combine(next_day, dt.time(0, 40)),) * 3)
    conv = suv_conversion(tags)
    assert conv.uptake_time_s == pytest.approx(70 * 60)
    assert conv.injection_datetime == dt.datetime.combine(DAY, dt.time(23, 30))
    assert "midnight" in "; ".join(conv.notes)


def test_cnts_with_philips_suv_factor_and_activity_factor():
    tags = _tags(units="CNTS", philips_suv_factor=(0.002, 0.002, 0.003))
    conv = suv_conversion(tags)
    np.testing.assert_allclose(conv.factor_per_slice, [0.002, 0.002, 0.003])
    # activity concentration factor only: counts -> Bq/ml, then the BQML rules
    tags = _tags(units="CNTS", philips_suv_factor=(None,) * 3, philips_activity_factor=(5.0, 5.0, 5.0))
    np.testing.assert_allclose(suv_conversion(tags).factor_per_slice, 5.0 * suv_conversion(_tags()).factor)
    tags = _tags(units="CNTS", philips_suv_factor=(None,) * 3, philips_activity_factor=(None,) * 3)
    with pytest.raises(MissingTagError, match=r"7053,1000"):
        suv_conversion(tags)


def test_unsupported_units_and_bad_options():
    with pytest.raises(InputError, match="Units 'PROPCNTS'"):
        suv_conversion(_tags(units="PROPCNTS"))
    with pytest.raises(InputError, match="suv_type='ibw'"):
        suv_conversion(_tags(), suv_type="ibw")


def _header(z: float, *, units="CNTS", suv_factor=None, as_bytes=False) -> Dataset:
    ds = Dataset()
    ds.Modality = "PT"
    ds.Units = units
    ds.DecayCorrection = "START"
    ds.SeriesDate, ds.SeriesTime = "20210504", "100000"
    ds.AcquisitionDate, ds.AcquisitionTime = "20210504", "100000"
    ds.PatientWeight, ds.PatientSex = "80", "F"
    rp = Dataset()
    rp.RadiopharmaceuticalStartTime = "090000"
    rp.RadionuclideTotalDose = "400000000"
    rp.RadionuclideHalfLife = "6586.2"
    ds.RadiopharmaceuticalInformationSequence = [rp]
    ds.ImagePositionPatient = [0, 0, z]
    if suv_factor is not None:
        if as_bytes:  # implicit-VR files without a private dictionary give UN bytes
            ds.add_new(0x70531000, "UN", f"{suv_factor} ".encode())
        else:
            ds.add_new(0x70531000, "DS", str(suv_factor))
    return ds


@pytest.mark.parametrize("as_bytes", [False, True])
def test_tags_from_headers_philips_private_tag(as_bytes):
    heads = [_header(float(z), suv_factor=0.0025, as_bytes=as_bytes) for z in range(3)]
    tags = pet_tags_from_headers(heads, source="philips")
    assert tags.philips_suv_factor == (0.0025,) * 3
    assert tags.injection_datetime is None and tags.injection_time == dt.time(9)
    assert suv_conversion(tags).factor == pytest.approx(0.0025)
    # the same headers as BQML go through the decay path and agree with the hand formula
    heads = [_header(float(z), units="BQML") for z in range(3)]
    conv = suv_conversion(pet_tags_from_headers(heads))
    assert conv.factor == pytest.approx(80000.0 / (400e6 * 2 ** (-3600 / 6586.2)))


def test_non_attenuation_corrected_series_is_refused_unless_allowed():
    tags = _tags(corrected_image=("DECY", "NORM"))
    with pytest.raises(InputError, match="not attenuation corrected"):
        suv_conversion(tags)
    conv = suv_conversion(tags, require_attenuation_correction=False)
    assert conv.factor == pytest.approx(suv_conversion(_tags()).factor)
    assert "ATTN" in "; ".join(conv.notes)
    assert suv_conversion(_tags(corrected_image=("ATTN", "DECY"))).notes == ()
    disagree = suv_conversion(_tags(corrected_image=("ATTN",)))
    assert "lacks DECY" in "; ".join(disagree.notes)


def test_folder_with_pet_and_ct_picks_the_pet(tmp_path):
    # the CT files twice (duplicated positions): the CT is the largest series, the reader's default
    for prefix, mod in (("PET_", "PET"), ("CT_", "CT"), ("CT2_", "CT")):
        for f in data_path(f"tcia_sts/STS_001/{mod}/dicom/image").glob("*.dcm"):
            (tmp_path / f"{prefix}{f.name}").symlink_to(f)
    from medlabel.io import MedLabelWarning, read_image

    with pytest.warns(MedLabelWarning):  # several series; duplicated CT positions
        assert read_image(tmp_path).meta["Modality"] == "CT"
    series = read_pet_series(tmp_path)
    assert series.image.meta["Modality"] == "PT" and series.image.shape == (59, 43, 41)
    assert all(Path(f).name.startswith("PET_") for f in series.image.meta["files"])
