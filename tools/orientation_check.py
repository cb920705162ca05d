"""Body composition, PET statistics and consensus of NIfTI copies of the real data stored in other orientations.

Run from the repository root: ``.venv/bin/python tools/orientation_check.py`` (about 1 min). Prints a
Markdown table for the README (orientation section); every row should repeat the first of its block.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "SlicerMedLabel"))
DATA = ROOT.parent / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")

from medlabel import io  # noqa: E402
from medlabel.cli import main  # noqa: E402


def run(*args: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(list(args))
    if rc:
        raise SystemExit(f"medlabel {' '.join(args)} failed ({rc})")


def bodycomp_rows(tmp: Path) -> list[str]:
    ct = io.read_image(DATA / "tcia_crlm/CRLM-CT-1006").to_sitk()
    rows = []
    for orient in ("LPS", "RAS", "RAI", "PLS", "ARI"):
        f = tmp / f"crlm_{orient}.nii.gz"
        sitk.WriteImage(sitk.DICOMOrient(ct, orient), str(f))
        out = tmp / f"bc_{orient}"
        run("bodycomp", str(f), "--slice-mm", "-331.44", "--sex", "F", "--height", "1.6", "-o", str(out),
            "--study-id", orient)
        d = pd.read_csv(out / f"{orient}_bodycomp.csv").iloc[0]
        rows.append(f"| CRLM CT, L3 z=-331.4 mm | {orient} | k={d.slice_index} | muscle {d.muscle_area_cm2:.2f} cm², "
                    f"SAT {d.sat_area_cm2:.2f}, VAT {d.vat_area_cm2:.2f}, IMAT {d.imat_area_cm2:.2f}; "
                    f"SMI {d.smi_cm2_m2:.2f} cm²/m² |")
    return rows


def pet_rows(tmp: Path) -> list[str]:
    mask = sitk.ReadImage(str(DATA / "tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz"))
    rows = []
    for orient in ("LPS", "RAS", "PIL"):
        f = tmp / f"gtv_{orient}.nii.gz"
        sitk.WriteImage(sitk.DICOMOrient(mask, orient), str(f))
        out = tmp / f"pet_{orient}"
        run("pet-stats", str(DATA / "tcia_sts/STS_001/PET/dicom/image"), str(f), "-o", str(out))
        d = pd.read_csv(out / "pet_stats.csv").iloc[0]
        rows.append(f"| STS_001 PET, CT GTV mask | {orient} | {d.voxel_count} PET voxels | SUVmax {d.suv_max:.3f}, "
                    f"SUVmean {d.suv_mean:.3f}, SUVpeak {d.suv_peak:.3f}, MTV {d.mtv_ml:.2f} ml, TLG {d.tlg:.1f} |")
    return rows


def consensus_rows(tmp: Path) -> list[str]:
    readers = [DATA / f"lidc_idri_0314/reader{r}.nii.gz" for r in (1, 2, 3)]
    rows = []
    for label, orient in (("all LPS", None), ("reader3 RAI", "RAI"), ("reader2 PLS, reader3 RAS", "mixed")):
        files = list(readers)
        if orient == "RAI":
            files[2] = tmp / "r3_RAI.nii.gz"
            sitk.WriteImage(sitk.DICOMOrient(sitk.ReadImage(str(readers[2])), "RAI"), str(files[2]))
        elif orient == "mixed":
            files[1], files[2] = tmp / "r2_PLS.nii.gz", tmp / "r3_RAS.nii.gz"
            sitk.WriteImage(sitk.DICOMOrient(sitk.ReadImage(str(readers[1])), "PLS"), str(files[1]))
            sitk.WriteImage(sitk.DICOMOrient(sitk.ReadImage(str(readers[2])), "RAS"), str(files[2]))
        out = tmp / f"cons_{orient}"
        run("consensus", "--no-surface", "-o", str(out), *map(str, files))
        p = pd.read_csv(out / "pairwise.csv")
        dice = ", ".join(f"{v:.4f}" for v in p.dice)
        c = pd.read_csv(out / "per_annotator.csv")
        rows.append(f"| LIDC-IDRI-0314 nodule, 3 readers | {label} | STAPLE | pairwise Dice {dice}; "
                    f"Dice vs consensus {', '.join(f'{v:.4f}' for v in c.dice_vs_consensus)} |")
    return rows


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        rows = bodycomp_rows(tmp) + pet_rows(tmp) + consensus_rows(tmp)
    print("| data | stored as | slice / grid | result |")
    print("|---|---|---|---|")
    print("\n".join(rows))
