import json

import pytest

from conftest import data_path
from medlabel import cli


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMAND_MODULES:
        assert name.rsplit(".", 1)[1].replace("_", "-") in out


def test_info_json(capsys):
    assert cli.main(["info", str(data_path("tcia_sts/STS_001/PET/dicom")), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape_zyx"] == [59, 43, 41]
    assert info["tags"]["Units"] == "GML"
    assert info["series"][0]["files"] == 59


def test_info_segmentation(capsys):
    assert cli.main(["info", str(data_path("slicerio/Segmentation.seg.nrrd"))]) == 0
    assert "segment 'ribs'" in capsys.readouterr().out


def test_error_is_one_clear_line(capsys, tmp_path):
    assert cli.main(["info", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
