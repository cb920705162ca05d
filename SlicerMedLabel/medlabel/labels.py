"""`LabelSet`: named segments (binary masks) on one image grid, with colour, terminology and tags.

Masks are boolean (Z, Y, X) arrays on the grid given by ``LabelSet.geometry``. Provenance lives in
string tags so that it survives a save to ``.seg.nrrd`` and a load into Slicer (segment tags there).
Tag keys used by the engine are the ``TAG_*`` constants (no ':' in keys, no '|' in values: Slicer's rule).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from .errors import GeometryError, InputError
from .image import Image

TAG_ANNOTATOR = "MedLabel.Annotator"
TAG_SKILL = "MedLabel.Skill"
TAG_TOOL = "MedLabel.Tool"
TAG_MODEL = "MedLabel.Model"
TAG_TIME = "MedLabel.Time"
TAG_STATUS = "MedLabel.Status"
TAG_SOURCE = "MedLabel.Source"


class Skill(StrEnum):
    EXPERT = "expert"
    NOVICE = "novice"


class Tool(StrEnum):
    MANUAL = "manual"
    SEMI_AUTOMATIC = "semi-automatic"
    AUTOMATIC = "automatic"


class Status(StrEnum):
    DRAFT = "draft"
    PROPOSED = "proposed"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REDO = "redo"
    ADJUDICATED = "adjudicated"


def now_iso() -> str:
    """Current UTC time as ISO-8601 text (seconds), for provenance tags."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Code:
    """A coded concept (DICOM style): scheme designator, code value, code meaning."""

    scheme: str
    value: str
    meaning: str

    def to_slicer(self) -> str:
        return f"{self.scheme}^{self.value}^{self.meaning}"

    @classmethod
    def from_slicer(cls, text: str) -> Code | None:
        parts = text.split("^")
        if len(parts) != 3 or not any(parts):
            return None
        return cls(*parts)


_EMPTY = "^^"


@dataclass(frozen=True)
class Terminology:
    """Segment terminology: category, type and optional type modifier / anatomic region.

    Serialised as Slicer's ``TerminologyEntry`` tag:
    ``context~category~type~typeModifier~anatomicContext~anatomicRegion~anatomicRegionModifier``.
    """

    category: Code
    type: Code
    modifier: Code | None = None
    context: str = "Segmentation category and type - 3D Slicer General Anatomy list"
    anatomic_region: Code | None = None

    def to_slicer(self) -> str:
        mod = self.modifier.to_slicer() if self.modifier else _EMPTY
        reg = self.anatomic_region.to_slicer() if self.anatomic_region else _EMPTY
        return "~".join(
            [self.context, self.category.to_slicer(), self.type.to_slicer(), mod,
             "Anatomic codes - DICOM master list", reg, _EMPTY]
        )

    @classmethod
    def from_slicer(cls, text: str) -> Terminology | None:
        parts = text.split("~")
        if len(parts) < 3:
            return None
        cat, typ = Code.from_slicer(parts[1]), Code.from_slicer(parts[2])
        if cat is None or typ is None:
            return None
        mod = Code.from_slicer(parts[3]) if len(parts) > 3 else None
        reg = Code.from_slicer(parts[5]) if len(parts) > 5 else None
        return cls(cat, typ, mod, parts[0], reg)


TISSUE = Code("SCT", "85756007", "Tissue")
ANATOMICAL_STRUCTURE = Code("SCT", "123037004", "Anatomical Structure")
MORPH_ABNORMAL = Code("SCT", "49755003", "Morphologically Altered Structure")

#: Terminology used by the product. Visceral and intermuscular fat have no standard SNOMED code
#: in Slicer's lists; they use our own scheme "MedLabel" (documented in docs/design.md).
TERMS: dict[str, Terminology] = {
    "skeletal_muscle": Terminology(TISSUE, Code("SCT", "127954009", "Skeletal muscle tissue")),
    "subcutaneous_fat": Terminology(TISSUE, Code("SCT", "67769002", "Subcutaneous adipose tissue")),
    "visceral_fat": Terminology(TISSUE, Code("MedLabel", "VAT", "Visceral adipose tissue")),
    "intermuscular_fat": Terminology(TISSUE, Code("MedLabel", "IMAT", "Intermuscular adipose tissue")),
    "body_fat": Terminology(TISSUE, Code("SCT", "248300009", "Body fat")),
    "bone": Terminology(TISSUE, Code("SCT", "272673000", "Bone")),
    "vertebra": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "51282000", "Vertebra")),
    "body": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "38266002", "Entire body")),
    "organ": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "113343008", "Body organ structure")),
    "lesion": Terminology(MORPH_ABNORMAL, Code("SCT", "108369006", "Neoplasm")),
    "nodule": Terminology(MORPH_ABNORMAL, Code("SCT", "27925004", "Nodule")),
}

DEFAULT_COLORS: dict[str, tuple[float, float, float]] = {
    "skeletal_muscle": (0.85, 0.25, 0.25),
    "subcutaneous_fat": (0.95, 0.85, 0.35),
    "visceral_fat": (0.35, 0.75, 0.35),
    "intermuscular_fat": (0.35, 0.65, 0.95),
    "bone": (0.95, 0.95, 0.85),
    "vertebra": (0.9, 0.9, 0.7),
    "body": (0.6, 0.6, 0.6),
}


@dataclass(frozen=True)
class Geometry:
    """Grid of a label set: shape (z, y, x), spacing_mm (z, y, x), origin_lps (x, y, z), direction."""

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin_lps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "spacing_mm", tuple(float(s) for s in self.spacing_mm))
        object.__setattr__(self, "origin_lps", tuple(float(o) for o in self.origin_lps))
        object.__setattr__(self, "direction", tuple(float(d) for d in np.asarray(self.direction).ravel()))

    @classmethod
    def of(cls, image: Image) -> Geometry:
        return cls(
            tuple(int(s) for s in image.shape),
            tuple(float(s) for s in image.spacing_mm),
            tuple(float(o) for o in image.origin_lps),
            tuple(float(v) for v in np.asarray(image.direction).ravel()),
        )

    def empty_image(self, dtype=np.uint8) -> Image:
        """An Image of zeros on this grid."""
        return Image(np.zeros(self.shape, dtype), self.spacing_mm, self.origin_lps,
                     np.asarray(self.direction).reshape(3, 3))

    def matches(self, other: Geometry, tol_mm: float = 1e-3) -> bool:
        return (
            tuple(self.shape) == tuple(other.shape)
            and np.allclose(self.spacing_mm, other.spacing_mm, atol=tol_mm)
            and np.allclose(self.origin_lps, other.origin_lps, atol=tol_mm)
            and np.allclose(self.direction, other.direction, atol=1e-5)
        )


@dataclass
class Segment:
    """One segment: a boolean (Z, Y, X) mask plus name, colour (RGB 0..1), terminology and tags."""

    name: str
    mask: np.ndarray
    color: tuple[float, float, float] = (0.5, 0.5, 0.5)
    terminology: Terminology | None = None
    tags: dict[str, str] = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("a segment needs a non-empty name")
        self.mask = np.asarray(self.mask).astype(bool, copy=False)
        if self.mask.ndim == 2:
            self.mask = self.mask[np.newaxis]
        if self.mask.ndim != 3:
            raise InputError(f"segment '{self.name}' mask must be 3-D (z, y, x); got shape {self.mask.shape}")
        self.color = tuple(float(c) for c in self.color)  # type: ignore[assignment]
        if len(self.color) != 3 or any(not 0.0 <= c <= 1.0 for c in self.color):
            raise InputError(f"segment '{self.name}' colour must be 3 values in 0..1; got {self.color}")
        for k, v in self.tags.items():
            if ":" in k or "|" in str(v):
                raise InputError(f"segment tag {k!r}={v!r}: keys may not contain ':' and values may not contain '|'")
        self.tags = {str(k): str(v) for k, v in self.tags.items()}
        if self.id is None:
            self.id = self.name

    @property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(self.mask))

    def copy(self, **changes) -> Segment:
        seg = replace(self, mask=self.mask.copy(), tags=dict(self.tags))
        for k, v in changes.items():
            setattr(seg, k, v)
        return seg


class LabelSet:
    """An ordered collection of uniquely named segments on one grid.

    Parameters
    ----------
    geometry : Geometry or Image
        The grid every mask lives on.
    segments : iterable of Segment, optional
    meta : dict, optional
        Set-level metadata (e.g. reference image id, annotator when the whole set is one person's).
    """

    def __init__(self, geometry: Geometry | Image, segments: Iterable[Segment] = (), meta: dict | None = None):
        self.geometry = Geometry.of(geometry) if isinstance(geometry, Image) else geometry
        self._segments: list[Segment] = []
        self.meta: dict = dict(meta or {})
        for s in segments:
            self.add(s)

    # -- collection protocol --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._segments)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self._segments)

    def __contains__(self, name: str) -> bool:
        return any(s.name == name for s in self._segments)

    def __getitem__(self, name: str) -> Segment:
        for s in self._segments:
            if s.name == name:
                return s
        raise KeyError(f"no segment named {name!r}; segments: {', '.join(self.names) or '(none)'}")

    def __repr__(self) -> str:
        return f"LabelSet({self.geometry.shape}, segments={self.names})"

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._segments]

    @property
    def segments(self) -> list[Segment]:
        return list(self._segments)

    def add(self, segment: Segment, *, replace_existing: bool = False) -> Segment:
        """Append a segment (its mask must be on this grid); duplicate names raise unless replacing."""
        if segment.mask.shape != tuple(self.geometry.shape):
            raise GeometryError(
                f"segment '{segment.name}' mask shape {segment.mask.shape} differs from the label set grid "
                f"{tuple(self.geometry.shape)}"
            )
        for i, s in enumerate(self._segments):
            if s.name == segment.name:
                if not replace_existing:
                    raise InputError(f"a segment named {segment.name!r} already exists; pass replace_existing=True")
                self._segments[i] = segment
                return segment
        ids = {s.id for s in self._segments}
        if segment.id in ids:
            n = 1
            while f"{segment.id}_{n}" in ids:
                n += 1
            segment.id = f"{segment.id}_{n}"
        self._segments.append(segment)
        return segment

    def add_mask(self, name: str, mask: np.ndarray, *, color=None, terminology: Terminology | str | None = None,
                 tags: dict[str, str] | None = None, replace_existing: bool = False) -> Segment:
        """Add a segment from a mask. ``terminology`` may be a key of :data:`TERMS` (e.g. 'skeletal_muscle')."""
        key = terminology if isinstance(terminology, str) else name
        term = TERMS.get(terminology) if isinstance(terminology, str) else terminology
        if isinstance(terminology, str) and term is None:
            raise InputError(f"unknown terminology key {terminology!r}; known: {', '.join(sorted(TERMS))}")
        if term is None:
            term = TERMS.get(name)
        color = color if color is not None else DEFAULT_COLORS.get(key, _auto_color(len(self._segments)))
        return self.add(Segment(name, mask, color, term, dict(tags or {})), replace_existing=replace_existing)

    def remove(self, name: str) -> None:
        self._segments.remove(self[name])

    def copy(self) -> LabelSet:
        return LabelSet(self.geometry, [s.copy() for s in self._segments], dict(self.meta))

    def set_tag(self, key: str, value: str, names: Iterable[str] | None = None) -> None:
        """Set a tag on every segment (or on the named ones)."""
        for s in self._segments:
            if names is None or s.name in names:
                if ":" in key or "|" in str(value):
                    raise InputError("tag keys may not contain ':' and values may not contain '|'")
                s.tags[key] = str(value)

    # -- conversions ----------------------------------------------------------------------------
    def to_labelmap(self, *, order: list[str] | None = None) -> np.ndarray:
        """A (Z, Y, X) uint16 label map: segment i (1-based, in ``order``) gets value i; later wins on overlap."""
        order = order or self.names
        out = np.zeros(self.geometry.shape, np.uint16)
        for i, name in enumerate(order, start=1):
            out[self[name].mask] = i
        return out

    @classmethod
    def from_labelmap(cls, labelmap: np.ndarray, geometry: Geometry | Image, names: dict[int, str] | None = None,
                      **tags: str) -> LabelSet:
        """One segment per non-zero value of ``labelmap`` (names default to 'Segment_<value>')."""
        labelmap = np.asarray(labelmap)
        if labelmap.ndim == 2:
            labelmap = labelmap[np.newaxis]
        ls = cls(geometry)
        for v in np.unique(labelmap):
            if v == 0:
                continue
            name = (names or {}).get(int(v), f"Segment_{int(v)}")
            ls.add_mask(name, labelmap == v, tags=dict(tags) or None)
        return ls

    def overlapping(self) -> bool:
        """True when any voxel belongs to more than one segment."""
        if not self._segments:
            return False
        return bool((np.sum([s.mask for s in self._segments], axis=0) > 1).any())


def _auto_color(i: int) -> tuple[float, float, float]:
    palette = [(0.9, 0.3, 0.3), (0.3, 0.7, 0.3), (0.3, 0.4, 0.9), (0.9, 0.7, 0.2), (0.7, 0.3, 0.8),
               (0.2, 0.8, 0.8), (0.9, 0.5, 0.1), (0.5, 0.5, 0.2)]
    return palette[i % len(palette)]
