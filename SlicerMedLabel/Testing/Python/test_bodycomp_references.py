"""Reference sets, T-scores, bands, cut-off flags (Martin's BMI rule) and the cohort builder."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from medlabel.bodycomp import (
    ReferenceRegistry,
    ReferenceSet,
    band,
    build_reference,
    cutoff_flags,
    evaluate,
    load_reference_sets,
    read_reference_set,
    t_score,
    write_reference_set,
)
from medlabel.errors import InputError, OutputExistsError, RegistryError

SHIPPED = {"lee2022", "prado2008", "martin2013", "derstine2018", "vanderwerf2018", "kim2021", "yoon2021"}


@pytest.fixture(scope="module")
def reg():
    return load_reference_sets()


def test_shipped_sets_carry_citation_population_units(reg):
    assert set(reg.names) == SHIPPED
    for name in reg.names:
        s = reg.get(name)
        assert s.citation and s.population and s.units
        assert s.path is not None and s.path.suffix == ".json"
        for e in s.entries:
            assert e["sex"] in ("M", "F", "any")
    lee = reg.get("lee2022")
    e = lee.entry("smi_cm2_m2", "F")
    assert (e["mean"], e["sd"], e["cutoff_1sd"], e["cutoff_2sd"], e["n"]) == (44.67, 8.95, 35.71, 26.76, 68)
    assert lee.units["smi_cm2_m2"] == "cm2/m2"


def test_t_score_arithmetic_and_bands():
    assert t_score(61.64 - 11.40, 61.64, 11.40) == pytest.approx(-1.0)
    assert t_score(61.64 + 2 * 11.40, 61.64, 11.40) == pytest.approx(2.0)
    assert math.isnan(t_score(float("nan"), 1.0, 1.0))
    assert [band(t) for t in (0.3, -1.0, -1.0001, -2.0, -2.0001)] == ["normal", "normal", "low", "low", "very low"]
    assert band(float("nan")) == ""
    with pytest.raises(InputError, match="SD"):
        t_score(1.0, 1.0, 0.0)


def test_evaluate_uses_sex_specific_mean_and_sd(reg):
    values = {"sma_cm2": 116.20 - 2.5 * 24.66, "smi_cm2_m2": 44.67, "sma_wt_cm2_kg": 1.93, "sma_bmi": 5.02}
    women = evaluate(values, sex="F", bmi_kg_m2=22.0, registry=reg)
    assert women["t_sma_cm2"] == pytest.approx(-2.5)
    assert women["band_sma_cm2"] == "very low"
    assert women["t_smi_cm2_m2"] == pytest.approx(0.0)
    men = evaluate(values, sex="M", bmi_kg_m2=22.0, registry=reg)
    assert men["t_smi_cm2_m2"] == pytest.approx((44.67 - 61.64) / 11.40)
    unknown = evaluate(values, sex=None, bmi_kg_m2=22.0, registry=reg)
    assert math.isnan(unknown["t_sma_cm2"]) and unknown["band_sma_cm2"] == ""
    assert unknown["flag_prado2008_smi_cm2_m2"] is None


@pytest.mark.parametrize("sex,bmi,smi,expected", [
    ("M", 24.9, 45.0, False),   # threshold 43 below BMI 25
    ("M", 24.9, 42.9, True),
    ("M", 25.0, 45.0, True),    # threshold 53 from BMI 25 (inclusive)
    ("M", 30.0, 53.0, False),
    ("F", 18.0, 40.9, True),    # 41 for women at any BMI
    ("F", 35.0, 41.0, False),
    ("M", None, 45.0, None),    # the men's rule needs BMI
    ("F", None, 40.0, True),    # the women's rule does not
])
def test_martin_bmi_rule(reg, sex, bmi, smi, expected):
    flags = cutoff_flags(reg.get("martin2013"), {"smi_cm2_m2": smi, "muscle_hu": 50.0}, sex=sex, bmi_kg_m2=bmi)
    assert flags["smi_cm2_m2"] is expected


@pytest.mark.parametrize("bmi,hu,expected", [(22.0, 40.0, True), (22.0, 41.0, False), (27.0, 40.0, False),
                                             (27.0, 32.9, True)])
def test_martin_muscle_attenuation(reg, bmi, hu, expected):
    flags = cutoff_flags(reg.get("martin2013"), {"smi_cm2_m2": 50.0, "muscle_hu": hu}, sex="F", bmi_kg_m2=bmi)
    assert flags["muscle_hu"] is expected


def test_prado_and_kim_flags_by_sex(reg):
    assert cutoff_flags(reg.get("prado2008"), {"smi_cm2_m2": 50.0}, sex="M", bmi_kg_m2=None) == {"smi_cm2_m2": True}
    assert cutoff_flags(reg.get("prado2008"), {"smi_cm2_m2": 50.0}, sex="F", bmi_kg_m2=None) == {"smi_cm2_m2": False}
    kim = cutoff_flags(reg.get("kim2021"), {"sma_cm2": 100.0, "sma_wt_cm2_kg": float("nan")}, sex="M", bmi_kg_m2=None)
    assert kim["sma_cm2"] is True and kim["sma_wt_cm2_kg"] is None and kim["sma_bmi"] is None


def _cohort_with(mean: float, sd: float, n: int, rng) -> np.ndarray:
    z = rng.normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def test_cohort_builder_reproduces_published_cutoffs(reg):
    """From cohorts with exactly Lee et al.'s means and SDs, the builder's -1/-2 SD columns equal the
    published ones within the paper's rounding (0.02)."""
    lee = reg.get("lee2022")
    rng = np.random.default_rng(0)
    frames = []
    for sex, n in (("M", 83), ("F", 68)):
        cols = {e["index"]: _cohort_with(e["mean"], e["sd"], n, rng) for e in lee.entries if e["sex"] == sex}
        frames.append(pd.DataFrame({"sex": sex, "healthy_young": True, **cols}))
    frames.append(pd.DataFrame({"sex": ["M"] * 5, "healthy_young": [False] * 5, "sma_cm2": [10.0] * 5}))
    cohort = pd.concat(frames, ignore_index=True)
    built = build_reference(cohort, name="mycohort", citation="our hospital 2026", population="test cohort")
    assert built.kind == "distribution"
    for pub in lee.entries:
        ours = built.entry(pub["index"], pub["sex"])
        assert ours["n"] == pub["n"]  # the 5 non-healthy rows were left out
        assert ours["mean"] == pytest.approx(pub["mean"], abs=1e-9)
        assert ours["sd"] == pytest.approx(pub["sd"], abs=1e-9)
        assert ours["cutoff_1sd"] == pytest.approx(pub["cutoff_1sd"], abs=0.02)
        assert ours["cutoff_2sd"] == pytest.approx(pub["cutoff_2sd"], abs=0.02)


def test_reference_file_round_trip_and_use(tmp_path, reg):
    cohort = pd.DataFrame({"sex": ["F", "F", "F", "M", "M", "M"], "smi_cm2_m2": [40.0, 44.0, 48.0, 50.0, 55.0, 60.0]})
    built = build_reference(cohort, name="local", citation="local cohort", population="ours", healthy_column=None)
    path = write_reference_set(built, tmp_path / "local.json")
    with pytest.raises(OutputExistsError):
        write_reference_set(built, path)
    back = read_reference_set(path)
    assert back.entries == built.entries and back.citation == "local cohort"
    assert json.loads(path.read_text())["format"] == "medlabel-reference-set/1"
    reg2 = load_reference_sets(extra=[path])
    out = evaluate({"smi_cm2_m2": 40.0}, sex="F", bmi_kg_m2=None, registry=reg2, distribution="local",
                   cutoff_sets=[])
    assert out["t_smi_cm2_m2"] == pytest.approx(-1.0)
    assert out["band_smi_cm2_m2"] == "normal"


def test_registry_rules():
    s = ReferenceSet(name="x", kind="cutoffs", citation="c", population="p",
                     entries=[{"sex": "M", "index": "sma_cm2", "threshold": 1.0}])
    reg = ReferenceRegistry([s])
    with pytest.raises(RegistryError, match="already registered"):
        reg.add(s)
    with pytest.raises(RegistryError, match="known: x"):
        reg.get("y")
    with pytest.raises(InputError, match="index 'smi' unknown"):
        ReferenceSet(name="z", kind="cutoffs", citation="c", population="p",
                     entries=[{"sex": "M", "index": "smi", "threshold": 1.0}])
    with pytest.raises(InputError, match="no mean/SD"):
        evaluate({}, sex="M", bmi_kg_m2=None, registry=reg, distribution="x")
