"""One study end to end, outputs, batch and the `medlabel bodycomp` command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import data_path
from medlabel import io
from medlabel.bodycomp import compute_results, resolve_windows, run_study
from medlabel.cli import main
from medlabel.errors import OutputExistsError
from medlabel.phantom import make_l3_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_l3_phantom((3, 256, 256), (3.0, 1.6, 1.6), sex="F", height_m=1.60, weight_kg=64.0)


def test_run_study_on_phantom_matches_truth_and_writes_files(phantom, tmp_path):
    image, truth = phantom
    res = run_study(image, slice_index=1, slab_slices=3, out_dir=tmp_path, study_id="ph1")
    truth_muscle = np.mean(image.meta["truth_areas_cm2"]["skeletal_muscle"])
    assert res.row["muscle_area_cm2"] == pytest.approx(truth_muscle, rel=0.01)
    assert res.row["sat_area_cm2"] == pytest.approx(np.mean(image.meta["truth_areas_cm2"]["subcutaneous_fat"]), rel=0.01)
    assert res.row["n_slices"] == 3 and res.row["slice_indices"] == "0;1;2"
    assert res.row["slice_method"] == "index"
    assert (res.row["sex"], res.row["height_source"]) == ("F", "dicom")
    assert res.row["smi_cm2_m2"] == pytest.approx(res.row["muscle_area_cm2"] / 1.60 ** 2)
    assert res.row["t_smi_cm2_m2"] == pytest.approx((res.row["smi_cm2_m2"] - 44.67) / 8.95)
    assert res.row["muscle_mean_hu"] == pytest.approx(45.0, abs=1.0)
    assert res.row["windows_preset"] == "alberta" and res.row["software"].startswith("medlabel ")
    assert set(res.paths) == {"csv", "xlsx", "png", "seg"}
    csv = pd.read_csv(res.paths["csv"])
    xlsx = pd.read_excel(res.paths["xlsx"])
    assert len(csv) == len(xlsx) == 1
    assert csv.loc[0, "muscle_area_cm2"] == pytest.approx(res.row["muscle_area_cm2"])
    assert xlsx.loc[0, "study_id"] == "ph1"
    assert res.paths["png"].stat().st_size > 10_000
    seg = io.read_seg_nrrd(res.paths["seg"])
    assert "skeletal_muscle" in seg.names
    assert np.array_equal(seg["skeletal_muscle"].mask, res.labels["skeletal_muscle"].mask)
    with pytest.raises(OutputExistsError):
        run_study(image, slice_index=1, out_dir=tmp_path, study_id="ph1")


def test_recompute_after_edit_and_user_anthropometry(phantom):
    image, _ = phantom
    res = run_study(image, slice_index=1, height_m=1.70, weight_kg=70.0, sex="M")
    edited = res.labels.copy()
    m = edited["skeletal_muscle"].mask.copy()
    m[1, :, : m.shape[2] // 2] = False  # the user erases the right half of the muscle
    edited.add_mask("skeletal_muscle", m, replace_existing=True)
    metrics, row, anthro = compute_results(image, edited, res.choice, windows=resolve_windows("alberta"),
                                           method="edited", sex="M", height_m=1.70, weight_kg=70.0)
    assert row["muscle_area_cm2"] == pytest.approx(m[1].sum() * 1.6 * 1.6 / 100)
    assert row["muscle_area_cm2"] < res.row["muscle_area_cm2"]
    assert anthro.height_source == "user" and row["sex"] == "M"
    assert row["sma_wt_cm2_kg"] == pytest.approx(row["muscle_area_cm2"] / 70.0)


def test_real_ct_with_auto_l3_from_labels(tmp_path):
    ct = io.read_image(data_path("totalsegmentator/example_ct.nii.gz"))
    vert = io.read_image(data_path("totalsegmentator/example_seg_fast_force_split.nii.gz"))
    res = run_study(ct, auto_l3=True, vertebra_labels=vert, sex="M", height_m=1.80, weight_kg=85.0)
    assert res.choice.centre == 72 and res.row["slice_method"] == "auto_l3_labels"
    assert res.row["slice_confidence"] >= 0.9
    # plausible adult L3 values (measured about 159 cm² muscle, 240 cm² SAT, 135 cm² VAT)
    assert 100 < res.row["muscle_area_cm2"] < 220
    assert 100 < res.row["sat_area_cm2"] < 400 and 50 < res.row["vat_area_cm2"] < 250
    assert res.row["flag_martin2013_smi_cm2_m2"] in (True, False)


def test_batch_continues_past_bad_studies(tmp_path, phantom):
    image, _ = phantom
    good = io.write_image(image, tmp_path / "in" / "good.nrrd")
    table = pd.DataFrame({"path": [str(good), "missing.nii.gz", str(good)],
                          "slice": [1, 0, 9], "study_id": ["a", "b", "c"]})
    io.write_table(table, tmp_path / "list.csv")
    rc = main(["bodycomp", "--batch", str(tmp_path / "list.csv"), "-o", str(tmp_path / "out")])
    assert rc == 1
    out = pd.read_csv(tmp_path / "out" / "bodycomp_batch.csv")
    assert out["study_id"].tolist() == ["a"]
    fails = pd.read_csv(tmp_path / "out" / "bodycomp_failures.csv")
    assert len(fails) == 2
    assert "does not exist" in fails.loc[0, "reason"] and "outside" in fails.loc[1, "reason"]
    assert (tmp_path / "out" / "a" / "a_overlay.png").exists()


def test_batch_height_weight_columns_with_units(tmp_path, phantom):
    image, _ = phantom
    good = io.write_image(image, tmp_path / "in" / "good.nrrd")
    table = pd.DataFrame({"path": [str(good)] * 4, "slice": [1] * 4, "study_id": ["cm", "text", "clash", "bad"],
                          "sex": ["F"] * 4, "height_cm": [165, None, 170, None], "height_m": [None, None, 1.60, None],
                          "height": [None, "1.65 m", None, "165"], "weight_lb": [141, None, None, None],
                          "weight": [None, "64 kg", "64", "64"]})
    io.write_table(table, tmp_path / "list.csv")
    rc = main(["bodycomp", "--batch", str(tmp_path / "list.csv"), "-o", str(tmp_path / "out")])
    assert rc == 1
    out = pd.read_csv(tmp_path / "out" / "bodycomp_batch.csv").set_index("study_id")
    assert out.loc["cm", "height_m"] == pytest.approx(1.65)
    assert out.loc["cm", "weight_kg"] == pytest.approx(141 * 0.45359237)
    assert out.loc["text", "height_m"] == pytest.approx(1.65) and out.loc["text", "weight_kg"] == pytest.approx(64)
    fails = pd.read_csv(tmp_path / "out" / "bodycomp_failures.csv")
    assert len(fails) == 2
    reasons = " | ".join(fails["reason"])
    assert "height_m and height_cm disagree" in reasons and "looks like centimetres" in reasons
    assert fails["study_id"].tolist() == ["clash", "bad"] and fails["row"].tolist() == [3, 4]


def test_cli_single_study(tmp_path, phantom, capsys):
    image, _ = phantom
    src = io.write_image(image, tmp_path / "ph.nrrd")
    rc = main(["bodycomp", str(src), "--slice", "1", "--slab", "3", "--sex", "F", "--height", "1.6",
               "--weight", "64", "-o", str(tmp_path / "o"), "--study-id", "p"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "slice k=0..2 (index)" in text and "SMI" in text and "T " in text
    row = pd.read_csv(tmp_path / "o" / "p_bodycomp.csv").iloc[0]
    assert row["sex_source"] == "user" and row["n_slices"] == 3
    assert main(["bodycomp", str(src), "-o", str(tmp_path / "o2")]) == 2  # no slice chosen
    assert main(["bodycomp", str(src), "--slice", "1", "-o", str(tmp_path / "o"), "--study-id", "p"]) == 2  # exists
    assert main(["bodycomp", "--list-references"]) == 0


def test_cli_height_weight_units(tmp_path, phantom, capsys):
    image, _ = phantom
    src = io.write_image(image, tmp_path / "ph.nrrd")
    with pytest.raises(SystemExit) as exc:  # argparse usage error before any work or output
        main(["bodycomp", str(src), "--slice", "1", "--height", "165", "-o", str(tmp_path / "bad")])
    assert exc.value.code == 2
    assert "looks like centimetres; write 165cm or 1.65" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    rc = main(["bodycomp", str(src), "--slice", "1", "--sex", "F", "--height", "165cm", "--weight", "141lb",
               "-o", str(tmp_path / "o"), "--study-id", "p"])
    assert rc == 0
    row = pd.read_csv(tmp_path / "o" / "p_bodycomp.csv").iloc[0]
    assert row["height_m"] == pytest.approx(1.65) and row["weight_kg"] == pytest.approx(141 * 0.45359237)
    assert row["smi_cm2_m2"] == pytest.approx(row["sma_cm2"] / 1.65 ** 2)
    rc = main(["bodycomp", str(src), "--slice", "1", "-o", str(tmp_path / "o2"), "--study-id", "q"])
    assert rc == 0 and "give --sex, --height, --weight" in capsys.readouterr().out


def test_cli_builds_a_reference_and_uses_it(tmp_path, phantom):
    rng = np.random.default_rng(1)
    cohort = pd.DataFrame({"sex": ["F"] * 20 + ["M"] * 20, "healthy_young": [True] * 40,
                           "sma_cm2": np.r_[rng.normal(110, 15, 20), rng.normal(170, 25, 20)]})
    io.write_table(cohort, tmp_path / "cohort.csv")
    rc = main(["bodycomp", "--build-reference", str(tmp_path / "cohort.csv"), "--name", "ours",
               "--citation", "test cohort", "--population", "synthetic", "-o", str(tmp_path / "refs")])
    assert rc == 0
    f = cohort[cohort.sex == "F"]["sma_cm2"]
    image, _ = phantom
    src = io.write_image(image, tmp_path / "ph.nrrd")
    rc = main(["bodycomp", str(src), "--slice", "1", "--sex", "F", "--reference-file", str(tmp_path / "refs" / "ours.json"),
               "--reference", "ours", "-o", str(tmp_path / "o"), "--study-id", "p"])
    assert rc == 0
    row = pd.read_csv(tmp_path / "o" / "p_bodycomp.csv").iloc[0]
    assert row["reference"] == "ours"
    expected = (row["muscle_area_cm2"] - round(f.mean(), 2)) / round(f.std(ddof=1), 2)
    assert row["t_sma_cm2"] == pytest.approx(expected)
    assert main(["bodycomp", "--build-reference", str(tmp_path / "cohort.csv"), "-o", str(tmp_path)]) == 2


def test_cli_custom_hu_windows(tmp_path, phantom):
    image, _ = phantom
    src = io.write_image(image, tmp_path / "ph.nrrd")
    rc = main(["bodycomp", str(src), "--slice", "1", "--hu-window", "vat=-60,-50", "-o", str(tmp_path / "o"),
               "--study-id", "p"])
    assert rc == 0
    row = pd.read_csv(tmp_path / "o" / "p_bodycomp.csv").iloc[0]
    assert row["windows_preset"] == "custom" and "VAT -60..-50" in row["windows_hu"]
    assert row["vat_area_cm2"] < 1.0  # the phantom's fat (-100 HU) lies outside that window
    assert main(["bodycomp", str(src), "--slice", "1", "--hu-window", "bone=1,2", "-o", str(tmp_path / "x")]) == 2
