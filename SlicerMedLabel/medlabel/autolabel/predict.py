"""`predict(image, model) -> LabelSet`: the one entry point for auto-labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..image import Image
from ..labels import TAG_MODEL, TAG_SOURCE, TAG_STATUS, TAG_TIME, TAG_TOOL, LabelSet, Status, Tool, now_iso
from .models import Progress

SliceSelection = None | int | tuple[int, int] | slice | Sequence[int]


def resolve_slices(selection: SliceSelection, n_slices: int) -> np.ndarray:
    """Slice indices (sorted, unique) chosen by ``selection`` on a volume of ``n_slices`` slices.

    ``None`` = all slices; an ``int`` = that slice; a ``(start, stop)`` tuple or a ``slice`` = the slab
    ``start:stop``; any other sequence = those indices. Out-of-range indices raise :class:`InputError`.
    """
    if selection is None:
        idx = np.arange(n_slices)
    elif isinstance(selection, (int, np.integer)):
        idx = np.array([int(selection)])
    elif isinstance(selection, slice):
        idx = np.arange(n_slices)[selection]
    elif isinstance(selection, tuple) and len(selection) == 2:
        start, stop = int(selection[0]), int(selection[1])
        if not 0 <= start < stop <= n_slices:
            raise InputError(f"slices=({start}, {stop}) is not a slab inside the image's 0..{n_slices} slices "
                             "(start inclusive, stop exclusive)")
        idx = np.arange(start, stop)
    else:
        idx = np.unique(np.asarray(list(selection), dtype=int))
    if idx.size == 0:
        raise InputError(f"slices={selection!r} selects no slice of the {n_slices}-slice image")
    bad = idx[(idx < 0) | (idx >= n_slices)]
    if bad.size:
        raise InputError(f"slice indices {bad.tolist()} are outside the image's 0..{n_slices - 1} slices")
    return idx


def predict(image: Image, model, *, slices: SliceSelection = None, registry=None,
            progress: Progress | None = None) -> LabelSet:
    """Auto-label axial slices of a CT with a registered model.

    Parameters
    ----------
    image : Image
        CT in HU, array (Z, Y, X), ``spacing_mm`` (z, y, x); slices are processed one by one in 2-D.
    model : str or model object
        A registry name (looked up in ``registry``, default :func:`default_registry`) or an object with
        ``card`` and ``predict_labelmap`` (see :mod:`medlabel.autolabel.models`).
    slices : None, int, (start, stop), slice or sequence of int
        Which slices to label (see :func:`resolve_slices`); others stay empty in the result.
    registry : ModelRegistry, optional
    progress : callable(fraction, text), optional

    Returns
    -------
    LabelSet
        On the image's full grid: one segment per model label (empty ones included, so the user sees
        every class), terminology from the card, and tags ``MedLabel.Model = name@version``,
        ``MedLabel.Tool = automatic``, ``MedLabel.Status = proposed``, ``MedLabel.Time``, and
        ``MedLabel.Source`` = the labelled slice indices (e.g. ``"12-14"``). ``meta['slices']`` holds the
        indices as a list.

    Notes
    -----
    The input image is not modified. Everything outside the chosen slices is background.
    """
    if not isinstance(image, Image):
        raise InputError(f"predict() needs a medlabel.image.Image; got {type(image).__name__}")
    if isinstance(model, str):
        if registry is None:
            from .registry import default_registry

            registry = default_registry()
        model = registry.get(model)
    if not hasattr(model, "predict_labelmap") or not hasattr(model, "card"):
        raise InputError(f"model must be a registry name or an auto-label model object; got {type(model).__name__}")
    k_dir = np.asarray(image.direction, float).reshape(3, 3)[:, 2]
    if abs(k_dir[2]) < np.cos(np.deg2rad(45.0)):
        raise InputError(
            f"{image.meta.get('source', 'the image')}: its slices (array axis k) are not axial: axis k runs along "
            f"LPS direction ({k_dir[0]:.2f}, {k_dir[1]:.2f}, {k_dir[2]:.2f}), not head-foot. The auto-label models "
            "work on axial slices: reorient the image to axial first (e.g. SimpleITK.DICOMOrient(image, 'LPS'))")
    idx = resolve_slices(slices, image.shape[0])
    labelmap = np.zeros(image.shape, np.uint8)
    labelmap[idx] = model.predict_labelmap(image.array[idx], image.spacing_mm[1:], direction=image.direction,
                                           progress=progress)
    card = model.card
    tags = {TAG_MODEL: card.model_id, TAG_TOOL: Tool.AUTOMATIC.value, TAG_STATUS: Status.PROPOSED.value,
            TAG_TIME: now_iso(), TAG_SOURCE: _ranges_text(idx)}
    out = LabelSet(image, meta={"model": card.model_id, "slices": idx.tolist()})
    for lab in card.labels:
        out.add_mask(lab.name, labelmap == lab.value, terminology=lab.terminology, tags=tags)
    return out


def _ranges_text(idx: np.ndarray) -> str:
    """Compact text for sorted indices: [3, 4, 5, 9] -> 'slices 3-5,9'."""
    parts, start, prev = [], int(idx[0]), int(idx[0])
    for v in [*idx[1:].tolist(), None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return "slices " + ",".join(parts)
