"""Adapter that registers the rule-based body-composition labeler (:mod:`medlabel.bodycomp`) as a model.

The labeler (HU windows of the Alberta protocol + anatomy rules, see :func:`medlabel.bodycomp.label_tissues`)
needs no weights; its card is built here, with ``kind = "rule-based"`` and no metrics of its own.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import __version__
from ..image import Image
from .cards import ModelCard, tissue_labels

log = logging.getLogger(__name__)

RULE_BASED_NAME = "rule-based-bodycomp"


def rule_based_card() -> ModelCard:
    """The card of the rule-based labeler (labels = the four L3 tissues)."""
    return ModelCard(
        name=RULE_BASED_NAME, version=__version__, kind="rule-based",
        description="Rule-based L3 tissues: Alberta-protocol HU windows (muscle -29..150, SAT/IMAT -190..-30, "
                    "VAT -150..-50 HU) with body outline, muscle-wall and psoas rules (medlabel.bodycomp).",
        labels=tissue_labels(), input_spacing_mm=(1.0, 1.0), window_hu=(-190.0, 150.0),
        training_data={"note": "no training: fixed rules"},
    )


def _run_label_tissues(slices_hu: np.ndarray, spacing_yx_mm, direction, progress) -> np.ndarray:
    from ..bodycomp import label_tissues

    d = np.eye(3) if direction is None else np.asarray(direction, float).reshape(3, 3)
    image = Image(slices_hu, (1.0, *spacing_yx_mm), (0.0, 0.0, 0.0), d)
    labels = label_tissues(image, progress=progress)
    out = np.zeros(slices_hu.shape, np.uint8)
    for spec in tissue_labels():
        if spec.name in labels:
            out[labels[spec.name].mask] = spec.value
    return out


def register_rule_based(registry) -> bool:
    """Register :data:`RULE_BASED_NAME` when :func:`medlabel.bodycomp.label_tissues` exists; return whether it did."""
    try:
        from ..bodycomp import label_tissues  # noqa: F401
    except ImportError:
        log.debug("medlabel.bodycomp.label_tissues not available; rule-based model not registered")
        return False
    from .models import FunctionModel

    card = rule_based_card()
    registry.register(card, lambda: FunctionModel(card, _run_label_tissues), source="built-in")
    return True
