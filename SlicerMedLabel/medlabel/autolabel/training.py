"""Training of the 2-D tissue U-Net: patient-level split, augmentation, early stopping, resumable checkpoints.

Loss = cross-entropy + soft Dice over the foreground classes (Milletari et al., "V-Net", 3DV 2016,
arXiv:1606.04797); optimiser AdamW (Loshchilov & Hutter, ICLR 2019). Augmentation on the model grid:
intensity scale/shift and Gaussian noise, left-right flips, rotations (±``rotate_deg``) and scales
(1 ± ``scale``) by one affine warp (image bilinear, labels nearest), random crops. Early stopping on the
validation mean foreground Dice with ``patience`` epochs. A checkpoint (model, optimiser, random states,
history) is written atomically after every epoch, so an interrupted run continues where it stopped.

Outputs in ``out_dir``: ``<name>.pt`` (best weights, float16), ``<name>.card.json``, ``learning_curve.png``,
``history.csv``; plus ``test_scores.csv`` and ``iou_bins.png`` when test samples are given.
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError, OutputExistsError
from ..labels import now_iso
from .cards import CARD_SUFFIX, LabelSpec, ModelCard, atomic_write_bytes, sha256_file, tissue_labels
from .evaluate import iou_bins, labelmap_scores, plot_iou_bins
from .models import Progress, TorchUNetModel

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainingSample:
    """One labelled axial slice.

    Attributes
    ----------
    ct_hu : (Y, X) ndarray
        CT values in HU.
    labels : (Y, X) ndarray of int
        Label values of the card (0 = background).
    spacing_yx_mm : (2,) float
        Row and column spacing in mm.
    patient : str
        Patient id: all slices of one patient go to the same split.
    case : str
        Case id (file name) for reports.
    slice_index : int
        Index of the slice in its volume (-1 if unknown).
    source : str
        Data source (e.g. ``"phantom"``, ``"rule-based:CRLM"``), for per-source metrics.
    """

    ct_hu: np.ndarray
    labels: np.ndarray
    spacing_yx_mm: tuple[float, float]
    patient: str
    case: str = ""
    slice_index: int = -1
    source: str = ""

    def __post_init__(self) -> None:
        self.ct_hu = np.asarray(self.ct_hu, np.float32)
        self.labels = np.asarray(self.labels)
        if self.ct_hu.ndim != 2 or self.ct_hu.shape != self.labels.shape:
            raise InputError(f"training sample {self.case or self.patient}[{self.slice_index}]: ct_hu {self.ct_hu.shape} "
                             f"and labels {self.labels.shape} must be the same 2-D (Y, X) shape")


@dataclass
class TrainConfig:
    """Training settings (stored in the card). Network settings are ignored when fine-tuning."""

    name: str = "user-tissue-unet"
    version: str = "1"
    description: str = "2-D U-Net for L3 body-composition tissues (muscle, SAT, VAT, IMAT)."
    base_channels: int = 16
    depth: int = 4
    input_spacing_mm: tuple[float, float] = (2.0, 2.0)
    window_hu: tuple[float, float] = (-250.0, 250.0)
    labels: list[LabelSpec] = field(default_factory=tissue_labels)
    epochs: int = 40
    batch_size: int = 8
    crop: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 8
    class_weighting: bool = False
    hu_refinement: list | None = None
    steps_per_epoch: int | None = None
    val_fraction: float = 0.25
    augment: bool = True
    rotate_deg: float = 10.0
    scale: float = 0.1
    seed: int = 0
    threads: int = 1
    training_data: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {"epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1, "crop": self.crop >= 16,
                  "learning_rate": self.learning_rate > 0, "patience": self.patience >= 1,
                  "val_fraction": 0 < self.val_fraction < 1}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise InputError(f"training settings out of range: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)} "
                             "(need epochs>=1, batch_size>=1, crop>=16, learning_rate>0, patience>=1, 0<val_fraction<1)")
        self.labels = [lab if isinstance(lab, LabelSpec) else LabelSpec(**lab) for lab in self.labels]


@dataclass
class TrainResult:
    """What :func:`train_model` produced."""

    card: ModelCard
    model: TorchUNetModel
    history: pd.DataFrame
    test_scores: pd.DataFrame | None
    out_dir: Path


def split_patients(patients: Sequence[str], *, val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split unique patient ids into (train, validation), at least one each, reproducibly.

    Raises :class:`InputError` when fewer than 2 patients are given (a slice-level split would leak).
    """
    uniq = sorted(set(patients))
    if len(uniq) < 2:
        raise InputError(f"a patient-level train/validation split needs at least 2 patients; got {uniq}. "
                         "Add labelled cases of another patient (patient id = DICOM PatientID or the file name).")
    rng = np.random.default_rng(seed)
    order = [uniq[i] for i in rng.permutation(len(uniq))]
    n_val = min(len(uniq) - 1, max(1, int(round(val_fraction * len(uniq)))))
    return sorted(order[n_val:]), sorted(order[:n_val])


def _prepare(samples: Sequence[TrainingSample], card: ModelCard):
    """Resample samples to the model grid: list of (image (H, W) float32 tensor, labels (H, W) int64 tensor)."""
    from .net import F, to_model_grid, torch

    value_to_class = {lab.value: i for i, lab in enumerate(card.labels, start=1)}
    out = []
    for s in samples:
        unknown = set(np.unique(s.labels).tolist()) - set(value_to_class) - {0}
        if unknown:
            raise InputError(f"training sample {s.case}[{s.slice_index}] has label values {sorted(unknown)} that the "
                             f"model does not know (labels: {card.label_names})")
        x, size = to_model_grid(s.ct_hu[None], s.spacing_yx_mm, card)
        x = x[0, 0, : size[0], : size[1]]
        cls = np.zeros(s.labels.shape, np.int64)
        for v, c in value_to_class.items():
            cls[s.labels == v] = c
        y = torch.from_numpy(cls)[None, None].float()
        if tuple(size) != tuple(cls.shape):
            y = F.interpolate(y, size=size, mode="nearest")
        out.append((x.contiguous(), y[0, 0].long()))
    return out


def _batch(items, idx, crop: int, gen, cfg: TrainConfig, augment: bool):
    """Crop (random position, zero padding) and augment a batch; returns (B,1,c,c) float, (B,c,c) long."""
    from .net import F, torch

    xs, ys = [], []
    for i in idx:
        x, y = items[int(i)]
        h, w = x.shape
        ph, pw = max(0, crop - h), max(0, crop - w)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), value=0.0)
            y = F.pad(y, (0, pw, 0, ph), value=0)
        h, w = x.shape
        oy = int(torch.randint(0, h - crop + 1, (1,), generator=gen))
        ox = int(torch.randint(0, w - crop + 1, (1,), generator=gen))
        xs.append(x[oy:oy + crop, ox:ox + crop])
        ys.append(y[oy:oy + crop, ox:ox + crop])
    x = torch.stack(xs)[:, None]
    y = torch.stack(ys)
    if not augment:
        return x, y
    b = x.shape[0]
    rnd = torch.rand((b, 6), generator=gen)
    angle = (rnd[:, 0] * 2 - 1) * math.radians(cfg.rotate_deg)
    scale = 1 + (rnd[:, 1] * 2 - 1) * cfg.scale
    flip = torch.where(rnd[:, 2] < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros((b, 2, 3))
    theta[:, 0, 0], theta[:, 0, 1] = cos * flip, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * flip, cos
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = F.grid_sample(y[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0].long()
    gain = 1 + (rnd[:, 3] * 2 - 1) * 0.1
    shift = (rnd[:, 4] * 2 - 1) * 0.05
    noise = torch.randn(x.shape, generator=gen) * 0.02 * rnd[:, 5].view(b, 1, 1, 1)
    x = x * gain.view(b, 1, 1, 1) + shift.view(b, 1, 1, 1) + noise
    return x, y


def _loss(logits, y, n_classes: int, weight=None):
    from .net import F

    ce = F.cross_entropy(logits, y, weight=weight)
    prob = logits.softmax(dim=1)
    onehot = F.one_hot(y, n_classes).permute(0, 3, 1, 2).float()
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)[1:]
    denom = prob.sum(dims)[1:] + onehot.sum(dims)[1:]
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return ce + (1 - dice.mean())


def _class_weights(items, n_classes: int):
    """Cross-entropy class weights (median frequency / frequency) ** 0.5, clipped to 0.2..10 (Eigen & Fergus 2015)."""
    from .net import torch

    counts = np.zeros(n_classes)
    for _, y in items:
        counts += np.bincount(y.numpy().ravel(), minlength=n_classes)[:n_classes]
    freq = np.maximum(counts, 1) / counts.sum()
    w = np.clip(np.sqrt(np.median(freq) / freq), 0.2, 10.0)
    return torch.tensor(w, dtype=torch.float32)


def _validate(net, items, n_classes: int, depth: int):
    """Mean loss and per-class Dice (pooled over all validation pixels) on whole slices."""
    from .net import F, torch

    net.eval()
    inter = np.zeros(n_classes)
    total = np.zeros(n_classes)
    losses = []
    m = 2 ** depth
    with torch.inference_mode():
        for x, y in items:
            h, w = x.shape
            xp = F.pad(x[None, None], (0, (-w) % m, 0, (-h) % m))
            logits = net(xp)[:, :, :h, :w]
            losses.append(float(_loss(logits, y[None], n_classes)))
            pred = logits.argmax(1)[0].numpy()
            yt = y.numpy()
            for c in range(1, n_classes):
                p, t = pred == c, yt == c
                inter[c] += np.count_nonzero(p & t)
                total[c] += p.sum() + t.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(total > 0, 2 * inter / np.maximum(total, 1), np.nan)
    return float(np.mean(losses)), dice[1:]


def _save_state(obj, path: Path) -> None:
    from .net import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue(), force=True)


def evaluate_model(model, samples: Sequence[TrainingSample], *, regions: Sequence[str] | None = None,
                   progress: Progress | None = None) -> pd.DataFrame:
    """Per-slice, per-region IoU/Dice of ``model`` on labelled samples (at the samples' own resolution).

    Returns the :func:`~medlabel.autolabel.evaluate.labelmap_scores` rows of all samples, with
    ``case`` = ``<case>[<slice>]``, ``patient`` and ``source`` columns. ``regions`` keeps only those
    regions (for references that label only some tissues).
    """
    frames = []
    for i, s in enumerate(samples):
        pred = model.predict_labelmap(s.ct_hu[None], s.spacing_yx_mm)[0]
        df = labelmap_scores(pred, s.labels, model.card.label_names, case=f"{s.case}[{s.slice_index}]")
        df.insert(1, "patient", s.patient)
        df.insert(2, "source", s.source)
        frames.append(df)
        if progress:
            progress((i + 1) / len(samples), f"evaluating {i + 1}/{len(samples)}")
    out = pd.concat(frames, ignore_index=True)
    if regions is not None:
        out = out[out["region"].isin(list(regions))].reset_index(drop=True)
    return out


def summarise_scores(scores: pd.DataFrame) -> dict:
    """Card metrics from a scores table: mean Dice/IoU per region (NaN rows excluded), overall means, IoU bins."""
    per = scores.dropna(subset=["dice"]).groupby("region", sort=False)[["dice", "iou"]].mean()
    bins = iou_bins(scores)
    return {
        "n_slices": int(scores["case"].nunique()),
        "n_patients": int(scores["patient"].nunique()) if "patient" in scores else None,
        "dice": {r: round(float(v), 4) for r, v in per["dice"].items()},
        "iou": {r: round(float(v), 4) for r, v in per["iou"].items()},
        "mean_dice": round(float(per["dice"].mean()), 4),
        "mean_iou": round(float(per["iou"].mean()), 4),
        "iou_bins": {r: {k: int(v) for k, v in row.items() if k not in ("mean_iou", "mean_dice")}
                     for r, row in bins.iterrows()},
    }


def train_model(samples: Sequence[TrainingSample], out_dir: str | Path, *, config: TrainConfig | None = None,
                init_from: ModelCard | TorchUNetModel | None = None,
                validation: Sequence[TrainingSample] | None = None,
                test: Sequence[TrainingSample] | None = None,
                extra_eval: dict[str, tuple[Sequence[TrainingSample], Sequence[str] | None]] | None = None,
                resume: bool = True, force: bool = False, progress: Progress | None = None) -> TrainResult:
    """Train (or fine-tune) a tissue U-Net and write weights, card, learning curve and history.

    Parameters
    ----------
    samples : sequence of TrainingSample
        Labelled slices. Unless ``validation`` is given they are split by ``patient`` into training and
        validation (``config.val_fraction`` of the patients, at least one).
    out_dir : path
        Output folder; holds the checkpoint while training.
    config : TrainConfig, optional
    init_from : ModelCard or TorchUNetModel, optional
        Fine-tune: start from this model's weights; its network, spacing, window and labels are kept.
    validation, test : sequence of TrainingSample, optional
        Explicit validation set; held-in test set scored at the end and written into the card
        (``metrics["test"]``, and ``metrics["test_by_source"]`` per :attr:`TrainingSample.source`).
    extra_eval : dict name -> sequence of TrainingSample, optional
        Further labelled sets ``(samples, regions or None)`` scored into ``metrics["extra"][name]`` (e.g.
        another reference's labels on slices of a training patient; say so in the name).
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` when present (settings must match).
    force : bool
        Overwrite an existing model of the same name in ``out_dir``.
    progress : callable(fraction, text), optional

    Returns
    -------
    TrainResult
    """
    from .net import build_network, count_parameters, set_determinism, torch

    cfg = config or TrainConfig()
    progress = progress or (lambda f, t: None)
    out_dir = Path(out_dir)
    weights_name = f"{cfg.name}.pt"
    card_path = out_dir / f"{cfg.name}{CARD_SUFFIX}"
    if card_path.exists() and not force:
        raise OutputExistsError(f"model {card_path} exists; pass force=True (CLI: --force) to overwrite it, "
                                "or choose another --name")
    if not samples:
        raise InputError("no training samples: the folder has no accepted labelled slices")
    if validation is None:
        train_p, val_p = split_patients([s.patient for s in samples], val_fraction=cfg.val_fraction, seed=cfg.seed)
        train_s = [s for s in samples if s.patient in train_p]
        val_s = [s for s in samples if s.patient in val_p]
    else:
        train_s, val_s = list(samples), list(validation)
        train_p, val_p = sorted({s.patient for s in train_s}), sorted({s.patient for s in val_s})
        leak = set(train_p) & set(val_p)
        if leak:
            raise InputError(f"patients {sorted(leak)} are in both training and validation sets")
    if not val_s:
        raise InputError("the validation set is empty; give labelled slices of at least 2 patients")

    set_determinism(cfg.seed, threads=cfg.threads)
    if init_from is not None:
        base = init_from if isinstance(init_from, TorchUNetModel) else TorchUNetModel(init_from)
        bc = base.card
        net_cfg = dict(bc.network)
        spacing, window, labels = bc.input_spacing_mm, bc.window_hu, bc.labels
        net = build_network(net_cfg)
        net.load_state_dict(base.network.state_dict())
        parent = bc.model_id
    else:
        net_cfg = {"in_channels": 1, "n_classes": len(cfg.labels) + 1, "base_channels": cfg.base_channels,
                   "depth": cfg.depth}
        spacing, window, labels = cfg.input_spacing_mm, cfg.window_hu, cfg.labels
        net = build_network(net_cfg)
        parent = None
    card = ModelCard(name=cfg.name, version=cfg.version, kind="torch-unet2d", description=cfg.description,
                     labels=labels, input_spacing_mm=spacing, window_hu=window, network=net_cfg,
                     parameters=count_parameters(net), weights_file=weights_name,
                     hu_refinement=bc.hu_refinement if init_from is not None and cfg.hu_refinement is None
                     else cfg.hu_refinement)
    n_classes = net_cfg["n_classes"]
    train_items, val_items = _prepare(train_s, card), _prepare(val_s, card)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    settings_key = json.dumps({"cfg": asdict(cfg) | {"labels": [asdict(x) for x in cfg.labels]},
                               "parent": parent, "train": train_p, "val": val_p}, sort_keys=True, default=str)
    history: list[dict] = []
    best = {"score": -1.0, "epoch": 0, "state": None}
    start_epoch = 0
    ckpt_path = out_dir / CHECKPOINT
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck.get("settings") != settings_key:
            raise InputError(f"checkpoint {ckpt_path} was written with other settings or data; delete it to start "
                             "over, or rerun with the same settings to resume")
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        history, best, start_epoch = ck["history"], ck["best"], ck["epoch"]
        log.info("resuming %s from epoch %d", cfg.name, start_epoch)

    ce_weight = _class_weights(train_items, n_classes) if cfg.class_weighting else None
    steps = cfg.steps_per_epoch or max(1, math.ceil(len(train_items) / cfg.batch_size))
    t0 = time.perf_counter()
    stopped_early = False
    for epoch in range(start_epoch, cfg.epochs):
        if best["epoch"] and epoch - best["epoch"] >= cfg.patience:
            stopped_early = True
            break
        net.train()
        n_draw = steps * cfg.batch_size
        perm = torch.cat([torch.randperm(len(train_items), generator=gen)
                          for _ in range(math.ceil(n_draw / len(train_items)))])
        losses = []
        for step in range(steps):
            idx = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            x, y = _batch(train_items, idx, cfg.crop, gen, cfg, cfg.augment)
            opt.zero_grad()
            loss = _loss(net(x), y, n_classes, ce_weight)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        val_loss, val_dice = _validate(net, val_items, n_classes, net_cfg["depth"])
        score = float(np.nanmean(val_dice)) if np.isfinite(val_dice).any() else 0.0
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_loss": val_loss, "val_mean_dice": score}
        row |= {f"val_dice_{lab.name}": float(d) for lab, d in zip(labels, val_dice, strict=True)}
        history.append(row)
        if score > best["score"]:
            best = {"score": score, "epoch": epoch + 1,
                    "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
        _save_state({"settings": settings_key, "model": net.state_dict(), "optimizer": opt.state_dict(),
                     "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "history": history,
                     "best": best, "epoch": epoch + 1}, ckpt_path)
        progress((epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.3f}, "
                                           f"val Dice {score:.3f} (best {best['score']:.3f} @ {best['epoch']})")
    seconds = time.perf_counter() - t0

    # best weights, stored as float16 (half the size); metrics below are computed with these exact weights
    state16 = {k: (v.half() if v.is_floating_point() else v) for k, v in best["state"].items()}
    buf = io.BytesIO()
    torch.save(state16, buf)
    weights_path = atomic_write_bytes(out_dir / weights_name, buf.getvalue(), force=True)
    card.sha256 = sha256_file(weights_path)
    card.created = now_iso()
    hist = pd.DataFrame(history)
    card.training_data = {
        **cfg.training_data,
        "train_patients": train_p, "validation_patients": val_p,
        "train_slices": len(train_s), "validation_slices": len(val_s),
        "epochs_run": len(history), "best_epoch": best["epoch"], "stopped_early": stopped_early,
        "fine_tuned_from": parent, "seed": cfg.seed, "augment": cfg.augment, "crop": cfg.crop,
        "class_weights": None if ce_weight is None else [round(float(w), 3) for w in ce_weight],
        "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate, "software": f"medlabel {__version__}",
        "train_seconds_this_run": round(seconds, 1),
    }
    card.metrics = {"validation": {"mean_dice": round(best["score"], 4),
                                   "dice": {k[len("val_dice_"):]: round(v, 4) for k, v in history[best["epoch"] - 1].items()
                                            if k.startswith("val_dice_")}}}
    card.path = card_path
    model = TorchUNetModel(card, threads=cfg.threads)
    test_scores = None
    if test:
        test_scores = evaluate_model(model, test)
        card.metrics["test"] = summarise_scores(test_scores)
        if test_scores["source"].astype(bool).any():
            card.metrics["test_by_source"] = {src: summarise_scores(part)
                                              for src, part in test_scores.groupby("source", sort=False)}
        card.training_data["test_patients"] = sorted({s.patient for s in test})
        atomic_write_bytes(out_dir / "test_scores.csv", test_scores.to_csv(index=False).encode(), force=True)
        plot_iou_bins(iou_bins(test_scores), out_dir / "iou_bins.png", title=f"{cfg.name}: IoU on test slices",
                      force=True)
    for name, (extra, regions) in (extra_eval or {}).items():
        card.metrics.setdefault("extra", {})[name] = summarise_scores(evaluate_model(model, extra, regions=regions))
    atomic_write_bytes(out_dir / "history.csv", hist.to_csv(index=False).encode(), force=True)
    plot_learning_curve(hist, out_dir / "learning_curve.png", title=cfg.name, best_epoch=best["epoch"])
    card.write(card_path, force=True)
    ckpt_path.unlink(missing_ok=True)
    return TrainResult(card, model, hist, test_scores, out_dir)


def plot_learning_curve(history: pd.DataFrame, path: str | Path, *, title: str = "", best_epoch: int | None = None) -> Path:
    """Loss (train, validation) and validation Dice per epoch, saved as PNG (overwrites: a training output)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    a1.plot(history["epoch"], history["train_loss"], label="train")
    a1.plot(history["epoch"], history["val_loss"], label="validation")
    a1.set_xlabel("epoch")
    a1.set_ylabel("CE + Dice loss")
    a1.legend()
    for col in [c for c in history.columns if c.startswith("val_dice_")]:
        a2.plot(history["epoch"], history[col], label=col[len("val_dice_"):].replace("_", " "))
    a2.plot(history["epoch"], history["val_mean_dice"], "k--", label="mean")
    if best_epoch:
        a2.axvline(best_epoch, color="grey", lw=0.8)
    a2.set_xlabel("epoch")
    a2.set_ylabel("validation Dice")
    a2.set_ylim(0, 1)
    a2.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue(), force=True)
