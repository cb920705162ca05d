"""Make the pictures and the results table of the README (body composition) from real data and the phantom.

Run from the repository root:  .venv/bin/python tools/make_bodycomp_figures.py [--force]
Writes docs/images/bodycomp_*.png (overlays made by `medlabel bodycomp`'s engine) and prints the
Markdown table of the results rows used in bodycomp.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "SlicerMedLabel"))

from medlabel import io  # noqa: E402
from medlabel.bodycomp import run_study  # noqa: E402
from medlabel.phantom import make_l3_phantom  # noqa: E402

DATA = (ROOT / ".." / "shared" / "data").resolve()
IMAGES = ROOT / "docs" / "images"
COLUMNS = ["study_id", "slice_index", "slice_method", "slice_confidence", "muscle_area_cm2", "muscle_mean_hu",
           "imat_area_cm2", "vat_area_cm2", "sat_area_cm2", "sex", "sex_source", "height_m", "weight_kg",
           "smi_cm2_m2", "t_sma_cm2", "band_sma_cm2", "t_smi_cm2_m2", "band_smi_cm2_m2",
           "flag_martin2013_smi_cm2_m2", "flag_prado2008_smi_cm2_m2"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        ct = io.read_image(DATA / "totalsegmentator" / "example_ct.nii.gz")
        vert = io.read_image(DATA / "totalsegmentator" / "example_seg_fast_force_split.nii.gz")
        results.append(run_study(ct, auto_l3=True, vertebra_labels=vert, study_id="example_ct", out_dir=tmp))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcm = io.read_image(DATA / "tcia_crlm" / "CRLM-CT-1006" / "image")
        results.append(run_study(dcm, auto_l3=True, study_id="CRLM-CT-1006", out_dir=tmp))
        image, _ = make_l3_phantom(sex="M", height_m=1.75, weight_kg=78.0)
        results.append(run_study(image, slice_index=0, study_id="phantom", out_dir=tmp))
        IMAGES.mkdir(parents=True, exist_ok=True)
        for res, name in zip(results, ("example_ct", "crlm", "phantom"), strict=True):
            target = IMAGES / f"bodycomp_{name}.png"
            if target.exists() and not args.force:
                print(f"{target} exists; use --force to replace it")
                continue
            shutil.copyfile(res.paths["png"], target)
            print(f"wrote {target}")
    print("\n| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for res in results:
        cells = []
        for c in COLUMNS:
            v = res.row.get(c, "")
            cells.append(f"{v:.2f}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
