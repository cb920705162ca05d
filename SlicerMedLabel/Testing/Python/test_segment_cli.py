"""`medlabel grabcut` and `medlabel backproject` end to end on real data (in-process CLI)."""

from __future__ import annotations

import json

import numpy as np
from scipy import ndimage as ndi

from conftest import data_path
from medlabel import io
from medlabel.cli import main
from medlabel.labels import TAG_TOOL, LabelSet
from medlabel.segment import Box, back_project, dice, grabcut

PET = "tcia_sts/STS_001/PET/nifti/image/image.nii.gz"
PET_MASK = "tcia_sts/STS_001/PET/nifti/mask/mask.nii.gz"


def _pet_case(k=20, margin=2):
    image = io.read_image(data_path(PET))
    ref = io.read_image(data_path(PET_MASK)).array > 0
    box = Box.of_mask(ref[k:k + 1], margin_vox=(0, margin, margin))
    return image, ref, Box(k, k + 1, box.y0, box.y1, box.x0, box.x1)


def test_grabcut_cli_box_then_strokes(tmp_path, capsys):
    image, ref, box = _pet_case()
    out = tmp_path / "gc.seg.nrrd"
    rect = f"{box.z0},{box.y0},{box.y1},{box.x0},{box.x1}"
    assert main(["grabcut", str(data_path(PET)), "--rect", rect, "-o", str(out), "--name", "lesion",
                 "--terminology", "lesion"]) == 0
    ls = io.read_seg_nrrd(out)
    seg = ls["lesion"]
    expected = grabcut(image.array, box, spacing_mm=image.spacing_mm)
    np.testing.assert_array_equal(seg.mask, expected)          # the CLI is the engine, nothing more
    assert dice(seg.mask[box.z0], ref[box.z0]) > 0.7
    assert seg.tags[TAG_TOOL] == "semi-automatic"
    params = json.loads(seg.tags["MedLabel.Parameters"])
    assert params["box"] == rect and params["iterations"] == 5 and params["intensity_order"] == "auto"
    assert "cm3" in capsys.readouterr().out

    # refuses to overwrite, then strokes from a segmentation file improve the result
    assert main(["grabcut", str(data_path(PET)), "--rect", rect, "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    k = box.z0
    stroke = np.zeros(ref.shape, bool)
    stroke[k] = ndi.binary_erosion(ref[k], iterations=2)
    seeds = LabelSet(image)
    seeds.add_mask("fg", stroke)
    io.write_seg_nrrd(seeds, tmp_path / "strokes.seg.nrrd")
    assert main(["grabcut", str(data_path(PET)), "--rect", rect, "-o", str(out), "--force",
                 "--fg-seeds", str(tmp_path / "strokes.seg.nrrd")]) == 0
    with_strokes = io.read_seg_nrrd(out)["GrabCut"].mask
    assert with_strokes[stroke].all()
    assert dice(with_strokes[k], ref[k]) > dice(seg.mask[k], ref[k])

    # the intensity-order and star-shape priors can be set from the command line (same as the engine);
    # slice 28 has a hot rim open to one side, where the star-shape prior changes the result
    _, _, box = _pet_case(k=28)
    rect = f"{box.z0},{box.y0},{box.y1},{box.x0},{box.x1}"
    results = []
    for flags, kw in ((["--intensity-order", "none", "--star-shape", "off"], dict(intensity_order="none",
                                                                                star_shape=False)),
                      (["--star-shape"], dict(star_shape=True))):
        assert main(["grabcut", str(data_path(PET)), "--rect", rect, "-o", str(out), "--force", *flags]) == 0
        results.append(io.read_seg_nrrd(out)["GrabCut"].mask)
        np.testing.assert_array_equal(results[-1], grabcut(image.array, box, spacing_mm=image.spacing_mm, **kw))
    assert not np.array_equal(results[0], results[1])


def test_backproject_cli_matches_engine(tmp_path):
    ct_dir = data_path("lidc_idri_0314/image")
    image = io.read_image(ct_dir)
    out, like = tmp_path / "bp.seg.nrrd", tmp_path / "like.nrrd"
    assert main(["backproject", str(ct_dir), "--rect", "14,250,262,130,142", "--scope", "slab", "--slab", "10,18",
                 "--window=-1000,-300", "--bins", "32", "--threshold", "0.2", "-o", str(out),
                 "--likelihood", str(like)]) == 0
    got = io.read_seg_nrrd(out)["BackProjection"].mask
    ref = back_project(image.array, Box.rect(14, 250, 262, 130, 142), spacing_mm=image.spacing_mm, scope="slab",
                       slab=(10, 18), window=(-1000, -300), bins=32, threshold=0.2)
    np.testing.assert_array_equal(got, ref.mask)
    assert got.any() and not got[:10].any() and not got[18:].any()
    lk = io.read_image(like)
    np.testing.assert_allclose(lk.array, ref.likelihood, atol=1e-6)


def test_cli_errors_are_one_line(tmp_path, capsys):
    pet = str(data_path(PET))
    assert main(["backproject", pet, "-o", str(tmp_path / "x.seg.nrrd")]) == 2
    assert "--rect" in capsys.readouterr().err
    assert main(["grabcut", pet, "--rect", "1,2,3", "-o", str(tmp_path / "x.seg.nrrd")]) == 2
    assert "5 integers" in capsys.readouterr().err
    assert main(["grabcut", pet, "--box", "0,1,100,120,0,5", "-o", str(tmp_path / "x.seg.nrrd")]) == 2
    assert "does not overlap" in capsys.readouterr().err
    assert not (tmp_path / "x.seg.nrrd").exists()
