"""Train the shipped tissue U-Net (``medlabel-tissue-unet``) and copy weights + card into Resources/Models.

Run from the repository root: ``.venv/bin/python tools/train_shipped_autolabel.py`` (about 5-15 min on 1-2
busy CPU cores). Data and splits: :mod:`medlabel.autolabel.shipped`. Outputs: the model in
``SlicerMedLabel/Resources/Models/``, learning curve and IoU-bin chart in ``docs/images/``, per-slice test
scores in ``docs/benchmarks/autolabel_test_scores.csv``.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "SlicerMedLabel"))

from medlabel.autolabel.shipped import (  # noqa: E402
    SHIPPED_NAME,
    TS_REFERENCE_REGIONS,
    shipped_config,
    split_samples,
    ts_tissue_reference_samples,
)
from medlabel.autolabel.training import train_model  # noqa: E402


def main() -> int:
    t0 = time.perf_counter()
    data = {split: split_samples(split) for split in ("train", "validation", "test")}
    extra = {"ts_tissue_types_example_ct_sm (patient seen in training, other slices; muscle+SAT only)":
             (ts_tissue_reference_samples(), TS_REFERENCE_REGIONS)}
    print({k: len(v) for k, v in data.items()}, f"data ready in {time.perf_counter() - t0:.0f} s", flush=True)
    work = REPO / "build" / "shipped_autolabel"
    cfg = shipped_config(training_data={
        "sources": "medlabel.phantom L3 phantoms (exact truth); random synthetic slices (exact truth); real CT from "
                   "../shared/data labelled by the rule-based labeler: TotalSegmentator example CT (Apache-2.0/CC BY 4.0), "
                   "dcmqi ct-3slice (BSD-3), TCIA CRLM-CT-1006 (CC BY 4.0, test only)",
        "splits": "medlabel.autolabel.shipped.SPLITS", "script": "tools/train_shipped_autolabel.py"})
    result = train_model(data["train"], work, config=cfg, validation=data["validation"], test=data["test"],
                         extra_eval=extra, resume=True, force=True,
                         progress=lambda f, t: print(f"{time.perf_counter() - t0:6.0f} s  {t}", flush=True))
    models = REPO / "SlicerMedLabel" / "Resources" / "Models"
    models.mkdir(parents=True, exist_ok=True)
    for name in (f"{SHIPPED_NAME}.pt", f"{SHIPPED_NAME}.card.json"):
        shutil.copy2(work / name, models / name)
    images = REPO / "docs" / "images"
    shutil.copy2(work / "learning_curve.png", images / "autolabel_learning_curve.png")
    shutil.copy2(work / "iou_bins.png", images / "autolabel_iou_bins.png")
    (REPO / "docs" / "benchmarks").mkdir(exist_ok=True)
    shutil.copy2(work / "test_scores.csv", REPO / "docs" / "benchmarks" / "autolabel_test_scores.csv")
    m = result.card.metrics
    print("test mean Dice", m["test"]["mean_dice"], m["test"]["dice"])
    for src, s in m.get("test_by_source", {}).items():
        print(" ", src, s["mean_dice"], s["dice"])
    for name, s in m.get("extra", {}).items():
        print(" ", name, s["dice"])
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
