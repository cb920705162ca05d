"""Sex, height, weight sources and unit handling; muscle indices (medlabel.bodycomp.indices)."""

from __future__ import annotations

import math

import pytest

from medlabel.bodycomp import Anthropometrics, muscle_indices, normalize_sex, patient_height_weight
from medlabel.errors import InputError


def test_dicom_metres_used_as_is():
    a = patient_height_weight({"PatientSex": "F", "PatientSize": 1.62, "PatientWeight": 58.0})
    assert (a.sex, a.height_m, a.weight_kg) == ("F", 1.62, 58.0)
    assert (a.sex_source, a.height_source, a.weight_source) == ("dicom", "dicom", "dicom")
    assert a.bmi_kg_m2 == pytest.approx(58.0 / 1.62 ** 2)


def test_dicom_centimetres_converted_with_note():
    a = patient_height_weight({"PatientSize": "172", "PatientWeight": "80"})
    assert a.height_m == pytest.approx(1.72)
    assert a.height_source == "dicom (cm converted to m)"
    assert any("centimetres" in n for n in a.notes)


@pytest.mark.parametrize("size", [0.5, 3.4, 999.0])
def test_implausible_dicom_height_ignored(size):
    a = patient_height_weight({"PatientSize": size, "PatientWeight": 500})
    assert a.height_m is None and a.height_source == "missing"
    assert a.weight_kg is None and len(a.notes) == 2


def test_missing_tags_and_zero_size():
    a = patient_height_weight({"PatientSize": 0, "PatientSex": ""})
    assert (a.sex, a.height_m, a.weight_kg) == (None, None, None)
    assert a.notes == [] and a.bmi_kg_m2 is None
    idx = muscle_indices(150.0, a)
    assert idx["sma_cm2"] == 150.0 and all(math.isnan(idx[k]) for k in ("smi_cm2_m2", "sma_wt_cm2_kg", "sma_bmi"))


def test_user_values_win_and_are_checked():
    a = patient_height_weight({"PatientSex": "M", "PatientSize": 1.80, "PatientWeight": 90}, sex="female",
                              height_m=1.65, weight_kg=60)
    assert (a.sex, a.height_m, a.weight_kg) == ("F", 1.65, 60)
    assert a.sex_source == a.height_source == a.weight_source == "user"
    with pytest.raises(InputError, match="metres"):
        patient_height_weight({}, height_m=172)
    with pytest.raises(InputError, match="weight"):
        patient_height_weight({}, weight_kg=5)


def test_sex_normalisation():
    assert [normalize_sex(v) for v in ("M", "male", "F", "w", "O", None, "")] == ["M", "M", "F", "F", None, None, None]
    with pytest.raises(InputError, match="sex"):
        normalize_sex("x7")


def test_index_arithmetic():
    a = Anthropometrics(sex="M", height_m=1.75, weight_kg=70.0)
    idx = muscle_indices(175.0, a)
    assert idx["smi_cm2_m2"] == pytest.approx(175.0 / 1.75 ** 2)
    assert idx["sma_wt_cm2_kg"] == pytest.approx(2.5)
    bmi = 70.0 / 1.75 ** 2
    assert idx["bmi_kg_m2"] == pytest.approx(bmi)
    assert idx["sma_bmi"] == pytest.approx(175.0 / bmi)


def test_height_and_weight_text_with_units():
    from medlabel.bodycomp.indices import parse_height_m, parse_weight_kg

    assert parse_height_m("1.72") == pytest.approx(1.72)
    assert parse_height_m(" 1,72 m ") == pytest.approx(1.72)  # decimal comma, unit, spaces
    assert parse_height_m("172cm") == pytest.approx(1.72)
    assert parse_height_m("172 CM") == pytest.approx(1.72)
    assert parse_weight_kg("70") == pytest.approx(70.0)
    assert parse_weight_kg("70 kg") == pytest.approx(70.0)
    assert parse_weight_kg("154 lb") == pytest.approx(154 * 0.45359237)
    assert parse_weight_kg("154lbs") == pytest.approx(69.85322498)
    with pytest.raises(InputError, match="looks like centimetres; write 172cm or 1.72"):
        parse_height_m("172")  # a bare number in 100-250 is not guessed
    with pytest.raises(InputError, match="unit 'ft' not understood"):
        parse_height_m("6ft")
    with pytest.raises(InputError, match="outside 1.0-2.5 m"):
        parse_height_m("90cm")
    with pytest.raises(InputError, match="outside 20-350 kg"):
        parse_weight_kg("900lb")
    with pytest.raises(InputError, match="not a number"):
        parse_weight_kg("heavy")
    with pytest.raises(InputError, match="positive"):
        parse_height_m("-1.7")


def test_user_height_in_centimetres_gets_a_hint():
    with pytest.raises(InputError, match=r"165 looks like centimetres: 1.65 m"):
        patient_height_weight({}, height_m=165)
