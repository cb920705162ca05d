"""Auto-label engine: cards, registry, predict interface, evaluation, network, orientation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medlabel.autolabel import (
    FunctionModel,
    ModelCard,
    ModelRegistry,
    TorchUNetModel,
    iou_bins,
    iou_dice,
    labelmap_scores,
    labelset_scores,
    plot_iou_bins,
    predict,
    resolve_slices,
    sha256_file,
)
from medlabel.autolabel.cards import atomic_write_bytes, tissue_labels
from medlabel.errors import GeometryError, InputError, OutputExistsError, ReadError, RegistryError
from medlabel.image import Image
from medlabel.labels import TAG_MODEL, TAG_SOURCE, TAG_STATUS, TAG_TOOL, LabelSet

torch = pytest.importorskip("torch")


# -- a real model object for interface tests: HU thresholds (muscle 0..100, fat < -50 inside body) ------------
def _threshold_labels(slices_hu, spacing_yx_mm, direction, progress):
    out = np.zeros(slices_hu.shape, np.uint8)
    out[(slices_hu >= 0) & (slices_hu <= 100)] = 1
    out[(slices_hu < -50) & (slices_hu > -500)] = 2
    progress(1.0, "done")
    return out


def _threshold_model(name="thresholds"):
    card = ModelCard(name=name, version="0.1", kind="rule-based", labels=tissue_labels()[:2])
    return FunctionModel(card, _threshold_labels)


def _tiny_card(tmp_path, *, seed=0, name="tiny"):
    """A card + float16 weights file of an untrained 2-level U-Net (deterministic from the seed)."""
    from medlabel.autolabel.net import build_network, count_parameters

    torch.manual_seed(seed)
    cfg = {"in_channels": 1, "n_classes": 5, "base_channels": 4, "depth": 2}
    net = build_network(cfg)
    wp = tmp_path / f"{name}.pt"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, wp)
    card = ModelCard(name=name, network=cfg, parameters=count_parameters(net), weights_file=wp.name,
                     sha256=sha256_file(wp), input_spacing_mm=(12.0, 12.0))
    card.write(tmp_path / f"{name}.card.json")
    return card


# -- cards -------------------------------------------------------------------------------------------------
def test_card_roundtrip_and_hash_check(tmp_path):
    card = _tiny_card(tmp_path)
    back = ModelCard.read(tmp_path / "tiny.card.json")
    assert back.to_dict() == card.to_dict()
    assert back.labels[0].name == "skeletal_muscle" and back.labels[0].value == 1
    assert back.verify_weights() == tmp_path / "tiny.pt"
    # a changed weights file is refused, naming the file
    data = bytearray((tmp_path / "tiny.pt").read_bytes())
    data[-20] ^= 0xFF
    (tmp_path / "tiny.pt").write_bytes(bytes(data))
    with pytest.raises(ReadError, match="tiny.pt has SHA-256"):
        ModelCard.read(tmp_path / "tiny.card.json").verify_weights()
    with pytest.raises(ReadError, match="SHA-256"):
        TorchUNetModel(ModelCard.read(tmp_path / "tiny.card.json")).network  # noqa: B018


def test_card_rejects_bad_content(tmp_path):
    with pytest.raises(InputError, match="window_hu"):
        ModelCard(name="x", window_hu=(100, -100))
    with pytest.raises(InputError, match="model name"):
        ModelCard(name="a@b")
    p = tmp_path / "bad.card.json"
    p.write_text(json.dumps({"name": "x", "colour": "red"}))
    with pytest.raises(InputError, match="unknown fields"):
        ModelCard.read(p)
    p.write_text("{not json")
    with pytest.raises(ReadError, match="bad.card.json"):
        ModelCard.read(p)
    card = ModelCard(name="x")
    card.write(tmp_path / "x.card.json")
    with pytest.raises(OutputExistsError):
        card.write(tmp_path / "x.card.json")


def test_atomic_write_refuses_overwrite_and_keeps_old_content(tmp_path):
    p = tmp_path / "a.bin"
    atomic_write_bytes(p, b"one")
    with pytest.raises(OutputExistsError, match="a.bin exists"):
        atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"one"
    atomic_write_bytes(p, b"two", force=True)
    assert p.read_bytes() == b"two"
    assert [f.name for f in tmp_path.iterdir()] == ["a.bin"]  # no temp file left behind


# -- registry ----------------------------------------------------------------------------------------------
def test_registry_duplicates_unknown_and_scan(tmp_path):
    reg = ModelRegistry()
    m = _threshold_model()
    reg.register(m.card, lambda: m, source="test")
    with pytest.raises(RegistryError, match="already registered"):
        reg.register(m.card, lambda: m, source="test")
    with pytest.raises(RegistryError, match="known: thresholds"):
        reg.get("nope")
    assert reg.get("thresholds") is m
    # a folder with one good card, one broken card: the good one is added, the broken one is reported
    good = tmp_path / "models"
    good.mkdir()
    _tiny_card(good)
    (good / "broken.card.json").write_text("{")
    added = reg.scan([good, tmp_path / "does-not-exist"])
    assert added == ["tiny"]
    assert len(reg.problems) == 1 and "broken.card.json" in reg.problems[0]
    assert isinstance(reg.get("tiny"), TorchUNetModel)
    assert reg.names == ("thresholds", "tiny")


# -- predict interface -------------------------------------------------------------------------------------
def test_resolve_slices():
    assert resolve_slices(None, 4).tolist() == [0, 1, 2, 3]
    assert resolve_slices(2, 4).tolist() == [2]
    assert resolve_slices((1, 3), 4).tolist() == [1, 2]
    assert resolve_slices(slice(0, 4, 2), 4).tolist() == [0, 2]
    assert resolve_slices([3, 1, 3], 4).tolist() == [1, 3]
    with pytest.raises(InputError, match="outside"):
        resolve_slices(7, 4)
    with pytest.raises(InputError, match="slab"):
        resolve_slices((3, 3), 4)


def test_predict_labels_only_the_chosen_slices_with_provenance():
    rng = np.random.default_rng(1)
    arr = rng.integers(-1000, 200, size=(5, 12, 10)).astype(np.int16)
    image = Image(arr, (2.5, 0.8, 0.8), (1.0, 2.0, 3.0))
    before = arr.copy()
    out = predict(image, _threshold_model(), slices=(1, 3))
    np.testing.assert_array_equal(image.array, before)  # input untouched
    assert out.names == ["skeletal_muscle", "subcutaneous_fat"]
    assert out.geometry.shape == (5, 12, 10) and out.geometry.spacing_mm == (2.5, 0.8, 0.8)
    expected_muscle = np.zeros(arr.shape, bool)
    expected_muscle[1:3] = (arr[1:3] >= 0) & (arr[1:3] <= 100)
    np.testing.assert_array_equal(out["skeletal_muscle"].mask, expected_muscle)
    assert not out["subcutaneous_fat"].mask[[0, 3, 4]].any()
    tags = out["skeletal_muscle"].tags
    assert tags[TAG_MODEL] == "thresholds@0.1" and tags[TAG_STATUS] == "proposed" and tags[TAG_TOOL] == "automatic"
    assert tags[TAG_SOURCE] == "slices 1-2"
    assert out["skeletal_muscle"].terminology.type.value == "127954009"
    assert out.meta["slices"] == [1, 2]


def test_predict_by_name_uses_the_registry_and_rejects_non_images():
    reg = ModelRegistry()
    m = _threshold_model()
    reg.register(m.card, lambda: m, source="test")
    image = Image(np.full((2, 4, 4), 50, np.int16))
    out = predict(image, "thresholds", registry=reg, slices=[0])
    assert out["skeletal_muscle"].mask[0].all() and not out["skeletal_muscle"].mask[1].any()
    with pytest.raises(InputError, match="Image"):
        predict(np.zeros((2, 4, 4)), m)


# -- network and orientation ---------------------------------------------------------------------------------
def test_unet_shapes_and_size_limit():
    from medlabel.autolabel.net import UNet2D, count_parameters

    net = UNet2D(base_channels=4, depth=2).eval()
    with torch.no_grad():
        assert tuple(net(torch.zeros(2, 1, 32, 48)).shape) == (2, 5, 32, 48)
    # parameter count of the default network, computed independently from the layer formulas
    b, d = 16, 4
    ch = [b * 2**i for i in range(d + 1)]
    conv = lambda i, o: 9 * i * o + 2 * o  # noqa: E731  (3x3 conv without bias + BatchNorm weight/bias)
    expected = sum(conv(1 if i == 0 else ch[i - 1], ch[i]) + conv(ch[i], ch[i]) for i in range(d + 1))
    expected += sum(4 * ch[i + 1] * ch[i] + ch[i] for i in range(d))  # transposed 2x2 convs with bias
    expected += sum(conv(2 * ch[i], ch[i]) + conv(ch[i], ch[i]) for i in range(d))
    expected += ch[0] * 5 + 5
    default = UNet2D()
    assert count_parameters(default) == expected
    assert expected <= 10_000_000


# -- evaluation --------------------------------------------------------------------------------------------
def test_iou_dice_hand_checked():
    a = np.array([[1, 1, 0, 0]], bool)
    b = np.array([[1, 0, 1, 0]], bool)
    iou, dice = iou_dice(a, b)
    assert iou == pytest.approx(1 / 3) and dice == pytest.approx(0.5)
    assert np.isnan(iou_dice(np.zeros(3, bool), np.zeros(3, bool))[0])  # both empty: not scored
    assert iou_dice(np.ones(3, bool), np.zeros(3, bool)) == (0.0, 0.0)
    with pytest.raises(GeometryError, match="shape"):
        iou_dice(np.zeros(3, bool), np.zeros(4, bool))


def test_labelmap_scores_and_bins():
    ref = np.array([[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0]])
    pred = ref.copy()
    pred[0, 9] = 0  # muscle 9/10 -> IoU 0.9
    pred[0, 14] = 0  # label 2: 4/5 -> IoU 0.8
    df = labelmap_scores(pred, ref, {1: "muscle", 2: "sat", 3: "vat"}, case="c1")
    got = dict(zip(df["region"], df["iou"], strict=True))
    assert got["muscle"] == pytest.approx(0.9) and got["sat"] == pytest.approx(0.8) and np.isnan(got["vat"])
    more = labelmap_scores(np.zeros_like(ref), ref, {1: "muscle", 2: "sat"}, case="c2")  # all missed: IoU 0
    table = iou_bins(__import__("pandas").concat([df, more]))
    assert table.loc["muscle", "IoU >= 0.90"] == 1 and table.loc["muscle", "< 0.70"] == 1
    assert table.loc["sat", "0.80-0.89"] == 1 and table.loc["sat", "< 0.70"] == 1
    assert table.loc["vat", "n"] == 0  # both empty: not counted
    assert table.loc["all", "n"] == 4
    assert table.loc["muscle", "mean_dice"] == pytest.approx((2 * 0.9 / 1.9 + 0) / 2)


def test_labelset_scores_match_by_name_and_restrict_slices():
    img = Image(np.zeros((3, 4, 4), np.int16))
    ref, pred = LabelSet(img), LabelSet(img)
    m = np.zeros((3, 4, 4), bool)
    m[:, :2] = True
    ref.add_mask("skeletal_muscle", m)
    p = m.copy()
    p[2] = False  # slice 2 missed
    pred.add_mask("skeletal_muscle", p)
    all_slices = labelset_scores(pred, ref)
    assert all_slices.loc[0, "iou"] == pytest.approx(2 / 3)
    first_two = labelset_scores(pred, ref, slices=[0, 1])
    assert first_two.loc[0, "iou"] == 1.0
    with pytest.raises(InputError, match="no segment names in common"):
        labelset_scores(pred, LabelSet(img))


def test_plot_iou_bins_writes_png_and_respects_force(tmp_path):
    ref = np.array([[1, 1, 2, 0]])
    table = iou_bins(labelmap_scores(ref, ref, {1: "muscle", 2: "sat"}))
    p = plot_iou_bins(table, tmp_path / "bins.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(OutputExistsError):
        plot_iou_bins(table, p)


def test_importing_the_engine_does_not_import_torch():
    """torch is heavy and optional: only building/running a network imports it."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; import medlabel.autolabel, medlabel.autolabel.registry, medlabel.autolabel.dataset; "
            "from medlabel.autolabel import default_registry; default_registry(user_dirs=[]); "
            "print('torch' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.strip() == "False"


def test_hu_refinement_hand_checked():
    from medlabel.autolabel.cards import ALBERTA_REFINEMENT, refine_by_hu

    values = {"skeletal_muscle": 1, "subcutaneous_fat": 2, "visceral_fat": 3, "intermuscular_fat": 4}
    pred = np.array([[[1, 1, 1, 4, 2, 2, 3, 3, 0]]])
    hu = np.array([[[40, -80, 400, 20, -100, 30, -100, -40, -100]]])
    # muscle region: 40 -> muscle, -80 -> IMAT, 400 (bone) -> background, predicted IMAT at 20 HU -> muscle;
    # SAT kept only in -190..-30, VAT only in -150..-50; background stays background
    want = np.array([[[1, 4, 0, 1, 2, 0, 3, 0, 0]]])
    np.testing.assert_array_equal(refine_by_hu(pred, hu, ALBERTA_REFINEMENT, values), want)
    np.testing.assert_array_equal(pred, [[[1, 1, 1, 4, 2, 2, 3, 3, 0]]])  # input untouched
    with pytest.raises(InputError, match="hu_refinement"):
        ModelCard(name="x", hu_refinement=[[["liver", 0, 100]]])


def test_fast_argmax_equals_torch_argmax():
    from medlabel.autolabel.net import from_model_grid

    g = torch.Generator().manual_seed(0)
    logits = torch.randn((2, 5, 32, 40), generator=g)
    got = from_model_grid(logits, (30, 37), (30, 37))
    want = logits[:, :, :30, :37].argmax(dim=1).numpy()
    np.testing.assert_array_equal(got, want)
    up = from_model_grid(logits, (32, 40), (64, 80))  # resampled to twice the size: still a valid argmax
    ref = torch.nn.functional.interpolate(logits, size=(64, 80), mode="bilinear", align_corners=False).argmax(1)
    np.testing.assert_array_equal(up, ref.numpy())
