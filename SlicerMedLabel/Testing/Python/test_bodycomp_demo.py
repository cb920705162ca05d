"""The body-composition section for `medlabel demo` (medlabel.bodycomp.demo)."""

from __future__ import annotations

from conftest import SHARED_DATA
from medlabel.bodycomp.demo import section_bodycomp
from medlabel.report import Report


def test_demo_section_reports_real_ct_dicom_and_phantom(tmp_path):
    report = Report("demo")
    results = section_bodycomp(SHARED_DATA, tmp_path, report, False)
    assert [r.row["study_id"] for r in results] == ["example_ct", "CRLM-CT-1006", "phantom"]
    assert results[0].choice.method == "auto_l3_labels" and results[1].choice.method == "auto_l3_image"
    assert results[1].row["sex"] == "F" and results[1].row["sex_source"] == "dicom"
    sec = report.sections[0]
    truth_table = sec.tables[0][1]
    assert (truth_table["error_percent"].abs() < 1.0).all()
    assert len(sec.images) == 2 and all(p.exists() for _, p in sec.images)
    for r in results:
        assert set(r.paths) == {"csv", "xlsx", "png", "seg"}
    html = report.write(tmp_path / "report.html")
    assert "Body composition at L3" in html.read_text()
