"""A small 2-D U-Net in torch, and the slice pre-/post-processing shared by training and inference.

The network is the U-Net of Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015 (arXiv:1505.04597), with padded 3x3 convolutions, batch normalisation
(Ioffe & Szegedy 2015) and transposed-convolution up-sampling, so output size = input size when the
input is a multiple of ``2**depth``. Defaults (base 16 channels, depth 4) give about 1.9 M parameters.

torch is imported when this module is imported; the rest of :mod:`medlabel.autolabel` imports it
lazily through :func:`torch_module`, so a missing torch is a clear message, not a crash at start-up.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, require

TORCH_HINT = ("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu "
              "(inside 3D Slicer: install the PyTorch extension from the Extensions Manager, then use its "
              "'PyTorch Utils' module to install torch)")


def torch_module():
    """Import torch or raise :class:`MissingDependencyError` with the install step."""
    return require("torch", TORCH_HINT)


torch = torch_module()
nn = torch.nn
F = torch.nn.functional


def set_determinism(seed: int, *, threads: int = 1) -> None:
    """Seed torch, use deterministic algorithms and limit CPU threads (the machine is shared)."""
    torch.manual_seed(int(seed))
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(max(1, int(threads)))


class _DoubleConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        )


class UNet2D(nn.Module):
    """2-D U-Net: ``(B, in_channels, H, W)`` -> logits ``(B, n_classes, H, W)``; H, W multiples of 2**depth.

    Parameters
    ----------
    in_channels : int
        Input channels (1: windowed CT).
    n_classes : int
        Output classes including background.
    base_channels : int
        Channels of the first level; doubled at each level down.
    depth : int
        Number of 2x down-samplings.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 5, base_channels: int = 16, depth: int = 4) -> None:
        super().__init__()
        if depth < 1 or base_channels < 1 or n_classes < 2:
            raise InputError(f"UNet2D needs depth >= 1, base_channels >= 1, n_classes >= 2; got depth={depth}, "
                             f"base_channels={base_channels}, n_classes={n_classes}")
        ch = [base_channels * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.encoders = nn.ModuleList(_DoubleConv(in_channels if i == 0 else ch[i - 1], ch[i]) for i in range(depth + 1))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in range(depth))
        self.decoders = nn.ModuleList(_DoubleConv(2 * ch[i], ch[i]) for i in range(depth))
        self.head = nn.Conv2d(ch[0], n_classes, 1)

    def forward(self, x):  # noqa: D102
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x)
            if i < self.depth:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for i in reversed(range(self.depth)):
            x = self.decoders[i](torch.cat([self.ups[i](x), skips[i]], dim=1))
        return self.head(x)


def count_parameters(model) -> int:
    """Number of trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def build_network(config: dict) -> UNet2D:
    """A :class:`UNet2D` from a card's ``network`` dict (unknown keys raise)."""
    allowed = {"in_channels", "n_classes", "base_channels", "depth"}
    bad = set(config) - allowed
    if bad:
        raise InputError(f"network config has unknown keys {sorted(bad)}; allowed: {sorted(allowed)}")
    return UNet2D(**config)


# -- slice pre/post-processing ----------------------------------------------------------------------
def model_grid_shape(shape_yx: tuple[int, int], spacing_yx_mm, target_spacing_yx_mm) -> tuple[int, int]:
    """Size (rows, cols) of a slice of ``shape_yx`` resampled from ``spacing_yx_mm`` to the model spacing."""
    return tuple(max(1, int(round(n * s / t))) for n, s, t in zip(shape_yx, spacing_yx_mm, target_spacing_yx_mm,
                                                                  strict=True))  # type: ignore[return-value]


def window_normalise(hu, window_hu) -> np.ndarray:
    """Map HU to 0..1 over ``window_hu`` = (low, high), clipping outside (float32, same shape)."""
    lo, hi = window_hu
    return np.clip((np.asarray(hu, np.float32) - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def to_model_grid(slices_hu: np.ndarray, spacing_yx_mm, card) -> tuple[object, tuple[int, int]]:
    """Window and resample (bilinear, area-aligned) ``(N, Y, X)`` HU slices to the card's spacing.

    Returns the ``(N, 1, H', W')`` float tensor padded (with 0 = below window) to a multiple of
    ``2**depth``, and the unpadded size ``(H_m, W_m)``.
    """
    x = torch.from_numpy(window_normalise(slices_hu, card.window_hu))[:, None]
    size = model_grid_shape(slices_hu.shape[1:], spacing_yx_mm, card.input_spacing_mm)
    if tuple(size) != tuple(slices_hu.shape[1:]):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=size[0] < slices_hu.shape[1])
    m = 2 ** int(card.network.get("depth", 4))
    ph, pw = (-size[0]) % m, (-size[1]) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), value=0.0)
    return x, size


def from_model_grid(logits, model_size: tuple[int, int], out_shape_yx: tuple[int, int]) -> np.ndarray:
    """Crop padded logits ``(N, C, H', W')`` to ``model_size``, resample to ``out_shape_yx``, argmax.

    Returns ``(N, Y, X)`` uint8 class indices on the original slice grid.
    """
    logits = logits[:, :, : model_size[0], : model_size[1]]
    if tuple(model_size) != tuple(out_shape_yx):
        logits = F.interpolate(logits, size=tuple(out_shape_yx), mode="bilinear", align_corners=False)
    # argmax over the few classes by running comparisons: several times faster than argmax(dim=1) on CPU;
    # ties go to the lower class index, as with argmax
    best = logits[:, 0].clone()
    index = torch.zeros(best.shape, dtype=torch.uint8)
    for c in range(1, logits.shape[1]):
        better = logits[:, c] > best
        best = torch.where(better, logits[:, c], best)
        index[better] = c
    return index.numpy()
