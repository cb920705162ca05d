"""`medlabel train / pseudolabel / autolabel` end to end on a folder of synthetic cases."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from medlabel import io  # noqa: E402
from medlabel.autolabel import ModelCard  # noqa: E402
from medlabel.autolabel.cards import TISSUE_CLASSES  # noqa: E402
from medlabel.autolabel.synthetic import synthetic_slices  # noqa: E402
from medlabel.cli import main  # noqa: E402
from medlabel.image import Image  # noqa: E402
from medlabel.labels import TAG_MODEL, TAG_STATUS, LabelSet  # noqa: E402

SP = 6.0


def write_case(folder, seed, *, labelled: bool):
    ct, lab = synthetic_slices(seed, n_slices=2, size=64, spacing_mm=SP)
    image = Image(np.rint(ct).astype(np.int16), (5.0, SP, SP))
    io.write_image(image, folder / f"case{seed}.nrrd")
    if labelled:
        truth = LabelSet(image)
        for v, name in enumerate(TISSUE_CLASSES, start=1):
            truth.add_mask(name, lab == v)
        io.write_seg_nrrd(truth, folder / f"case{seed}.seg.nrrd")
    return image, lab


TRAIN_ARGS = ["--epochs", "2", "--base-channels", "4", "--depth", "2", "--crop", "32", "--spacing-mm", "6",
              "--batch-size", "2", "--no-progress"]


def test_train_pseudolabel_autolabel_cycle(tmp_path, capsys):
    cases = tmp_path / "cases"
    cases.mkdir()
    for seed in (1, 2, 3):
        write_case(cases, seed, labelled=True)
    write_case(cases, 4, labelled=False)
    models = tmp_path / "models"

    # 1. train on the three manually labelled cases (untagged = manual reference)
    assert main(["train", str(cases), "-o", str(models / "m1"), "--name", "cli-model", *TRAIN_ARGS]) == 0
    out = capsys.readouterr().out
    assert "case4: skipped: no segmentation" in out and "case1: used, 2 slice(s)" in out
    card = ModelCard.read(models / "m1" / "cli-model.card.json")
    assert card.training_data["cases_used"] == ["case1", "case2", "case3"]
    assert (models / "m1" / "learning_curve.png").exists()

    # 2. the registry lists it (and the rule-based labeler)
    assert main(["autolabel", "--list", "--models-dir", str(models)]) == 0
    listing = capsys.readouterr().out
    assert "cli-model (user" in listing and "rule-based-bodycomp (built-in" in listing

    # 3. pseudolabel writes a proposal only for the unlabelled case, never over a user's segmentation
    before = (cases / "case1.seg.nrrd").read_bytes()
    assert main(["pseudolabel", str(cases), "--model", "cli-model", "--models-dir", str(models), "--no-progress"]) == 0
    assert (cases / "case1.seg.nrrd").read_bytes() == before
    proposal = io.read_seg_nrrd(cases / "case4.seg.nrrd")
    assert proposal.names == list(TISSUE_CLASSES)
    assert {s.tags[TAG_STATUS] for s in proposal} == {"proposed"}
    assert {s.tags[TAG_MODEL] for s in proposal} == {"cli-model@1"}

    # 4. training with --only-accepted: the manual labels are untagged and case4 is only proposed -> nothing to use
    code = main(["train", str(cases), "-o", str(models / "m2"), "--only-accepted", *TRAIN_ARGS])
    err = capsys.readouterr()
    assert code == 2 and "no accepted labelled case" in err.err
    assert "case4: skipped: segment 'skeletal_muscle' is 'proposed'" in err.out

    # 5. after the user accepts the proposal it is used (fine-tuning from the first model)
    from medlabel.autolabel.dataset import set_status

    io.write_seg_nrrd(set_status(proposal, "accepted", annotator="me"), cases / "case4.seg.nrrd", force=True)
    assert main(["train", str(cases), "-o", str(models / "m3"), "--name", "cli-model-2", "--init-from",
                 str(models / "m1" / "cli-model.card.json"), *TRAIN_ARGS]) == 0
    card2 = ModelCard.read(models / "m3" / "cli-model-2.card.json")
    assert "case4" in card2.training_data["cases_used"]
    assert card2.training_data["fine_tuned_from"] == "cli-model@1"
    assert card2.network == card.network


def test_autolabel_command_rule_based_and_errors(tmp_path, capsys):
    image, _ = write_case(tmp_path, 7, labelled=True)
    out = tmp_path / "out.seg.nrrd"
    args = ["autolabel", str(tmp_path / "case7.nrrd"), "-o", str(out), "--model", "rule-based-bodycomp",
            "--slices", "1", "--models-dir", str(tmp_path / "none"), "--no-progress"]
    assert main(args) == 0
    ls = io.read_seg_nrrd(out)
    assert ls["skeletal_muscle"].mask[1].sum() > 0 and not ls["skeletal_muscle"].mask[0].any()
    assert ls["skeletal_muscle"].tags[TAG_MODEL].startswith("rule-based-bodycomp@")
    # scoring against the reference: IoU per region on the labelled slice, bins table and chart
    scored = tmp_path / "scored.seg.nrrd"
    assert main([*args[:3], str(scored), *args[4:], "--reference", str(tmp_path / "case7.seg.nrrd"),
                 "--scores", str(tmp_path / "scores.csv"), "--bins-png", str(tmp_path / "bins.png")]) == 0
    import pandas as pd

    scores = pd.read_csv(tmp_path / "scores.csv")
    truth = io.read_seg_nrrd(tmp_path / "case7.seg.nrrd")
    row = scores[(scores["region"] == "skeletal_muscle") & (scores["case"] == "slice 1")].iloc[0]
    p, t = ls["skeletal_muscle"].mask[1], truth["skeletal_muscle"].mask[1]
    assert row["iou"] == pytest.approx((p & t).sum() / (p | t).sum())
    assert (tmp_path / "bins.png").read_bytes()[:4] == b"\x89PNG"
    assert main(args) == 2  # refuses to overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["autolabel", str(tmp_path / "case7.nrrd"), "-o", str(tmp_path / "x.seg.nrrd"), "--model", "nope",
                 "--models-dir", str(tmp_path / "none"), "--no-progress"]) == 2
    assert "unknown auto-label model 'nope'; known: rule-based-bodycomp" in capsys.readouterr().err
    assert main(["autolabel", str(tmp_path / "case7.nrrd"), "-o", str(tmp_path / "y.seg.nrrd"), "--model",
                 "rule-based-bodycomp", "--slices", "5:2", "--models-dir", str(tmp_path / "none"),
                 "--no-progress"]) == 2
    assert "slices=(5, 2) is not a slab" in capsys.readouterr().err
