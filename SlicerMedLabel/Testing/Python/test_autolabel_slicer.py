"""Models tab / Auto-label effect logic under slicer-core: registry table, proposals, apply into a segmentation."""

from __future__ import annotations

import numpy as np
import pytest

import bridge_fixtures
from medlabel.autolabel import predict
from medlabel.autolabel.registry import default_registry
from medlabel.errors import InputError
from medlabel.labels import TAG_STATUS, LabelSet
from medlabel.phantom import make_l3_phantom
from medlabel.slicer_bridge import (
    image_to_volume_node,
    labelset_to_segmentation_node,
    segmentation_node_to_labelset,
    table_node_to_dataframe,
)
from SlicerMedLabelLib.models_logic import ModelsLogic, proposalSegmentNames

mrml_scene = bridge_fixtures.mrml_scene
RB = "rule-based-bodycomp"


@pytest.fixture
def ct(mrml_scene):
    image, truth = make_l3_phantom((3, 128, 128), (3.0, 3.2, 3.2), noise_hu=5)
    return image, truth, image_to_volume_node(image, name="CT")


def test_models_table_lists_the_registry(mrml_scene, tmp_path):
    logic = ModelsLogic(userDirs=[tmp_path])
    df = table_node_to_dataframe(logic.modelsTableNode())
    assert RB in list(df["name"])
    assert list(df["name"]) == list(default_registry(user_dirs=[tmp_path]).names)
    assert '"kind": "rule-based"' in logic.cardText(RB)


def test_slice_scopes(ct):
    _, _, vol = ct
    assert ModelsLogic.sliceRange(vol, "slice", 1) == 1
    assert ModelsLogic.sliceRange(vol, "slab", 1, slabHalfWidth=5) == (0, 3)
    assert ModelsLogic.sliceRange(vol, "volume") is None
    with pytest.raises(InputError, match="needs a slice index"):
        ModelsLogic.sliceRange(vol, "slice", 7)
    with pytest.raises(InputError, match="scope"):
        ModelsLogic.sliceRange(vol, "lung", 1)
    # RAS of slice 2's centre -> index 2
    m = np.zeros((4, 4))
    import vtk

    mat = vtk.vtkMatrix4x4()
    vol.GetIJKToRASMatrix(mat)
    for i in range(4):
        for j in range(4):
            m[i, j] = mat.GetElement(i, j)
    ras = m @ np.array([10, 20, 2, 1.0])
    assert ModelsLogic.sliceIndexAtRas(vol, ras[:3]) == 2


def test_proposal_node_matches_the_engine(ct, tmp_path):
    image, _, vol = ct
    logic = ModelsLogic(userDirs=[tmp_path])
    node = logic.proposeToSegmentation(vol, RB, scope="slice", sliceIndex=1)
    got = segmentation_node_to_labelset(node, vol)
    want = predict(image, RB, slices=1, registry=default_registry(user_dirs=[tmp_path]))
    for name in want.names:
        np.testing.assert_array_equal(got[name].mask, want[name].mask)
    assert set(proposalSegmentNames(node)) == set(want.names)
    assert not got["skeletal_muscle"].mask[[0, 2]].any() and got["skeletal_muscle"].mask[1].sum() > 100


def test_apply_replaces_only_the_proposed_slices_of_chosen_segments(ct, tmp_path):
    image, truth, vol = ct
    user = LabelSet(image)
    user_muscle = np.zeros(image.shape, bool)
    user_muscle[0] = truth["skeletal_muscle"].mask[0]
    user.add_mask("skeletal_muscle", user_muscle, tags={TAG_STATUS: "accepted"})
    user.add_mask("vertebra", truth["vertebra"].mask)
    seg_node = labelset_to_segmentation_node(user, None, vol, name="mine")
    logic = ModelsLogic(userDirs=[tmp_path])
    proposal = logic.propose(vol, RB, scope="slice", sliceIndex=1)
    written = logic.applyProposal(seg_node, proposal, vol, names=["skeletal_muscle", "subcutaneous_fat"])
    assert written == ["skeletal_muscle", "subcutaneous_fat"]
    after = segmentation_node_to_labelset(seg_node, vol)
    assert after.names == ["skeletal_muscle", "vertebra", "subcutaneous_fat"]  # VAT/IMAT not chosen: not added
    np.testing.assert_array_equal(after["skeletal_muscle"].mask[0], user_muscle[0])  # user's slice kept
    np.testing.assert_array_equal(after["skeletal_muscle"].mask[1], proposal["skeletal_muscle"].mask[1])
    np.testing.assert_array_equal(after["vertebra"].mask, truth["vertebra"].mask)
    assert after["subcutaneous_fat"].tags[TAG_STATUS] == "proposed"
    with pytest.raises(InputError, match="not in the proposal"):
        logic.applyProposal(seg_node, proposal, vol, names=["liver"])


def test_training_from_the_tab_needs_accepted_cases(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no accepted labelled case"):
        ModelsLogic(userDirs=[tmp_path]).train(tmp_path / "empty", tmp_path / "out")


def test_torch_model_without_torch_gives_the_pytorch_extension_message(monkeypatch, tmp_path):
    import SlicerMedLabelLib.models_logic as ml
    from medlabel.errors import MissingDependencyError

    monkeypatch.setattr(ml, "torch_available", lambda: False)
    logic = ModelsLogic(userDirs=[tmp_path])
    with pytest.raises(MissingDependencyError, match="PyTorch' extension"):
        logic.model("medlabel-tissue-unet")
    assert logic.model(RB).card.name == RB  # the rule-based model needs no torch


def test_training_from_the_tab_adds_the_model_to_the_registry(tmp_path):
    pytest.importorskip("torch")
    from medlabel import io
    from medlabel.autolabel.cards import TISSUE_CLASSES
    from medlabel.autolabel.synthetic import synthetic_slices
    from medlabel.image import Image

    cases = tmp_path / "cases"
    cases.mkdir()
    for seed in (1, 2):
        ct, lab = synthetic_slices(seed, n_slices=1, size=64, spacing_mm=6.0)
        image = Image(ct.astype(np.int16), (5.0, 6.0, 6.0))
        io.write_image(image, cases / f"c{seed}.nrrd")
        truth = LabelSet(image)
        for v, name in enumerate(TISSUE_CLASSES, start=1):
            truth.add_mask(name, lab == v, tags={TAG_STATUS: "accepted"})
        io.write_seg_nrrd(truth, cases / f"c{seed}.seg.nrrd")
    models = tmp_path / "models"
    seen = []
    logic = ModelsLogic(progress=lambda f, t: seen.append(f), userDirs=[models])
    assert "tab-model" not in logic.modelNames()
    result = logic.train(cases, models / "tab-model", name="tab-model", epochs=2, base_channels=4, depth=2, crop=32,
                         input_spacing_mm=(6.0, 6.0), batch_size=1)
    assert result.card.training_data["train_slices"] == 1 and seen[-1] == 1.0
    assert "tab-model" in logic.modelNames()  # registry refreshed
