"""`medlabel demo` end to end: writes its outputs, refuses to overwrite without --force."""

import numpy as np

from medlabel import cli, io


def test_demo_writes_report_and_keeps_existing_files(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "-o", str(out)]) == 0
    for name in ("report.html", "overview_real_ct.png", "overview_phantom.png", "phantom_truth.seg.nrrd"):
        assert (out / name).stat().st_size > 500, name
    truth = io.read_seg_nrrd(out / "phantom_truth.seg.nrrd")
    assert "skeletal_muscle" in truth.names and truth["skeletal_muscle"].voxel_count > 0
    import pandas as pd

    pet = pd.read_csv(out / "pet_stats.csv")
    assert len(pet) == 11 and (pet["suv_max"] >= pet["suv_mean"]).all() and pet["suv_max"].max() > 10
    assert (out / "pet_stats.xlsx").exists() and (out / "pet_mip.png").exists()
    row = pd.read_csv(out / "bodycomp" / "example_ct_bodycomp.csv").iloc[0]
    assert 65 <= row["slice_index"] <= 79  # inside L3 (TotalSegmentator label 29)
    assert row["muscle_area_cm2"] > 50 and row["sat_area_cm2"] > 10
    assert (out / "bodycomp" / "CRLM-CT-1006_tissues.seg.nrrd").exists()
    per = pd.read_csv(out / "review" / "per_annotator.csv")
    assert len(per) == 4 and (per["dice_vs_consensus"] > 0.7).all()
    assert io.read_seg_nrrd(out / "review" / "consensus.seg.nrrd").segments[0].voxel_count > 2000
    proposal = io.read_seg_nrrd(out / "autolabel_proposal.seg.nrrd")
    assert proposal["subcutaneous_fat"].tags["MedLabel.Status"] == "proposed"
    assert proposal["subcutaneous_fat"].voxel_count > 10000
    gc = pd.read_csv(out / "grabcut_dice.csv")
    assert gc.loc[gc["input"] == "box + stroke", "dice_vs_reference"].iloc[0] > 0.85
    assert gc.loc[gc["case"].str.contains("nodule"), "dice_vs_reference"].iloc[0] > 0.85
    html = (out / "report.html").read_text()
    assert "overview_phantom.png" in html
    before = (out / "report.html").stat().st_mtime_ns
    capsys.readouterr()
    assert cli.main(["demo", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "report.html").stat().st_mtime_ns == before
    assert cli.main(["demo", "-o", str(out), "--force"]) == 0
    assert np.array_equal(io.read_seg_nrrd(out / "phantom_truth.seg.nrrd")["vertebra"].mask,
                          truth["vertebra"].mask)
