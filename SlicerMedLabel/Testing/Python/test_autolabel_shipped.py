"""The shipped network: loads (hash checked), is small, and reaches the accuracy its card states on its test data."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from conftest import data_path  # noqa: E402
from medlabel import io  # noqa: E402
from medlabel.autolabel import ModelCard, TorchUNetModel, default_registry, predict  # noqa: E402
from medlabel.autolabel.registry import SHIPPED_MODELS_DIR  # noqa: E402
from medlabel.autolabel.shipped import (  # noqa: E402
    SHIPPED_NAME,
    TS_REFERENCE_REGIONS,
    split_samples,
    ts_tissue_reference_samples,
)
from medlabel.autolabel.training import evaluate_model, summarise_scores  # noqa: E402
from medlabel.labels import TAG_MODEL, TAG_STATUS  # noqa: E402

CARD = SHIPPED_MODELS_DIR / f"{SHIPPED_NAME}.card.json"
#: the rule-based labeler and the phantom generator may be refined after training; allow that much drift
TOLERANCE = 0.02


@pytest.fixture(scope="module")
def model():
    return TorchUNetModel(ModelCard.read(CARD))


@pytest.fixture(scope="module")
def test_scores(model):
    return evaluate_model(model, split_samples("test"))


def test_shipped_model_is_registered_small_and_verified(model):
    reg = default_registry(user_dirs=[])
    assert reg.entry(SHIPPED_NAME).source == "shipped"
    card = model.card
    weights = card.verify_weights()  # SHA-256 of the file equals the card's
    assert weights.stat().st_size < 5_000_000
    assert card.parameters == sum(p.numel() for p in model.network.parameters()) <= 10_000_000
    assert [lab.name for lab in card.labels] == ["skeletal_muscle", "subcutaneous_fat", "visceral_fat",
                                                 "intermuscular_fat"]
    assert card.training_data["test_patients"] and not set(card.training_data["test_patients"]) & set(
        card.training_data["train_patients"])


def test_shipped_model_reaches_its_card_accuracy_on_the_held_in_test_data(model, test_scores):
    card = model.card
    got = summarise_scores(test_scores)
    stated = card.metrics["test"]
    assert got["n_slices"] == stated["n_slices"]
    assert got["mean_dice"] >= stated["mean_dice"] - TOLERANCE
    for region, dice in stated["dice"].items():
        assert got["dice"][region] >= dice - TOLERANCE, region
    for source, part in test_scores.groupby("source"):
        want = card.metrics["test_by_source"][source]["mean_dice"]
        assert summarise_scores(part)["mean_dice"] >= want - TOLERANCE, source
    # the card's IoU-bin table is the one these scores give
    assert got["iou_bins"]["all"]["n"] == stated["iou_bins"]["all"]["n"]


def test_shipped_model_against_totalsegmentator_tissue_masks(model):
    """Proxy reference on slices not used for training (same patient): muscle and SAT agreement as on the card."""
    scores = evaluate_model(model, ts_tissue_reference_samples(), regions=TS_REFERENCE_REGIONS)
    got = summarise_scores(scores)
    stated = next(iter(model.card.metrics["extra"].values()))
    for region in TS_REFERENCE_REGIONS:
        assert got["dice"][region] >= stated["dice"][region] - TOLERANCE, region


def test_shipped_model_proposes_on_real_ct():
    image = io.read_image(data_path("tcia_crlm/CRLM-CT-1006"))
    out = predict(image, SHIPPED_NAME, slices=9, registry=default_registry(user_dirs=[]))
    muscle = out["skeletal_muscle"]
    assert muscle.tags[TAG_MODEL] == f"{SHIPPED_NAME}@1" and muscle.tags[TAG_STATUS] == "proposed"
    area_cm2 = muscle.mask[9].sum() * image.pixel_area_mm2 / 100
    assert 60 < area_cm2 < 300  # plausible L3-level skeletal muscle area of an adult
    assert not np.any([s.mask[[0, 10]].any() for s in out])
