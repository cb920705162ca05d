"""One study end to end (:func:`run_study`), recomputation after edits, and the batch form."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, MedLabelError, OutputExistsError
from ..image import Image
from ..labels import LabelSet
from .indices import Anthropometrics, muscle_indices, patient_height_weight
from .metrics import METRIC_TISSUES, tissue_metrics
from .references import ReferenceRegistry, evaluate, load_reference_sets
from .report import overlay_png, study_row
from .slices import SliceChoice, choose_slices
from .tissues import HUWindows, label_tissues, resolve_windows

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


@dataclass
class StudyResult:
    """Everything one study produced.

    Attributes
    ----------
    labels : LabelSet
        Tissue segments (editable; the metrics were computed on them).
    metrics : pandas.DataFrame
        One row per tissue (see :func:`tissue_metrics`).
    row : dict
        The flat results row written to CSV/XLSX.
    choice : SliceChoice
    anthro : Anthropometrics
    paths : dict
        Written files by kind: 'csv', 'xlsx', 'png', 'seg'.
    seconds : float
        Wall time of labels + metrics + report.
    """

    labels: LabelSet
    metrics: object
    row: dict
    choice: SliceChoice
    anthro: Anthropometrics
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    def table(self):
        """The results row as a one-row DataFrame."""
        import pandas as pd

        return pd.DataFrame([self.row])


def _study_id(image: Image, given: str | None) -> str:
    if given:
        return given
    for key in ("PatientID", "SeriesInstanceUID"):
        if image.meta.get(key):
            return str(image.meta[key])
    src = image.meta.get("source") or image.meta.get("path")
    return Path(str(src)).name.split(".")[0] if src else "study"


def compute_results(image: Image, labels: LabelSet, choice: SliceChoice, *, windows: HUWindows,
                    method: str, sex=None, height_m: float | None = None, weight_kg: float | None = None,
                    reference: str = "lee2022", cutoff_sets: Sequence[str] | None = None,
                    registry: ReferenceRegistry | None = None, study_id: str | None = None):
    """Metrics, indices, T-scores and the results row for given (possibly edited) labels.

    This is the "Recompute" step of the Slicer tab: no labelling, only arithmetic (milliseconds).

    Returns
    -------
    (metrics DataFrame, row dict, Anthropometrics)
    """
    metrics = tissue_metrics(image, labels, slice_indices=choice.indices, tissues=METRIC_TISSUES)
    anthro = patient_height_weight(image.meta, sex=sex, height_m=height_m, weight_kg=weight_kg)
    muscle = metrics.set_index("tissue").loc["skeletal_muscle"]
    idx = muscle_indices(float(muscle["area_cm2"]), anthro)
    values = {**idx, "muscle_hu": float(muscle["mean_hu"])}
    ev = evaluate(values, sex=anthro.sex, bmi_kg_m2=anthro.bmi_kg_m2, registry=registry or load_reference_sets(),
                  distribution=reference, cutoff_sets=cutoff_sets)
    row = study_row(study_id=_study_id(image, study_id), image=image, choice=choice, windows=windows,
                    method=method, metrics=metrics, anthro=anthro, indices=idx, evaluation=ev)
    return metrics, row, anthro


def write_outputs(result: StudyResult, image: Image, out_dir: str | Path, *, force: bool = False,
                  formats: Sequence[str] = ("csv", "xlsx", "png", "seg")) -> dict[str, Path]:
    """Write the row (CSV, XLSX), the overlay PNG and the ``.seg.nrrd`` into ``out_dir``.

    File names start with the study id. Existing files raise :class:`OutputExistsError` before
    anything is written, unless ``force``.
    """
    from .. import io

    out = Path(out_dir)
    sid = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(result.row["study_id"]))
    targets = {"csv": out / f"{sid}_bodycomp.csv", "xlsx": out / f"{sid}_bodycomp.xlsx",
               "png": out / f"{sid}_overlay.png", "seg": out / f"{sid}_tissues.seg.nrrd"}
    targets = {k: v for k, v in targets.items() if k in formats}
    if not force:
        existing = [str(p) for p in targets.values() if p.exists()]
        if existing:
            raise OutputExistsError(f"{', '.join(existing)} exist; nothing was written. Use force=True (CLI: --force)")
    out.mkdir(parents=True, exist_ok=True)
    df = result.table()
    paths: dict[str, Path] = {}
    if "csv" in targets:
        paths["csv"] = io.write_table(df, targets["csv"], force=force)
    if "xlsx" in targets:
        paths["xlsx"] = io.write_table(df, targets["xlsx"], force=force, sheet_name="bodycomp")
    if "png" in targets:
        title = f"{result.row['study_id']}: L3 {result.choice.as_text()}"
        paths["png"] = overlay_png(image, result.labels, result.metrics, targets["png"],
                                   slice_index=result.choice.centre, title=title, force=force)
    if "seg" in targets:
        paths["seg"] = io.write_seg_nrrd(result.labels, targets["seg"], force=force)
    return paths


def run_study(image: Image, *, slice_index: int | None = None, slice_mm: float | None = None,
              slab_slices: int = 1, auto_l3: bool = False, vertebra_labels=None, sex=None,
              height_m: float | None = None, weight_kg: float | None = None,
              preset: str | HUWindows | dict = "alberta", reference: str = "lee2022",
              cutoff_sets: Sequence[str] | None = None, registry: ReferenceRegistry | None = None,
              study_id: str | None = None, out_dir: str | Path | None = None, force: bool = False,
              progress: Progress | None = None) -> StudyResult:
    """Body composition of one CT study at L3: slice choice, tissue labels, metrics, indices, report.

    Parameters
    ----------
    image : Image
        CT in HU, array (Z, Y, X) (from :func:`medlabel.io.read_image`; DICOM tags in ``meta``).
    slice_index, slice_mm, auto_l3 :
        Exactly one: array index k, patient z in mm, or the automatic suggestion
        (from ``vertebra_labels`` when given, else the image landmark rule).
    slab_slices : int
        Odd number of slices around the choice, averaged (1 = single slice).
    sex, height_m, weight_kg :
        User values; they win over DICOM PatientSex/PatientSize/PatientWeight.
    preset : str, HUWindows or dict
        HU windows ('alberta', 'fat_190_30' or custom).
    reference : str
        Distribution reference set for T-scores (default 'lee2022').
    cutoff_sets : sequence of str, optional
        Cut-off sets to flag (default: all shipped).
    study_id : str, optional
        Name used in the row and file names (default: PatientID, series UID or file name).
    out_dir : path, optional
        When given, write CSV, XLSX, PNG overlay and ``.seg.nrrd`` there.
    progress : callable(fraction, text), optional

    Returns
    -------
    StudyResult
    """
    t0 = time.perf_counter()
    say = progress or (lambda f, t: None)
    say(0.0, "choosing the slice")
    choice = choose_slices(image, slice_index=slice_index, slice_mm=slice_mm, slab_slices=slab_slices,
                           auto_l3=auto_l3, vertebra_labels=vertebra_labels)
    windows = resolve_windows(preset)
    say(0.1, f"labelling tissues on {choice.as_text()}")
    labels = label_tissues(image, slice_indices=choice.indices, preset=windows,
                           progress=lambda f, t: say(0.1 + 0.6 * f, t))
    if "body" in labels and not labels["body"].mask[choice.indices].any():
        raise InputError(
            f"{image.meta.get('source', 'the image')}: slice(s) {choice.indices} hold no body (no voxel of the "
            "body outline, above about -190 HU): the slice is outside the patient or the image is not a CT in HU. "
            "Choose another slice (--slice/--slice-mm)")
    say(0.75, "computing metrics and indices")
    metrics, row, anthro = compute_results(image, labels, choice, windows=windows, method=labels.meta["model"],
                                           sex=sex, height_m=height_m, weight_kg=weight_kg, reference=reference,
                                           cutoff_sets=cutoff_sets, registry=registry, study_id=study_id)
    result = StudyResult(labels, metrics, row, choice, anthro)
    if out_dir is not None:
        say(0.85, "writing the report files")
        result.paths = write_outputs(result, image, out_dir, force=force)
    result.seconds = time.perf_counter() - t0
    say(1.0, f"done in {result.seconds:.1f} s")
    return result


# ------------------------------------------------------------------------------------------------
def read_batch_list(source: str | Path) -> list[dict]:
    """Studies of a batch: every entry of a folder (sub-folders = DICOM series, image files), or the
    rows of a CSV/XLSX with a ``path`` column and optional ``slice``, ``slice_mm``, ``sex``,
    ``height_m`` (or ``height_cm``, or ``height`` as text with a unit), ``weight_kg`` (or ``weight_lb``,
    or ``weight`` with a unit), ``study_id`` columns (relative paths are relative to the table).
    """
    from .. import io

    source = Path(source)
    if source.is_dir():
        entries = sorted(p for p in source.iterdir() if not p.name.startswith("."))
        return [{"path": p} for p in entries if p.is_dir() or p.suffix.lower() in (".nii", ".gz", ".nrrd", ".dcm", ".mha")]
    df = io.read_table(source)
    if "path" not in df.columns:
        raise InputError(f"{source}: the batch table needs a 'path' column; columns: {', '.join(map(str, df.columns))}")
    rows = []
    for rec in df.to_dict("records"):
        clean = {k: v for k, v in rec.items() if not (isinstance(v, float) and np.isnan(v)) and v != ""}
        p = Path(str(clean["path"]))
        clean["path"] = p if p.is_absolute() else (source.parent / p)
        rows.append(clean)
    return rows


def _height_weight_columns(study: dict) -> tuple[float | None, float | None]:
    """Height (m) and weight (kg) of a batch row from ``height_m`` / ``height_cm`` / ``height`` (text with a
    unit, e.g. ``172cm``) and ``weight_kg`` / ``weight_lb`` / ``weight`` (e.g. ``154lb``); None when absent.
    Two height (or weight) columns in one row must agree within 1 %."""
    from .indices import _LB_KG, parse_height_m, parse_weight_kg

    def pick(values: list[tuple[str, float]], unit: str):
        if not values:
            return None
        ref = values[0][1]
        for col, v in values[1:]:
            if abs(v - ref) > 0.01 * ref:
                raise InputError(f"columns {values[0][0]} and {col} disagree ({ref:g} vs {v:g} {unit})")
        return ref

    def num(col: str, scale: float) -> list[tuple[str, float]]:
        if col not in study:
            return []
        try:
            return [(col, float(study[col]) * scale)]
        except (TypeError, ValueError):
            raise InputError(f"column {col}: {study[col]!r} is not a number") from None

    heights = num("height_m", 1.0) + num("height_cm", 0.01) + \
        ([("height", parse_height_m(study["height"]))] if "height" in study else [])
    weights = num("weight_kg", 1.0) + num("weight_lb", _LB_KG) + \
        ([("weight", parse_weight_kg(study["weight"]))] if "weight" in study else [])
    return pick(heights, "m"), pick(weights, "kg")


def run_batch(studies: Sequence[dict], out_dir: str | Path, *, auto_l3: bool = True, slab_slices: int = 1,
              preset: str | HUWindows | dict = "alberta", reference: str = "lee2022", force: bool = False,
              registry: ReferenceRegistry | None = None, progress: Progress | None = None):
    """Run :func:`run_study` on many studies, continuing past bad ones.

    Each study dict has ``path`` and optionally ``slice`` / ``slice_mm`` (else the automatic L3
    suggestion when ``auto_l3``), ``sex``, ``height_m``, ``weight_kg``, ``study_id``.

    Returns
    -------
    (pandas.DataFrame, list of (study, reason))
        All result rows (also written to ``out_dir/bodycomp_batch.csv`` and ``.xlsx``) and the
        failed studies (``"row N [study_id] path"``, 1-based row of ``studies``) with the reason, also
        written to ``out_dir/bodycomp_failures.csv`` (columns row, study_id, path, reason).
    """
    import pandas as pd

    from .. import io

    out = Path(out_dir)
    registry = registry or load_reference_sets()
    registry.get(reference)  # an unknown reference name stops the batch before any study runs
    rows, failed = [], []
    n = len(studies)
    for i, st in enumerate(studies):
        path = Path(st["path"])
        if progress:
            progress(i / max(n, 1), f"study {i + 1}/{n}: {path.name}")
        try:
            image = io.read_image(path)
            sel = {}
            if "slice" in st:
                sel["slice_index"] = int(st["slice"])
            elif "slice_mm" in st:
                sel["slice_mm"] = float(st["slice_mm"])
            elif auto_l3:
                sel["auto_l3"] = True
            else:
                raise InputError("no slice given (column 'slice' or 'slice_mm') and auto_l3 is off")
            sid = str(st.get("study_id") or _study_id(image, None))
            height_m, weight_kg = _height_weight_columns(st)
            res = run_study(image, **sel, slab_slices=slab_slices, sex=st.get("sex"), height_m=height_m,
                            weight_kg=weight_kg, preset=preset, reference=reference, registry=registry,
                            study_id=sid, out_dir=out / sid, force=force)
            res.row["source"] = str(path)
            rows.append(res.row)
        except MedLabelError as exc:
            failed.append((i + 1, st.get("study_id", ""), str(path), str(exc)))
        except Exception as exc:  # noqa: BLE001 - a batch must go on; the reason is reported
            log.debug("study %s failed:\n%s", path, traceback.format_exc())
            failed.append((i + 1, st.get("study_id", ""), str(path), f"unexpected {type(exc).__name__}: {exc}"))
    table = pd.DataFrame(rows)
    if rows:
        io.write_table(table, out / "bodycomp_batch.csv", force=force)
        io.write_table(table, out / "bodycomp_batch.xlsx", force=force, sheet_name="bodycomp")
    failures = [(f"row {row} [{sid}] {path}" if sid else f"row {row} {path}", reason)
                for row, sid, path, reason in failed]
    if failed:
        io.write_table(pd.DataFrame(failed, columns=["row", "study_id", "path", "reason"]),
                       out / "bodycomp_failures.csv", force=force)
    if progress:
        progress(1.0, f"{len(rows)} done, {len(failures)} failed")
    return table, failures
