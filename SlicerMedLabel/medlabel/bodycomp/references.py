"""Reference sets (healthy-young distributions and published cut-offs), T-scores, bands and flags.

Reference sets are JSON files (``Resources/References/*.json``, format ``medlabel-reference-set/1``)
with name, citation, population, units and entries. Two kinds:

* ``distribution``: per sex and index the mean, SD, n and the -1 SD / -2 SD cut-offs. Used for the
  continuous T-score ``T = (value - mean) / SD`` and the bands of the labeling-system paper
  (Lee et al. 2022): T >= -1 normal, -2 <= T < -1 low, T < -2 very low.
* ``cutoffs``: per sex (or ``any``) and index a threshold with rule ``below``, optionally restricted
  to a BMI range (``bmi_min`` inclusive, ``bmi_max`` exclusive), as in Martin et al. 2013.

A :class:`ReferenceRegistry` holds sets by name; :func:`build_reference` makes a new distribution
set from a cohort table (mean, SD with ddof=1, cut-offs mean - SD and mean - 2 SD per sex).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, ReadError, RegistryError
from .indices import INDEX_UNITS

FORMAT = "medlabel-reference-set/1"
#: folder of the shipped reference sets
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "Resources" / "References"
DISTRIBUTION, CUTOFFS = "distribution", "cutoffs"
BANDS = ("normal", "low", "very low")


@dataclass
class ReferenceSet:
    """One reference population or published cut-off set (see module docstring)."""

    name: str
    kind: str
    citation: str
    population: str
    entries: list[dict]
    description: str = ""
    units: dict[str, str] = field(default_factory=dict)
    level: str = "L3"
    notes: str = ""
    path: Path | None = None

    def __post_init__(self) -> None:
        where = f"reference set {self.name!r}" + (f" ({self.path})" if self.path else "")
        if self.kind not in (DISTRIBUTION, CUTOFFS):
            raise InputError(f"{where}: kind must be '{DISTRIBUTION}' or '{CUTOFFS}'; got {self.kind!r}")
        if not self.citation or not self.population:
            raise InputError(f"{where}: citation and population are required")
        need = {"sex", "index", "mean", "sd"} if self.kind == DISTRIBUTION else {"sex", "index", "threshold"}
        for i, e in enumerate(self.entries):
            missing = need - set(e)
            if missing:
                raise InputError(f"{where}: entry {i} lacks {sorted(missing)}")
            if e["index"] not in INDEX_UNITS:
                raise InputError(f"{where}: entry {i} index {e['index']!r} unknown; known: {', '.join(INDEX_UNITS)}")
            if e["sex"] not in ("M", "F", "any"):
                raise InputError(f"{where}: entry {i} sex must be M, F or any; got {e['sex']!r}")
            if self.kind == DISTRIBUTION and not float(e["sd"]) > 0:
                raise InputError(f"{where}: entry {i} SD must be > 0; got {e['sd']}")
        if not self.units:
            self.units = {e["index"]: INDEX_UNITS[e["index"]] for e in self.entries}

    def to_dict(self) -> dict:
        return {"format": FORMAT, "name": self.name, "kind": self.kind, "level": self.level,
                "citation": self.citation, "population": self.population, "description": self.description,
                "notes": self.notes, "units": self.units, "entries": self.entries}

    def entry(self, index: str, sex: str) -> dict | None:
        """The distribution entry for ``index`` and ``sex`` (None when absent)."""
        for e in self.entries:
            if e["index"] == index and e["sex"] in (sex, "any"):
                return e
        return None


def read_reference_set(path: str | Path) -> ReferenceSet:
    """Read one reference-set JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReadError(f"reference set file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReadError(f"reference set file {path} is not readable JSON: {exc}") from exc
    if data.get("format") != FORMAT:
        raise ReadError(f"{path}: format {data.get('format')!r} is not {FORMAT!r}")
    keys = ("name", "kind", "citation", "population", "entries", "description", "units", "level", "notes")
    return ReferenceSet(**{k: data[k] for k in keys if k in data}, path=path)


def write_reference_set(ref: ReferenceSet, path: str | Path, *, force: bool = False) -> Path:
    """Write ``ref`` as JSON atomically (refuses to overwrite without ``force``)."""
    from ..io import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".json":
        raise InputError(f"{path}: reference sets are written as .json")
    with atomic_write(path, force) as tmp:
        tmp.write_text(json.dumps(ref.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


class ReferenceRegistry:
    """Named reference sets; duplicates raise, unknown names list the known ones."""

    def __init__(self, sets: Iterable[ReferenceSet] = ()) -> None:
        self._sets: dict[str, ReferenceSet] = {}
        for s in sets:
            self.add(s)

    def add(self, ref: ReferenceSet) -> ReferenceSet:
        if ref.name in self._sets:
            first = self._sets[ref.name]
            raise RegistryError(f"reference set {ref.name!r} is already registered (from {first.path or 'code'}); "
                                "give the new set another name")
        self._sets[ref.name] = ref
        return ref

    def get(self, name: str) -> ReferenceSet:
        try:
            return self._sets[name]
        except KeyError:
            raise RegistryError(f"unknown reference set {name!r}; known: {', '.join(self.names)}") from None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._sets))

    def of_kind(self, kind: str) -> list[ReferenceSet]:
        return [self._sets[n] for n in self.names if self._sets[n].kind == kind]

    def __contains__(self, name: str) -> bool:
        return name in self._sets

    def __str__(self) -> str:
        return "\n".join(f"{s.name} ({s.kind}): {s.population} - {s.citation}" for s in self._sets.values())


def load_reference_sets(folder: str | Path | None = None, extra: Sequence[str | Path] = ()) -> ReferenceRegistry:
    """A registry with every ``*.json`` in ``folder`` (default: the shipped sets) plus ``extra`` files."""
    folder = Path(folder) if folder else DEFAULT_DIR
    if not folder.is_dir():
        raise ReadError(f"reference-set folder {folder} not found")
    reg = ReferenceRegistry(read_reference_set(p) for p in sorted(folder.glob("*.json")))
    for p in extra:
        reg.add(read_reference_set(p))
    return reg


# ------------------------------------------------------------------------------------------------
def t_score(value: float, mean: float, sd: float) -> float:
    """``(value - mean) / sd``; NaN when value is NaN/None.

    Examples
    --------
    >>> t_score(50.24, 61.64, 11.40)
    -1.0
    """
    if value is None or not math.isfinite(float(value)):
        return float("nan")
    if not sd > 0:
        raise InputError(f"t_score: SD must be > 0; got {sd}")
    return round((float(value) - mean) / sd, 12)


def band(t: float) -> str:
    """'normal' (T >= -1), 'low' (-2 <= T < -1), 'very low' (T < -2) or '' for NaN."""
    if t is None or not math.isfinite(t):
        return ""
    if t >= -1.0:
        return "normal"
    if t >= -2.0:
        return "low"
    return "very low"


def cutoff_flags(ref: ReferenceSet, values: dict[str, float], *, sex: str | None,
                 bmi_kg_m2: float | None) -> dict[str, bool | None]:
    """Per index of a cut-off set: True when below the applicable threshold, False when not,
    None when it cannot be decided (sex unknown, index value missing, BMI needed but missing).
    """
    if ref.kind != CUTOFFS:
        raise InputError(f"reference set {ref.name!r} is a {ref.kind} set, not a cut-off set")
    out: dict[str, bool | None] = {}
    for index in dict.fromkeys(e["index"] for e in ref.entries):
        v = values.get(index)
        rules = [e for e in ref.entries if e["index"] == index]
        if sex is None and not all(e["sex"] == "any" for e in rules):
            out[index] = None
            continue
        rules = [e for e in rules if e["sex"] in (sex, "any")]
        needs_bmi = any("bmi_min" in e or "bmi_max" in e for e in rules)
        if v is None or not math.isfinite(float(v)) or not rules or (needs_bmi and not bmi_kg_m2):
            out[index] = None
            continue
        chosen = [e for e in rules
                  if (bmi_kg_m2 is None or bmi_kg_m2 >= e.get("bmi_min", -math.inf))
                  and (bmi_kg_m2 is None or bmi_kg_m2 < e.get("bmi_max", math.inf))]
        out[index] = bool(float(v) < float(chosen[0]["threshold"])) if chosen else None
    return out


def thresholds_used(ref: ReferenceSet, *, sex: str | None, bmi_kg_m2: float | None) -> dict[str, float]:
    """The threshold of each index that applies to this sex and BMI (for reports)."""
    out = {}
    for e in ref.entries:
        if e["sex"] not in (sex, "any"):
            continue
        if ("bmi_min" in e or "bmi_max" in e) and bmi_kg_m2 is None:
            continue
        if bmi_kg_m2 is not None and not (e.get("bmi_min", -math.inf) <= bmi_kg_m2 < e.get("bmi_max", math.inf)):
            continue
        out.setdefault(e["index"], float(e["threshold"]))
    return out


def evaluate(values: dict[str, float], *, sex: str | None, bmi_kg_m2: float | None,
             registry: ReferenceRegistry | None = None, distribution: str = "lee2022",
             cutoff_sets: Sequence[str] | None = None) -> dict[str, object]:
    """T-scores, bands and cut-off flags for one patient's index values.

    Parameters
    ----------
    values : dict
        Index values keyed as in :data:`INDEX_UNITS` (``sma_cm2``, ``smi_cm2_m2``, ...).
    sex : 'M', 'F' or None
    bmi_kg_m2 : float or None
    registry : ReferenceRegistry, optional (default: the shipped sets)
    distribution : str
        Name of the distribution set for T-scores.
    cutoff_sets : sequence of str, optional
        Names of the cut-off sets for flags (default: every cut-off set in the registry).

    Returns
    -------
    dict
        ``t_<index>``, ``band_<index>`` for each distribution index, ``flag_<set>_<index>`` per
        cut-off (True = below the cut-off), and ``reference`` / ``cutoff_sets`` names.
    """
    registry = registry or load_reference_sets()
    dist = registry.get(distribution)
    if dist.kind != DISTRIBUTION:
        raise InputError(f"reference set {distribution!r} has no mean/SD (kind {dist.kind}); choose one of "
                         f"{', '.join(s.name for s in registry.of_kind(DISTRIBUTION))}")
    out: dict[str, object] = {"reference": dist.name}
    for index in dict.fromkeys(e["index"] for e in dist.entries):
        e = dist.entry(index, sex) if sex else None
        t = t_score(values.get(index), float(e["mean"]), float(e["sd"])) if e else float("nan")
        out[f"t_{index}"] = t
        out[f"band_{index}"] = band(t)
    names = list(cutoff_sets) if cutoff_sets is not None else [s.name for s in registry.of_kind(CUTOFFS)]
    out["cutoff_sets"] = ";".join(names)
    for name in names:
        for index, flag in cutoff_flags(registry.get(name), values, sex=sex, bmi_kg_m2=bmi_kg_m2).items():
            out[f"flag_{name}_{index}"] = flag
    return out


# ------------------------------------------------------------------------------------------------
def build_reference(table, *, name: str, citation: str, population: str, description: str = "",
                    sex_column: str = "sex", healthy_column: str | None = "healthy_young",
                    indices: Sequence[str] | None = None, decimals: int | None = 2) -> ReferenceSet:
    """A distribution reference set from a cohort table.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per subject with a sex column (M/F), index columns (``sma_cm2``, ``smi_cm2_m2``,
        ``sma_wt_cm2_kg``, ``sma_bmi``, ``muscle_hu``; any subset) and optionally a boolean
        "healthy young" column; only rows where it is true are used.
    name, citation, population, description : str
        Provenance written into the set.
    indices : sequence of str, optional
        Index columns to use (default: every known index column present).
    decimals : int or None
        Round mean, SD and cut-offs as a paper would (None keeps full precision).

    Returns
    -------
    ReferenceSet
        kind ``distribution``; per sex and index: n, mean, SD (ddof = 1), cutoff_1sd = mean - SD,
        cutoff_2sd = mean - 2 SD (computed before rounding).
    """
    import numpy as np

    if sex_column not in table.columns:
        raise InputError(f"cohort table has no {sex_column!r} column; columns: {', '.join(map(str, table.columns))}")
    df = table
    if healthy_column is not None:
        if healthy_column not in table.columns:
            raise InputError(f"cohort table has no {healthy_column!r} column (pass healthy_column=None to use all rows)")
        df = table[table[healthy_column].astype(str).str.lower().isin(["true", "1", "yes", "y"])]
    cols = list(indices) if indices is not None else [c for c in INDEX_UNITS if c in df.columns]
    unknown = [c for c in cols if c not in INDEX_UNITS]
    if unknown or not cols:
        raise InputError(f"cohort index columns {unknown or cols} unusable; known: {', '.join(INDEX_UNITS)}")
    from .indices import normalize_sex

    sexes = df[sex_column].map(normalize_sex)

    def rnd(v: float) -> float:
        return round(float(v), decimals) if decimals is not None else float(v)

    entries = []
    for sex in ("M", "F"):
        sub = df[sexes == sex]
        for c in cols:
            vals = np.asarray(sub[c], dtype=float)
            vals = vals[np.isfinite(vals)]
            if len(vals) < 2:
                continue
            m, sd = float(vals.mean()), float(vals.std(ddof=1))
            if not sd > 0:
                continue
            entries.append({"sex": sex, "index": c, "n": int(len(vals)), "mean": rnd(m), "sd": rnd(sd),
                            "cutoff_1sd": rnd(m - sd), "cutoff_2sd": rnd(m - 2 * sd)})
    if not entries:
        raise InputError("cohort table gives no usable group: need at least 2 subjects per sex with values")
    return ReferenceSet(name=name, kind=DISTRIBUTION, citation=citation, population=population,
                        description=description or "cohort-derived healthy-young reference (mean, SD, -1/-2 SD)",
                        entries=entries)
