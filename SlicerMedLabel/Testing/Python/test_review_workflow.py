"""Workflow: accept/redo/adjudicate rule, tags that survive .seg.nrrd, review table round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medlabel import io
from medlabel.errors import InputError
from medlabel.labels import TAG_STATUS, Geometry, LabelSet
from medlabel.review.agreement import dice
from medlabel.review.inputs import Annotation
from medlabel.review.workflow import (
    TAG_DECISION,
    TAG_SCORE,
    apply_review,
    read_review_table,
    review_decisions,
    review_table_from_tags,
    set_status,
)

GEOM = Geometry((6, 30, 30), (2.0, 1.0, 1.0))


def box(z0, z1, y0, y1, x0, x1):
    m = np.zeros(GEOM.shape, bool)
    m[z0:z1, y0:y1, x0:x1] = True
    return m


def ann(name, skill, mask, structure="liver"):
    ls = LabelSet(GEOM)
    ls.add_mask(structure, mask)
    return Annotation(name, ls, skill=skill)


@pytest.fixture
def team():
    truth = box(1, 5, 5, 25, 5, 25)
    return [
        ann("expert1", "expert", truth),
        ann("expert2", "expert", box(1, 5, 5, 25, 6, 25)),          # close to expert1 (Dice 0.97)
        ann("novice_good", "novice", box(1, 5, 5, 25, 5, 24)),      # Dice 0.97 with expert1
        ann("novice_poor", "novice", box(1, 5, 5, 25, 5, 15)),      # half the organ: Dice 0.67
    ], truth


def test_novices_accepted_or_sent_back_against_an_expert(team):
    anns, truth = team
    t = review_decisions(anns, reference_annotator="expert1").set_index("annotator")
    assert t.loc["novice_good", "decision"] == "accept" and t.loc["novice_good", "status"] == "accepted"
    assert t.loc["novice_poor", "decision"] == "redo" and t.loc["novice_poor", "status"] == "redo"
    assert t.loc["novice_poor", "score"] == pytest.approx(dice(anns[3].labels["liver"].mask, truth))
    assert t.loc["expert1", "decision"] == "accept" and t.loc["expert1", "reference"] == "expert2"


def test_threshold_and_metric_are_configurable(team):
    anns, _ = team
    t = review_decisions(anns, reference_annotator="expert1", accept_threshold=0.6).set_index("annotator")
    assert t.loc["novice_poor", "decision"] == "accept"
    t = review_decisions(anns, consensus={"liver": anns[0].labels["liver"].mask}, metric="iou").set_index("annotator")
    assert t.loc["novice_good", "metric"] == "iou" and t.loc["novice_good", "reference"] == "consensus"
    with pytest.raises(InputError, match="unknown review metric"):
        review_decisions(anns, metric="kappa")
    with pytest.raises(InputError, match="no reference for novice"):
        review_decisions(anns)


def test_disagreeing_experts_go_to_adjudication():
    anns = [ann("e1", "expert", box(1, 5, 5, 25, 5, 25)), ann("e2", "expert", box(1, 5, 5, 25, 5, 12))]
    t = review_decisions(anns).set_index("annotator")
    assert list(t["decision"]) == ["adjudicate", "adjudicate"]
    assert list(t["status"]) == ["submitted", "submitted"]


def test_tags_survive_seg_nrrd_and_table_survives_csv(team, tmp_path):
    anns, _ = team
    table = review_decisions(anns, reference_annotator="expert1")
    tagged = apply_review(anns, table)
    assert TAG_STATUS not in anns[3].labels["liver"].tags  # inputs untouched
    io.write_seg_nrrd(tagged[3].labels, tmp_path / "novice_poor.seg.nrrd")
    back = io.read_seg_nrrd(tmp_path / "novice_poor.seg.nrrd")
    tags = back["liver"].tags
    assert tags[TAG_STATUS] == "redo" and tags[TAG_DECISION] == "redo"
    assert float(tags[TAG_SCORE]) == pytest.approx(table.set_index("annotator").loc["novice_poor", "score"], abs=1e-4)
    rebuilt = review_table_from_tags([Annotation("novice_poor", back, skill="novice")])
    assert rebuilt.loc[0, "status"] == "redo"
    io.write_table(table, tmp_path / "review.csv")
    again = read_review_table(tmp_path / "review.csv")
    pd.testing.assert_series_equal(again["status"], table["status"])
    restored = apply_review(anns, again)
    assert restored[2].labels["liver"].tags[TAG_STATUS] == "accepted"


def test_set_status_buttons():
    ls = LabelSet(GEOM)
    ls.add_mask("a", box(0, 1, 0, 2, 0, 2))
    ls.add_mask("b", box(0, 1, 0, 2, 0, 2))
    out = set_status(ls, "adjudicated", names=["a"], reviewer="dr_x")
    assert out["a"].tags[TAG_STATUS] == "adjudicated" and TAG_STATUS not in out["b"].tags
    assert TAG_STATUS not in ls["a"].tags
    with pytest.raises(InputError, match="unknown status"):
        set_status(ls, "approved")
    with pytest.raises(InputError, match="no segments named"):
        set_status(ls, "redo", names=["zzz"])
