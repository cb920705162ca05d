"""Auto-label models behind one small interface.

A model has a :class:`~medlabel.autolabel.cards.ModelCard` and a method
``predict_labelmap(slices_hu, spacing_yx_mm, *, progress=None) -> (N, Y, X) uint8`` that returns the
card's label values (0 = background) for a stack of axial slices. :func:`medlabel.autolabel.predict`
turns that into a :class:`~medlabel.labels.LabelSet` with provenance tags.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from ..errors import InputError
from .cards import ModelCard

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


def _noop(fraction: float, text: str) -> None:
    return None


def check_slices(slices_hu: np.ndarray, spacing_yx_mm) -> tuple[np.ndarray, tuple[float, float]]:
    """Validate a ``(N, Y, X)`` stack and a (y, x) spacing; return them normalised."""
    arr = np.asarray(slices_hu)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise InputError(f"slices_hu must be (N, Y, X) (or one (Y, X) slice); got shape {arr.shape}")
    sp = tuple(float(s) for s in spacing_yx_mm)
    if len(sp) != 2 or min(sp) <= 0:
        raise InputError(f"spacing_yx_mm must be 2 positive numbers (row, column spacing in mm); got {spacing_yx_mm}")
    return arr, sp  # type: ignore[return-value]


def canonical_transpose(direction) -> bool:
    """Whether ``(N, Y, X)`` slices are stored transposed: array rows (axis j) run nearer left-right (LPS x)
    than anterior-posterior, e.g. a NIfTI written with ``DICOMOrient(img, 'PLS')``."""
    if direction is None:
        return False
    d = np.asarray(direction, float).reshape(3, 3)
    return bool(abs(d[0, 1]) > abs(d[1, 1]))


def canonical_flips(direction) -> tuple[bool, bool]:
    """Whether rows / columns must be flipped so that rows run anterior->posterior and columns right->left.

    That is the orientation of a standard axial DICOM (LPS-aligned, identity direction) on which the
    networks are trained; NIfTI files stored in RAS come out of SimpleITK with both axes reversed.
    ``direction`` is the 3x3 matrix of :class:`~medlabel.image.Image` (columns = LPS directions of i, j, k).
    For transposed slices (see :func:`canonical_transpose`) the flips apply after the transposition.
    """
    if direction is None:
        return False, False
    d = np.asarray(direction, float).reshape(3, 3)
    if canonical_transpose(d):  # after the transposition rows follow axis i and columns axis j
        return bool(d[1, 0] < 0), bool(d[0, 1] < 0)
    return bool(d[1, 1] < 0), bool(d[0, 0] < 0)


def _flip(slices: np.ndarray, fy: bool, fx: bool) -> np.ndarray:
    if fy:
        slices = slices[:, ::-1]
    if fx:
        slices = slices[:, :, ::-1]
    return slices


def to_canonical(slices: np.ndarray, direction) -> np.ndarray:
    """Put ``(N, Y, X)`` slices into the canonical orientation (see :func:`canonical_flips`): transposed
    first when they are stored transposed, then flipped. :func:`from_canonical` undoes it."""
    if canonical_transpose(direction):
        slices = slices.transpose(0, 2, 1)
    return _flip(slices, *canonical_flips(direction))


def from_canonical(slices: np.ndarray, direction) -> np.ndarray:
    """Inverse of :func:`to_canonical`: canonical ``(N, Y', X')`` slices back to the image's storage."""
    slices = _flip(slices, *canonical_flips(direction))
    if canonical_transpose(direction):
        slices = slices.transpose(0, 2, 1)
    return slices


def canonical_spacing(spacing_yx_mm, direction) -> tuple[float, float]:
    """In-plane spacing (rows, columns) in mm of the slices after :func:`to_canonical`."""
    sy, sx = (float(v) for v in spacing_yx_mm)
    return (sx, sy) if canonical_transpose(direction) else (sy, sx)


class TorchUNetModel:
    """A trained :class:`~medlabel.autolabel.net.UNet2D` described by a card (weights verified on load).

    Parameters
    ----------
    card : ModelCard
        Card with ``kind == "torch-unet2d"``; its ``path`` locates the weights file.
    threads : int
        torch CPU threads for inference (keep it low on shared machines).
    batch_size : int
        Slices per forward pass.
    """

    def __init__(self, card: ModelCard, *, threads: int = 1, batch_size: int = 4) -> None:
        if card.kind != "torch-unet2d":
            raise InputError(f"model {card.model_id}: kind {card.kind!r} is not 'torch-unet2d'")
        self.card = card
        self.threads = threads
        self.batch_size = max(1, int(batch_size))
        self._net = None

    @classmethod
    def from_network(cls, card: ModelCard, net) -> TorchUNetModel:
        """Wrap an in-memory network (e.g. right after training) without reading weights."""
        model = cls(card)
        model._net = net.eval()
        return model

    @property
    def network(self):
        """The torch module, loaded (and its weights' SHA-256 checked) on first use."""
        if self._net is None:
            from .net import build_network, count_parameters, torch

            wp = self.card.verify_weights()
            net = build_network(self.card.network)
            state = torch.load(wp, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
            n = count_parameters(net)
            if self.card.parameters and n != self.card.parameters:
                raise InputError(f"model {self.card.model_id}: network has {n} parameters, card says "
                                 f"{self.card.parameters}; the card's 'network' settings do not match the weights")
            self._net = net.eval()
        return self._net

    def predict_labelmap(self, slices_hu: np.ndarray, spacing_yx_mm, *, direction=None,
                         progress: Progress | None = None) -> np.ndarray:
        """Label values ``(N, Y, X)`` uint8 for HU slices ``(N, Y, X)`` with in-plane spacing (y, x) mm.

        ``direction`` (3x3, the image's) lets the model flip slices into its training orientation and back.
        """
        from .net import from_model_grid, to_model_grid, torch

        hu, sp = check_slices(slices_hu, spacing_yx_mm)
        arr = np.ascontiguousarray(to_canonical(hu, direction))
        sp = canonical_spacing(sp, direction)
        progress = progress or _noop
        net = self.network
        old_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        out = np.zeros(arr.shape, np.uint8)
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                for start in range(0, arr.shape[0], self.batch_size):
                    stop = min(start + self.batch_size, arr.shape[0])
                    x, size = to_model_grid(arr[start:stop], sp, self.card)
                    out[start:stop] = from_model_grid(net(x), size, arr.shape[1:])
                    progress(stop / arr.shape[0], f"{self.card.name}: slice {stop}/{arr.shape[0]}")
        finally:
            torch.set_num_threads(old_threads)
        out = np.ascontiguousarray(from_canonical(out, direction))
        if self.card.hu_refinement:
            from .cards import refine_by_hu

            out = refine_by_hu(out, hu, self.card.hu_refinement,
                               {lab.name: lab.value for lab in self.card.labels}).astype(np.uint8)
        log.info("%s labelled %d slices of %dx%d in %.2f s", self.card.model_id, arr.shape[0], *arr.shape[1:],
                 time.perf_counter() - t0)
        return out


class FunctionModel:
    """A model implemented by a Python function (e.g. the rule-based body-composition labeler).

    Parameters
    ----------
    card : ModelCard
        Card with ``kind == "rule-based"``.
    function : callable
        ``function(slices_hu (N, Y, X), spacing_yx_mm, direction, progress) -> (N, Y, X)`` label values
        of the card.
    """

    def __init__(self, card: ModelCard, function: Callable[..., np.ndarray]) -> None:
        self.card = card
        self.function = function

    def predict_labelmap(self, slices_hu: np.ndarray, spacing_yx_mm, *, direction=None,
                         progress: Progress | None = None) -> np.ndarray:
        arr, sp = check_slices(slices_hu, spacing_yx_mm)
        out = np.asarray(self.function(arr, sp, direction, progress or _noop))
        if out.shape != arr.shape:
            raise InputError(f"model {self.card.model_id} returned shape {out.shape} for input {arr.shape}")
        return out.astype(np.uint8)
