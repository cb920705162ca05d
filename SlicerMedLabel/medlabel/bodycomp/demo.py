"""Body-composition section of `medlabel demo` (the lead's demo calls :func:`section_bodycomp`).

Runs :func:`medlabel.bodycomp.run_study` on the bundled real CTs and on the phantom, and adds the
overlay pictures, the results rows and the phantom's truth comparison to the report.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

#: columns shown in the demo's results table
SHOW = ["study_id", "slice_index", "slice_method", "slice_confidence", "muscle_area_cm2", "muscle_mean_hu",
        "imat_area_cm2", "vat_area_cm2", "sat_area_cm2", "sex", "height_m", "weight_kg", "smi_cm2_m2",
        "t_sma_cm2", "band_sma_cm2", "t_smi_cm2_m2", "band_smi_cm2_m2", "flag_prado2008_smi_cm2_m2",
        "flag_martin2013_smi_cm2_m2"]


def section_bodycomp(data: Path, out: Path, report, force: bool) -> list:
    """Add "Body composition at L3" to ``report``; files go to ``out/bodycomp``; returns the results."""
    from .. import io
    from ..phantom import make_l3_phantom
    from .study import run_study

    sec = report.section("Body composition at L3")
    folder = Path(out) / "bodycomp"
    results = []
    data = Path(data)
    ct = io.read_image(data / "totalsegmentator" / "example_ct.nii.gz")
    vert = io.read_image(data / "totalsegmentator" / "example_seg_fast_force_split.nii.gz")
    res = run_study(ct, auto_l3=True, vertebra_labels=vert, study_id="example_ct", out_dir=folder, force=force)
    results.append(res)
    sec.images.append((f"example_ct (TotalSegmentator example CT): L3 slice chosen from the vertebra labels, "
                       f"{res.choice.as_text()}; rule-based tissues with areas and mean HU", res.paths["png"]))
    crlm = data / "tcia_crlm" / "CRLM-CT-1006" / "image"
    if crlm.is_dir():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcm = io.read_image(crlm)
        res2 = run_study(dcm, auto_l3=True, study_id="CRLM-CT-1006", out_dir=folder, force=force)
        results.append(res2)
        sec.images.append((f"CRLM-CT-1006 (DICOM, TCIA): automatic L3 estimate from the image, "
                           f"{res2.choice.as_text()}; sex from PatientSex, no height/weight in the tags",
                           res2.paths["png"]))
    image, truth = make_l3_phantom(sex="M", height_m=1.75, weight_kg=78.0)
    res3 = run_study(image, slice_index=0, study_id="phantom", out_dir=folder, force=force)
    results.append(res3)
    rows = []
    for name, short in (("skeletal_muscle", "muscle"), ("intermuscular_fat", "imat"), ("visceral_fat", "vat"),
                        ("subcutaneous_fat", "sat")):
        t = image.meta["truth_areas_cm2"][name][0]
        o = res3.row[f"{short}_area_cm2"]
        rows.append({"tissue": name, "truth_cm2": t, "ours_cm2": o, "error_percent": 100 * (o - t) / t})
    sec.tables.append(("Phantom: measured area vs exact truth", pd.DataFrame(rows)))
    table = pd.DataFrame([r.row for r in results])
    sec.tables.append(("Results rows (subset of the CSV/XLSX columns)", table[[c for c in SHOW if c in table]]))
    sec.paragraphs.append(
        "Each study also wrote <id>_bodycomp.csv/.xlsx (all columns: ids, slice and how it was chosen, HU windows, "
        "areas and HU statistics, indices, T-scores vs lee2022, bands, cut-off flags, software version), "
        "<id>_overlay.png and <id>_tissues.seg.nrrd (open in Slicer, edit, recompute in the Body composition tab).")
    return results
