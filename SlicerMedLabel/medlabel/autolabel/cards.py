"""Model cards: the JSON file that travels with every auto-label model.

A card says what a model labels (segment names, values and terminology), what input it expects
(in-plane spacing and CT intensity window), what it was trained on, how well it did (metrics on its
held-in test data), how big it is (parameter count) and which weights file belongs to it (SHA-256).
Loading a model verifies the hash, so a card never describes other weights than its own.

The card format follows the spirit of "Model Cards for Model Reporting" (Mitchell et al., FAT* 2019,
doi:10.1145/3287560.3287596): intended use, training data, evaluation data and metrics in one record.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputExistsError, ReadError
from ..labels import TERMS

CARD_SUFFIX = ".card.json"
CARD_FORMAT = "medlabel-model-card/1"

#: The L3 body-composition classes every tissue model predicts, in label-value order (0 = background).
#: Each entry: (segment name = key of :data:`medlabel.labels.TERMS`, label value).
TISSUE_CLASSES: tuple[str, ...] = ("skeletal_muscle", "subcutaneous_fat", "visceral_fat", "intermuscular_fat")


@dataclass
class LabelSpec:
    """One output label of a model: segment name, its value in the predicted label map, terminology key."""

    name: str
    value: int
    terminology: str

    def __post_init__(self) -> None:
        if self.value < 1:
            raise InputError(f"label {self.name!r}: value must be >= 1 (0 is background); got {self.value}")
        if self.terminology not in TERMS:
            raise InputError(f"label {self.name!r}: unknown terminology key {self.terminology!r}; "
                             f"known: {', '.join(sorted(TERMS))}")


def tissue_labels() -> list[LabelSpec]:
    """The default label list: muscle 1, SAT 2, VAT 3, IMAT 4 (names = terminology keys)."""
    return [LabelSpec(n, i, n) for i, n in enumerate(TISSUE_CLASSES, start=1)]


@dataclass
class ModelCard:
    """Everything a user needs to judge a model, stored as ``<name>.card.json`` beside its weights.

    Attributes
    ----------
    name, version : str
        Registry name (unique) and version text; segments get the tag ``MedLabel.Model = name@version``.
    kind : str
        ``"torch-unet2d"`` (weights file + network config) or ``"rule-based"`` (code, no weights).
    description : str
        Intended use in one or two sentences.
    labels : list of LabelSpec
        Output segments and their values in the model's label map.
    input_spacing_mm : (2,) float
        In-plane (y, x) spacing the network works at; slices are resampled to it and back.
    window_hu : (2,) float
        CT intensity window (low, high) mapped to 0..1 before the network.
    network : dict
        Constructor arguments of the network (``base_channels``, ``depth``, ``in_channels``, ``n_classes``).
    parameters : int
        Number of trainable parameters.
    weights_file : str
        File name of the weights, relative to the card's folder ("" for rule-based models).
    sha256 : str
        SHA-256 of the weights file (hex); checked on load.
    training_data : dict
        Data sources, case counts per split, patient ids per split, software/seed, epochs.
    metrics : dict
        Held-in test metrics, e.g. ``{"test": {"dice": {"skeletal_muscle": 0.91, ...}, "mean_dice": ...}}``.
    created : str
        ISO time of creation.
    hu_refinement : list, optional
        Native-resolution refinement of the network output by HU windows: a list of groups, each a list
        of ``[label name, low HU, high HU]``. Pixels predicted as any label of a group are given the first
        label of the group whose (inclusive) window holds their HU, else background. With the Alberta
        windows (Mitsiopoulos et al. 1998; Mourtzakis et al. 2008) this turns "muscle compartment"
        into muscle (-29..150 HU) and intermuscular fat (-190..-30 HU) at the image's own resolution.
    """

    name: str
    version: str = "1"
    kind: str = "torch-unet2d"
    description: str = ""
    labels: list[LabelSpec] = field(default_factory=tissue_labels)
    input_spacing_mm: tuple[float, float] = (2.0, 2.0)
    window_hu: tuple[float, float] = (-250.0, 250.0)
    network: dict[str, Any] = field(default_factory=dict)
    parameters: int = 0
    weights_file: str = ""
    sha256: str = ""
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    hu_refinement: list | None = None
    format: str = CARD_FORMAT
    path: Path | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "@|:/\\"):
            raise InputError(f"model name {self.name!r} must be non-empty and contain none of @ | : / \\")
        self.labels = [lab if isinstance(lab, LabelSpec) else LabelSpec(**lab) for lab in self.labels]
        values = [lab.value for lab in self.labels]
        if len(set(values)) != len(values):
            raise InputError(f"model {self.name!r}: label values must be unique; got {values}")
        self.input_spacing_mm = tuple(float(v) for v in self.input_spacing_mm)  # type: ignore[assignment]
        self.window_hu = tuple(float(v) for v in self.window_hu)  # type: ignore[assignment]
        if len(self.input_spacing_mm) != 2 or min(self.input_spacing_mm) <= 0:
            raise InputError(f"model {self.name!r}: input_spacing_mm must be 2 positive numbers (y, x); "
                             f"got {self.input_spacing_mm}")
        names = {lab.name for lab in self.labels}
        for group in self.hu_refinement or []:
            for item in group:
                if len(item) != 3 or item[0] not in names or not float(item[1]) <= float(item[2]):
                    raise InputError(f"model {self.name!r}: hu_refinement entry {item!r} must be [label name, low HU, "
                                     f"high HU] with a known label ({sorted(names)}) and low <= high")
        if len(self.window_hu) != 2 or self.window_hu[0] >= self.window_hu[1]:
            raise InputError(f"model {self.name!r}: window_hu must be (low, high) with low < high; got {self.window_hu}")

    @property
    def model_id(self) -> str:
        """``name@version``, the value of the ``MedLabel.Model`` segment tag."""
        return f"{self.name}@{self.version}"

    @property
    def label_names(self) -> dict[int, str]:
        return {lab.value: lab.name for lab in self.labels}

    def weights_path(self) -> Path | None:
        if not self.weights_file:
            return None
        base = self.path.parent if self.path is not None else Path.cwd()
        return base / self.weights_file

    # -- JSON --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        d["input_spacing_mm"] = list(self.input_spacing_mm)
        d["window_hu"] = list(self.window_hu)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path | None = None) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__ if f != "path"}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"model card {path or ''}: unknown fields {sorted(unknown)}; known: {sorted(known)}")
        if d.get("format", CARD_FORMAT) != CARD_FORMAT:
            raise InputError(f"model card {path or ''}: format {d.get('format')!r} is not {CARD_FORMAT!r}")
        return cls(**d, path=path)

    @classmethod
    def read(cls, path: str | Path) -> ModelCard:
        """Read a card JSON file; raise :class:`ReadError` naming the file when it is not a card."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ReadError(f"cannot read model card {path}: {exc}. Expected a JSON file written by "
                            "'medlabel train'.") from exc
        if not isinstance(d, dict) or "name" not in d:
            raise ReadError(f"{path} is not a model card (no 'name' field)")
        try:
            return cls.from_dict(d, path=path)
        except TypeError as exc:
            raise ReadError(f"model card {path} is incomplete: {exc}") from exc

    def write(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the card as JSON (atomically); refuse to overwrite unless ``force``."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"), force=force)
        self.path = path
        return path

    def verify_weights(self) -> Path:
        """Check the weights file exists and matches :attr:`sha256`; return its path."""
        wp = self.weights_path()
        if wp is None:
            raise InputError(f"model {self.model_id} has no weights file (kind {self.kind!r})")
        if not wp.is_file():
            raise ReadError(f"weights file {wp} of model {self.model_id} (card {self.path}) is missing; "
                            "copy it beside the card or retrain the model")
        digest = sha256_file(wp)
        if digest != self.sha256:
            raise ReadError(f"weights file {wp} has SHA-256 {digest[:16]}..., but card {self.path} expects "
                            f"{self.sha256[:16]}...: the file was changed or belongs to another model. "
                            "Restore the original file or retrain.")
        return wp


#: Alberta-protocol refinement (HU windows of Mitsiopoulos 1998 / Mourtzakis 2008) for the tissue labels
ALBERTA_REFINEMENT: list = [
    [["skeletal_muscle", -29.0, 150.0], ["intermuscular_fat", -190.0, -30.0]],
    [["subcutaneous_fat", -190.0, -30.0]],
    [["visceral_fat", -150.0, -50.0]],
]


def refine_by_hu(labelmap: np.ndarray, hu: np.ndarray, refinement: list | None, values: dict[str, int]) -> np.ndarray:
    """Apply a card's ``hu_refinement`` to a label map (new array; same shape as ``hu``).

    Parameters
    ----------
    labelmap : (N, Y, X) ndarray of int
        Label values predicted by the network on the image grid.
    hu : (N, Y, X) ndarray
        CT values in HU, same shape.
    refinement : list or None
        Groups of ``[name, low, high]`` (see :class:`ModelCard`); None returns a copy.
    values : dict name -> label value
    """
    out = np.array(labelmap, copy=True)
    for group in refinement or []:
        region = np.isin(labelmap, [values[item[0]] for item in group])
        out[region] = 0
        todo = region.copy()
        for name, lo, hi in group:
            take = todo & (hu >= float(lo)) & (hu <= float(hi))
            out[take] = values[name]
            todo &= ~take
    return out


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it; refuse to overwrite unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass force=True (CLI: --force) to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
