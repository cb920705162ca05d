"""Auto-labels: models behind one ``predict(image, model) -> LabelSet`` interface, a registry with model
cards, a small torch U-Net with its training loop, the pseudo-label loop and evaluation.

torch is imported only when a network is built, trained or run (``medlabel.autolabel.net``).
"""

from .cards import TISSUE_CLASSES, LabelSpec, ModelCard, sha256_file, tissue_labels
from .evaluate import IOU_BINS, iou_bins, iou_dice, labelmap_scores, labelset_scores, plot_iou_bins
from .models import FunctionModel, TorchUNetModel
from .predict import predict, resolve_slices
from .registry import SHIPPED_MODELS_DIR, ModelRegistry, default_registry, user_models_dirs

__all__ = [
    "IOU_BINS", "SHIPPED_MODELS_DIR", "TISSUE_CLASSES", "FunctionModel", "LabelSpec", "ModelCard",
    "ModelRegistry", "TorchUNetModel", "default_registry", "iou_bins", "iou_dice", "labelmap_scores",
    "labelset_scores", "plot_iou_bins", "predict", "resolve_slices", "sha256_file", "tissue_labels",
    "user_models_dirs",
]
