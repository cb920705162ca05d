"""Review tab logic under slicer-core: nodes in, consensus / tables / disagreement nodes out."""

from __future__ import annotations

import numpy as np
import pytest

import bridge_fixtures
from medlabel.errors import InputError
from medlabel.labels import TAG_STATUS, LabelSet
from medlabel.phantom import make_l3_phantom
from medlabel.review.consensus import review
from medlabel.review.inputs import annotation_from_labelset
from medlabel.review.simulate import simulate_annotators
from medlabel.slicer_bridge import (
    image_to_volume_node,
    labelset_to_segmentation_node,
    segment_tags,
    segmentation_node_to_labelset,
    table_node_to_dataframe,
    volume_node_to_image,
)
from SlicerMedLabelLib.review_logic import ReviewLogic

mrml_scene = bridge_fixtures.mrml_scene
STRUCTURES = ["skeletal_muscle", "vertebra"]


@pytest.fixture
def team(mrml_scene):
    image, truth = make_l3_phantom((2, 128, 128), (3.0, 3.2, 3.2), noise_hu=5)
    truth = LabelSet(truth.geometry, [truth[s] for s in STRUCTURES])
    anns = simulate_annotators(truth, n=3, seed=3, novices=1)
    vol = image_to_volume_node(image, name="CT")
    nodes = [labelset_to_segmentation_node(a, None, vol, name=f"node{i}") for i, a in enumerate(anns)]
    return vol, nodes, anns


def test_compute_creates_nodes_that_match_the_engine(team):
    vol, nodes, anns = team
    seen = []
    logic = ReviewLogic(progress=lambda f, t: seen.append(f))
    out = logic.compute(vol, nodes, method="staple")
    engine = review([annotation_from_labelset(a) for a in anns], method="staple")
    cons = segmentation_node_to_labelset(out["consensus"], vol)
    for s in STRUCTURES:
        np.testing.assert_array_equal(cons[s].mask, engine.consensus[s].mask)
    per = table_node_to_dataframe(out["perAnnotator"])
    assert list(per["annotator"].unique()) == ["annotator1", "annotator2", "annotator3"]  # from segment tags
    np.testing.assert_allclose(per["dice_vs_consensus"].astype(float), engine.per_annotator["dice_vs_consensus"])
    assert len(table_node_to_dataframe(out["pairwise"])) == 3 * len(STRUCTURES)
    dis = volume_node_to_image(out["disagreement"])
    np.testing.assert_array_equal(dis.array, engine.disagreement)
    assert dis.same_geometry(volume_node_to_image(vol))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_kofn_and_input_errors(team):
    vol, nodes, anns = team
    logic = ReviewLogic()
    out = logic.compute(vol, nodes, method="kofn", k=3)
    cons = segmentation_node_to_labelset(out["consensus"], vol)
    inter = np.logical_and.reduce([a["vertebra"].mask for a in anns])
    np.testing.assert_array_equal(cons["vertebra"].mask, inter)
    assert "3-of-3" in out["consensus"].GetName()
    with pytest.raises(InputError, match="at least two"):
        logic.compute(vol, nodes[:1])
    with pytest.raises(InputError, match="Select the image"):
        logic.compute(None, nodes)


def test_status_buttons_write_tags_that_read_back(team):
    _, nodes, _ = team
    ids = ReviewLogic.setStatus(nodes[2], "redo", reviewer="dr_x")
    seg = nodes[2].GetSegmentation()
    assert {segment_tags(seg.GetSegment(i))[TAG_STATUS] for i in ids} == {"redo"}
    ReviewLogic.setStatus(nodes[0], "adjudicate", segmentIds=[ids[0]])
    back = segmentation_node_to_labelset(nodes[0])
    assert back[back.names[0]].tags[TAG_STATUS] == "adjudicated"
    assert back[back.names[1]].tags[TAG_STATUS] == "submitted"  # untouched (simulated annotators submit)
    with pytest.raises(InputError, match="Unknown review action"):
        ReviewLogic.setStatus(nodes[0], "approve")


def test_apply_decisions_tags_the_annotators_nodes(team):
    vol, nodes, _ = team
    logic = ReviewLogic()
    with pytest.raises(InputError, match="Compute a review first"):
        logic.applyDecisions(nodes)
    logic.compute(vol, nodes, method="staple", acceptThreshold=0.99)  # strict: the novice must redo
    assert logic.applyDecisions(nodes) == 3 * len(STRUCTURES)
    table = logic.lastResult.review.set_index(["annotator", "structure"])
    for node in nodes:
        ls = segmentation_node_to_labelset(node)
        who = ReviewLogic.annotatorOf(node)
        for s in STRUCTURES:
            assert ls[s].tags[TAG_STATUS] == table.loc[(who, s), "status"]
    assert (table.xs("annotator3")["decision"] == "redo").all()
