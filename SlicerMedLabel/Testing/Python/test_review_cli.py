"""`medlabel consensus` end to end: LIDC readers and a simulated multi-structure team on the phantom."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from conftest import data_path
from medlabel import io
from medlabel.cli import main
from medlabel.labels import LabelSet
from medlabel.phantom import make_l3_phantom
from medlabel.review.agreement import dice, fleiss_kappa
from medlabel.review.simulate import simulate_annotators
from medlabel.review.staple import multilabel_staple, staple

READERS = [str(data_path(f"lidc_idri_0314/reader{i}.nii.gz")) for i in range(1, 5)]


def test_consensus_on_lidc_readers(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["consensus", *READERS, "-o", str(out), "--label-names", "1=nodule"]) == 0
    cons = io.read_seg_nrrd(out / "consensus.seg.nrrd")
    stack = np.stack([sitk.GetArrayFromImage(sitk.ReadImage(p)) for p in READERS])
    # the written consensus is STAPLE's (equality with SimpleITK on these readers: test_review_staple.py)
    np.testing.assert_array_equal(cons["nodule"].mask, staple(list(stack)).mask)
    pw = pd.read_csv(out / "pairwise.csv")
    assert len(pw) == 6 and (round(pw["dice"].min(), 2), round(pw["dice"].max(), 2)) == (0.76, 0.88)  # PROVENANCE.md
    per = pd.read_excel(out / "per_annotator.xlsx")
    assert list(per["annotator"]) == ["reader1", "reader2", "reader3", "reader4"]
    assert {"dice_vs_consensus", "hd95_mm_vs_consensus", "staple_sensitivity"} <= set(per.columns)
    assert (out / "pairwise_dice.png").stat().st_size > 5000
    dis = io.read_image(out / "disagreement.nii.gz")
    np.testing.assert_array_equal(dis.array, np.minimum(stack.sum(0), 4 - stack.sum(0)))
    tagged = io.read_seg_nrrd(out / "annotations" / "reader3.seg.nrrd")["nodule"].tags
    review_rows = pd.read_csv(out / "review.csv").set_index("annotator")
    assert tagged["MedLabel.Status"] == review_rows.loc["reader3", "status"]
    assert tagged["MedLabel.ReviewDecision"] == review_rows.loc["reader3", "decision"]
    prov = json.loads((out / "review.json").read_text())
    assert prov["parameters"]["method"] == "staple" and len(prov["inputs"]) == 4
    assert prov["agreement"]["fleiss_kappa"]["nodule"] == pytest.approx(fleiss_kappa(list(stack)))
    # second run refuses to overwrite and leaves the files alone
    before = (out / "pairwise.csv").read_bytes()
    assert main(["consensus", *READERS, "-o", str(out), "--method", "majority"]) == 2
    assert "already holds" in capsys.readouterr().err
    assert (out / "pairwise.csv").read_bytes() == before
    assert main(["consensus", *READERS, "-o", str(out), "--method", "kofn", "--k", "3", "--force", "--no-surface"]) == 0
    assert "hd95_mm" not in pd.read_csv(out / "pairwise.csv").columns
    kofn = io.read_seg_nrrd(out / "consensus.seg.nrrd")["Segment_1"].mask
    np.testing.assert_array_equal(kofn, stack.sum(0) >= 3)
    assert main(["consensus", *READERS, "-o", str(tmp_path / "x"), "--method", "kofn"]) == 2


def test_consensus_on_a_simulated_team(tmp_path):
    _, truth = make_l3_phantom((3, 256, 256), (3.0, 1.6, 1.6), noise_hu=5)
    names = ["skeletal_muscle", "vertebra", "visceral_fat"]
    truth = LabelSet(truth.geometry, [truth[s] for s in names])
    team = simulate_annotators(truth, n=5, seed=2, novices=2)
    for ls in team:
        io.write_seg_nrrd(ls, tmp_path / "in" / f"{ls.meta['annotator']}.seg.nrrd")
    out = tmp_path / "out"
    assert main(["consensus", str(tmp_path / "in"), "-o", str(out)]) == 0
    cons = io.read_seg_nrrd(out / "consensus.seg.nrrd")
    per = pd.read_csv(out / "per_annotator.csv")
    for s in names:
        each = [dice(ls[s].mask, truth[s].mask) for ls in team]
        assert dice(cons[s].mask, truth[s].mask) > np.mean(each), s
    assert set(per["skill"]) == {"expert", "novice"}
    review = pd.read_csv(out / "review.csv")
    assert set(review["decision"]) <= {"accept", "redo", "adjudicate"} and len(review) == 15
    assert (review[review.skill == "novice"]["reference"] == "consensus").all()
    # one multi-label STAPLE over the three structures
    assert main(["consensus", str(tmp_path / "in"), "-o", str(tmp_path / "ml"), "--method", "multilabel"]) == 0
    ml = io.read_seg_nrrd(tmp_path / "ml" / "consensus.seg.nrrd")
    maps = [ls.to_labelmap(order=names).astype(np.uint8) for ls in team]
    mls = multilabel_staple(maps)
    ref = mls.labels
    prov = json.loads((tmp_path / "ml" / "review.json").read_text())["agreement"]
    np.testing.assert_allclose(prov["confusion_matrices"]["annotator1"], mls.confusion[0], atol=1e-6)
    for i, s in enumerate(names, start=1):
        np.testing.assert_array_equal(ml[s].mask, ref == i)
        assert dice(ml[s].mask, truth[s].mask) > np.mean([dice(ls[s].mask, truth[s].mask) for ls in team]), s
