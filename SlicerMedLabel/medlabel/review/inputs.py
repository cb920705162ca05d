"""Annotations of one image by several annotators: load, identify, put on one grid.

Identity of each annotation, first match wins: a CSV manifest (columns ``file``, ``annotator`` and
optionally ``skill``, ``tool``), the segments' ``MedLabel.Annotator`` tag (when all segments agree),
the file name (``reader1.nii.gz`` → ``reader1``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GeometryError, InputError, ReadError
from ..labels import TAG_ANNOTATOR, TAG_SKILL, TAG_TOOL, Geometry, LabelSet, Skill, Tool

log = logging.getLogger(__name__)

SEGMENTATION_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")


@dataclass
class Annotation:
    """One annotator's segmentation of the image.

    Attributes
    ----------
    annotator : str
        Annotator id (unique within a review).
    labels : LabelSet
        The segments (structure name → mask).
    skill : str
        'expert' or 'novice'.
    tool : str
        'manual', 'semi-automatic' or 'automatic'.
    source : str
        File it came from ('' when built in memory).
    """

    annotator: str
    labels: LabelSet
    skill: str = Skill.EXPERT.value
    tool: str = Tool.MANUAL.value
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.annotator:
            raise InputError(f"annotation from '{self.source or 'memory'}' has no annotator id")
        try:
            self.skill = Skill(str(self.skill).strip().lower()).value
        except ValueError:
            raise InputError(f"annotator {self.annotator}: skill {self.skill!r} is not one of "
                             f"{', '.join(s.value for s in Skill)}") from None
        try:
            self.tool = Tool(str(self.tool).strip().lower()).value
        except ValueError:
            raise InputError(f"annotator {self.annotator}: tool {self.tool!r} is not one of "
                             f"{', '.join(t.value for t in Tool)}") from None


def _stem(path: Path) -> str:
    name = path.name
    for suf in SEGMENTATION_SUFFIXES:
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return path.stem


def _tag_value(ls: LabelSet, key: str) -> str | None:
    values = {s.tags.get(key) for s in ls}
    values.discard(None)
    return values.pop() if len(values) == 1 else None


def annotation_from_labelset(ls: LabelSet, *, annotator: str | None = None, skill: str | None = None,
                             tool: str | None = None, source: str = "") -> Annotation:
    """Wrap a LabelSet; missing identity is taken from its tags / ``meta['annotator']``."""
    name = annotator or _tag_value(ls, TAG_ANNOTATOR) or ls.meta.get("annotator")
    if not name:
        raise InputError(f"segmentation {source or '(in memory)'} has no annotator: set the segment tag "
                         f"{TAG_ANNOTATOR}, give a manifest, or name the file after the annotator")
    return Annotation(str(name), ls, skill or _tag_value(ls, TAG_SKILL) or Skill.EXPERT.value,
                      tool or _tag_value(ls, TAG_TOOL) or Tool.MANUAL.value, source)


def read_manifest(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Read a CSV manifest: resolved file path → {'annotator', 'skill', 'tool'} (relative to the CSV)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise ReadError(f"manifest {path} does not exist")
    df = pd.read_csv(path, dtype=str).fillna("")
    cols = {c.lower().strip(): c for c in df.columns}
    fcol = cols.get("file") or cols.get("path")
    if fcol is None or "annotator" not in cols:
        raise InputError(f"manifest {path}: needs columns 'file' and 'annotator' (optional 'skill', 'tool'); "
                         f"found {list(df.columns)}")
    out = {}
    for _, r in df.iterrows():
        f = Path(r[fcol])
        f = f if f.is_absolute() else (path.parent / f)
        out[str(f.resolve())] = {k: str(r[cols[k]]).strip() for k in ("annotator", "skill", "tool")
                                 if k in cols and str(r[cols[k]]).strip()}
    return out


def find_segmentation_files(inputs: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Path]:
    """Expand folders into their segmentation files (sorted); keep files as given."""
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.name.lower().endswith(SEGMENTATION_SUFFIXES)
                           and not f.name.startswith("."))
            if not found:
                raise ReadError(f"folder {p} holds no segmentation files ({', '.join(SEGMENTATION_SUFFIXES)})")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise ReadError(f"{p} does not exist")
    return files


def load_annotations(inputs: Sequence[str | os.PathLike] | str | os.PathLike = (), *,
                     manifest: str | os.PathLike | None = None, label_names: Mapping[int, str] | None = None,
                     progress: Callable[[float, str], None] | None = None) -> list[Annotation]:
    """Read several annotators' segmentations (``.seg.nrrd``, label maps, DICOM SEG).

    Parameters
    ----------
    inputs : path or sequence of paths
        Files and/or folders. May be empty when ``manifest`` lists the files.
    manifest : path, optional, keyword-only
        CSV with columns file, annotator[, skill, tool]; file paths relative to the CSV.
    label_names : mapping value → name, optional
        Segment names for label-map files (default ``Segment_<value>``).

    Returns
    -------
    list of Annotation
        In input order; annotator ids are unique (a duplicate raises :class:`InputError`).
    """
    from .. import io

    progress = progress or (lambda f, t: None)
    man = read_manifest(manifest) if manifest else {}
    files = find_segmentation_files(inputs) if inputs else [Path(p) for p in man]
    if not files:
        raise InputError("no segmentations given: pass files/folders or a manifest")
    out: list[Annotation] = []
    for i, f in enumerate(files):
        progress(i / len(files), f"reading {f.name}")
        if f.name.lower().endswith((".csv", ".xlsx")):
            continue
        ls = io.read_segmentation(f)
        if label_names and not f.name.lower().endswith(".seg.nrrd"):
            renamed = LabelSet(ls.geometry, meta=dict(ls.meta))
            for seg in ls:
                value = int(seg.name.rsplit("_", 1)[-1]) if seg.name.startswith("Segment_") else None
                name = label_names.get(value, seg.name)
                renamed.add(seg.copy(name=name, id=name))
            ls = renamed
        info = man.get(str(f.resolve()), {})
        ann = annotation_from_labelset(ls, annotator=info.get("annotator") or _tag_value(ls, TAG_ANNOTATOR)
                                       or _stem(f), skill=info.get("skill"), tool=info.get("tool"), source=str(f))
        if any(a.annotator == ann.annotator for a in out):
            raise InputError(f"annotator '{ann.annotator}' appears twice ({f} and "
                             f"{next(a.source for a in out if a.annotator == ann.annotator)}); "
                             "give unique names in a manifest")
        out.append(ann)
    progress(1.0, f"read {len(out)} annotations")
    return out


def _corners_lps(g: Geometry) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(g.direction).reshape(3, 3)
    sp_xyz = np.asarray(g.spacing_mm)[::-1]
    size_xyz = np.asarray(g.shape)[::-1]
    corners = []
    for c in np.ndindex(2, 2, 2):
        ijk = (np.asarray(c) * (size_xyz - 1) + (np.asarray(c) * 2 - 1) * 0.5) * sp_xyz
        corners.append(np.asarray(g.origin_lps) + d @ ijk)
    pts = np.asarray(corners)
    return pts.min(axis=0), pts.max(axis=0)


def resample_labelset(ls: LabelSet, reference: Geometry, *, what: str = "segmentation") -> LabelSet:
    """Put every segment of ``ls`` on the ``reference`` grid (nearest neighbour), or raise.

    Compatible = overlapping physical extents and axis directions that are the same or differ only by
    axis order and sign (the same grid stored flipped/permuted, e.g. a NIfTI written in RAS); then
    nearest-neighbour resampling is exact. Anything else (e.g. an oblique grid) raises
    :class:`GeometryError`. A warning says that resampling happened and how many foreground
    voxels fell outside the reference grid.
    """
    import SimpleITK as sitk

    g = ls.geometry
    if g.matches(reference):
        return ls
    # |D_g^T D_ref| is a permutation matrix when every axis of g is parallel to an axis of the reference
    cosines = np.abs(np.asarray(g.direction, float).reshape(3, 3).T @ np.asarray(reference.direction, float).reshape(3, 3))
    if not np.allclose(np.sort(cosines, axis=1), [[0, 0, 1]] * 3, atol=1e-3) or \
            not np.allclose(cosines.sum(axis=0), 1.0, atol=1e-3):
        raise GeometryError(f"{what}: axis directions {np.round(g.direction, 3).tolist()} differ from the "
                            f"reference image's {np.round(reference.direction, 3).tolist()}; it was drawn on "
                            "another image or orientation and cannot be compared. Re-export it on the reference image")
    lo1, hi1 = _corners_lps(g)
    lo2, hi2 = _corners_lps(reference)
    if np.any(np.minimum(hi1, hi2) <= np.maximum(lo1, lo2)):
        raise GeometryError(f"{what}: its extent {lo1.round(1).tolist()}..{hi1.round(1).tolist()} mm does not overlap "
                            f"the reference image {lo2.round(1).tolist()}..{hi2.round(1).tolist()} mm (LPS); "
                            "it belongs to another image")
    ref_img = reference.empty_image(np.uint8).to_sitk()
    out = LabelSet(reference, meta=dict(ls.meta))
    lost = 0
    for seg in ls:
        src = g.empty_image(np.uint8).with_array(seg.mask.view(np.uint8)).to_sitk()
        res = sitk.Resample(src, ref_img, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        mask = sitk.GetArrayFromImage(res).astype(bool)
        expected = seg.voxel_count * float(np.prod(g.spacing_mm)) / float(np.prod(reference.spacing_mm))
        lost = max(lost, int(round(expected - mask.sum())))
        out.add(seg.copy(mask=mask))
    from ..io import MedLabelWarning

    msg = (f"{what}: grid {tuple(g.shape)} spacing {tuple(round(s, 3) for s in g.spacing_mm)} mm differs from the "
           f"reference {tuple(reference.shape)} spacing {tuple(round(s, 3) for s in reference.spacing_mm)} mm; "
           "resampled onto the reference (nearest neighbour)")
    if lost > 0:
        msg += f"; about {lost} voxels of foreground fell outside the reference grid"
    warnings.warn(msg, MedLabelWarning, stacklevel=2)
    log.warning(msg)
    return out


def align_annotations(annotations: Sequence[Annotation], *, reference: Geometry | None = None) -> list[Annotation]:
    """All annotations on one grid (``reference``, default the first annotation's), as new objects."""
    if not annotations:
        raise InputError("no annotations to align")
    ref = reference or annotations[0].labels.geometry
    return [Annotation(a.annotator, resample_labelset(a.labels, ref, what=f"annotation of {a.annotator} "
                                                      f"({a.source or 'memory'})"), a.skill, a.tool, a.source,
                       dict(a.extra)) for a in annotations]


def structure_names(annotations: Sequence[Annotation]) -> list[str]:
    """All structure (segment) names, in first-seen order."""
    names: list[str] = []
    for a in annotations:
        for n in a.labels.names:
            if n not in names:
                names.append(n)
    return names


def masks_by_annotator(annotations: Sequence[Annotation]) -> dict[str, dict[str, np.ndarray]]:
    """annotator → structure → (Z, Y, X) bool mask (the input of the agreement tables)."""
    return {a.annotator: {s.name: s.mask for s in a.labels} for a in annotations}
