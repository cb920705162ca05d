"""Folders of cases for training and the pseudo-label loop.

Folder layout (one case = one image + at most one segmentation, same stem)::

    cases/
      patient01.nrrd            image (.nrrd, .nii, .nii.gz, .mha, .mhd) or a DICOM series folder
      patient01.seg.nrrd        its segmentation (Slicer .seg.nrrd)

``medlabel pseudolabel cases/ --model M`` writes ``<case>.seg.nrrd`` with ``MedLabel.Status = proposed``
for every image that has none; users correct them (Review tab / Segment Editor) and set the status to
``accepted``; ``medlabel train cases/`` then uses only cases whose model segments are all accepted
(or adjudicated). Segments without a status tag count as manual reference labels and are used
(``accept_untagged``). Segments are matched to the model's labels by name or terminology code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, MedLabelError
from ..image import Image
from ..labels import TAG_ANNOTATOR, TAG_SOURCE, TAG_STATUS, TERMS, LabelSet, Status, now_iso
from .cards import LabelSpec
from .models import Progress, canonical_spacing, to_canonical
from .training import TrainingSample

log = logging.getLogger(__name__)

SEG_SUFFIX = ".seg.nrrd"
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
#: statuses whose segments ``train`` consumes
TRAINABLE_STATUSES = frozenset({Status.ACCEPTED.value, Status.ADJUDICATED.value})
TAG_STATUS_TIME = "MedLabel.StatusTime"


def set_status(labelset: LabelSet, status: Status | str, *, annotator: str | None = None,
               names: Sequence[str] | None = None) -> LabelSet:
    """A copy of ``labelset`` with ``MedLabel.Status`` (and optionally ``MedLabel.Annotator``) set.

    Parameters
    ----------
    status : Status or str
        E.g. ``"accepted"`` after a user has corrected a proposal.
    names : sequence of str, optional
        Segments to change (default all).
    """
    try:
        status = Status(status)
    except ValueError:
        raise InputError(f"status {status!r} is not one of {[s.value for s in Status]}") from None
    out = labelset.copy()
    out.set_tag(TAG_STATUS, status.value, names)
    out.set_tag(TAG_STATUS_TIME, now_iso(), names)
    if annotator:
        out.set_tag(TAG_ANNOTATOR, annotator, names)
    return out


def match_segments(labelset: LabelSet, labels: Sequence[LabelSpec]) -> dict[str, str]:
    """Map each model label name to the segment of ``labelset`` that holds it (by name, else terminology code)."""
    found = {}
    for spec in labels:
        if spec.name in labelset:
            found[spec.name] = spec.name
            continue
        code = TERMS[spec.terminology].type.value
        for seg in labelset:
            if seg.terminology is not None and seg.terminology.type.value == code:
                found[spec.name] = seg.name
                break
    return found


def labelled_slices(labelset: LabelSet, segment_names: Sequence[str]) -> list[int]:
    """Slices a label set covers: those named in a ``MedLabel.Source = "slices a-b,c"`` tag, else any non-empty."""
    for name in segment_names:
        src = labelset[name].tags.get(TAG_SOURCE, "")
        if src.startswith("slices "):
            out: list[int] = []
            for part in src[len("slices "):].split(","):
                a, _, b = part.partition("-")
                out.extend(range(int(a), int(b or a) + 1))
            return sorted(set(out))
    any_mask = np.zeros(labelset.geometry.shape, bool)
    for name in segment_names:
        any_mask |= labelset[name].mask
    return np.flatnonzero(any_mask.reshape(any_mask.shape[0], -1).any(axis=1)).tolist()


def trainable(labelset: LabelSet, labels: Sequence[LabelSpec], *, accept_untagged: bool = True) -> tuple[bool, str]:
    """Whether a case may train a model, and why not: all model labels present and accepted.

    A proposal (``status=proposed``), a draft or a ``redo`` is never used; segments without a status tag
    are used only when ``accept_untagged``.
    """
    found = match_segments(labelset, labels)
    missing = [s.name for s in labels if s.name not in found]
    if missing:
        return False, f"segments missing: {', '.join(missing)}"
    for spec in labels:
        status = labelset[found[spec.name]].tags.get(TAG_STATUS)
        if status is None and not accept_untagged:
            return False, f"segment {found[spec.name]!r} has no status tag"
        if status is not None and status not in TRAINABLE_STATUSES:
            return False, f"segment {found[spec.name]!r} is {status!r} (needs accepted or adjudicated)"
    return True, "accepted"


def samples_from_case(image: Image, labelset: LabelSet, labels: Sequence[LabelSpec], *, patient: str,
                      case: str = "", slices: Sequence[int] | None = None) -> list[TrainingSample]:
    """Training slices of one case: label values of ``labels`` painted from the matched segments.

    Slices are put into the networks' canonical orientation (see :func:`~medlabel.autolabel.models.canonical_flips`).
    Later labels win where segments overlap (IMAT over muscle, as in the rule-based labeler's output).
    """
    if tuple(image.shape) != tuple(labelset.geometry.shape):
        raise InputError(f"case {case}: image shape {image.shape} and segmentation shape "
                         f"{tuple(labelset.geometry.shape)} differ; resample the segmentation onto the image")
    found = match_segments(labelset, labels)
    lab = np.zeros(image.shape, np.uint8)
    for spec in labels:
        if spec.name in found:
            lab[labelset[found[spec.name]].mask] = spec.value
    ks = labelled_slices(labelset, list(found.values())) if slices is None else list(slices)
    ct = to_canonical(image.array[ks].astype(np.float32), image.direction)
    lab_c = to_canonical(lab[ks], image.direction)
    sp = canonical_spacing(image.spacing_mm[1:], image.direction)
    return [TrainingSample(ct[i], lab_c[i], sp, patient, case, int(k)) for i, k in enumerate(ks)]


def case_name(path: Path) -> str:
    name = path.name
    for suf in (SEG_SUFFIX, *IMAGE_SUFFIXES):
        if name.endswith(suf):
            return name[: -len(suf)]
    return name


def find_cases(folder: str | Path) -> list[tuple[str, Path, Path | None]]:
    """``(case, image_path, segmentation_path or None)`` for every image file or DICOM folder in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give a folder of images (+ <case>.seg.nrrd segmentations)")
    cases = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.name.endswith(SEG_SUFFIX):
            continue
        if p.is_dir() or p.name.endswith(IMAGE_SUFFIXES):
            name = case_name(p)
            seg = folder / f"{name}{SEG_SUFFIX}"
            cases.append((name, p, seg if seg.exists() else None))
    return cases


def load_training_folder(folder: str | Path, labels: Sequence[LabelSpec], *, accept_untagged: bool = True,
                         progress: Progress | None = None) -> tuple[list[TrainingSample], pd.DataFrame]:
    """Training slices of every accepted case in ``folder`` and a report of every case (used or why not).

    The patient id is the image's DICOM ``PatientID`` when present, else the case name.
    """
    from .. import io as mio

    cases = find_cases(folder)
    samples: list[TrainingSample] = []
    rows = []
    for i, (name, img_path, seg_path) in enumerate(cases):
        row = {"case": name, "image": str(img_path), "segmentation": str(seg_path or ""), "used": False, "slices": 0}
        if seg_path is None:
            row["reason"] = "no segmentation"
        else:
            try:
                ls = mio.read_seg_nrrd(seg_path)
                ok, why = trainable(ls, labels, accept_untagged=accept_untagged)
                row["reason"] = why
                if ok:
                    image = mio.read_image(img_path)
                    patient = str(image.meta.get("PatientID") or name)
                    got = samples_from_case(image, ls, labels, patient=patient, case=name)
                    samples.extend(got)
                    row.update(used=bool(got), slices=len(got), patient=patient)
            except MedLabelError as exc:
                row["reason"] = f"unreadable: {exc}"
        rows.append(row)
        if progress:
            progress((i + 1) / max(1, len(cases)), f"read case {name}")
    return samples, pd.DataFrame(rows, columns=["case", "patient", "used", "slices", "reason", "image", "segmentation"])


def pseudolabel_folder(folder: str | Path, model, *, out_dir: str | Path | None = None, slices=None,
                       force: bool = False, progress: Progress | None = None) -> pd.DataFrame:
    """Write model proposals ``<case>.seg.nrrd`` (status ``proposed``) for the images of ``folder``.

    Cases that already have a segmentation in ``out_dir`` (default: ``folder``) are skipped unless
    ``force`` — a user's corrections are never overwritten silently.

    Returns
    -------
    DataFrame
        One row per case: ``case, written, segmentation, reason``.
    """
    from .. import io as mio
    from .predict import predict

    out_dir = Path(out_dir) if out_dir else Path(folder)
    cases = find_cases(folder)
    if not cases:
        raise InputError(f"no images found in {folder} (expected {', '.join(IMAGE_SUFFIXES)} files or DICOM folders)")
    rows = []
    for i, (name, img_path, _) in enumerate(cases):
        target = out_dir / f"{name}{SEG_SUFFIX}"
        if target.exists() and not force:
            rows.append({"case": name, "written": False, "segmentation": str(target),
                         "reason": "segmentation exists (use --force to replace it)"})
            continue
        image = mio.read_image(img_path)

        def sub(f, t, i=i, name=name):
            if progress:
                progress((i + f) / len(cases), f"{name}: {t}")

        proposal = predict(image, model, slices=slices, progress=sub)
        mio.write_seg_nrrd(proposal, target, force=force)
        rows.append({"case": name, "written": True, "segmentation": str(target), "reason": "proposed"})
    return pd.DataFrame(rows)
