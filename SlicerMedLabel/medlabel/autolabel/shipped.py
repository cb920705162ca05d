"""The data set and settings of the network shipped in ``Resources/Models`` (``medlabel-tissue-unet``).

Everything here may be shipped: synthetic slices made in code and real CT from ``../shared/data`` whose
licences allow it (see its PROVENANCE.md). Splits are by patient:

========== ======================================================= ==========================================
split      sources                                                 labels
========== ======================================================= ==========================================
train      L3 phantom seeds 0-5, random synthetic patients 0-15,   exact (phantoms); rule-based labeler
           TotalSegmentator example CT slices 30-80, dcmqi          (real CT)
           ct-3slice
validation L3 phantom 6-7, synthetic 16-19, TotalSegmentator        same
           example DICOM series (T11-T12)
test       L3 phantom 8-9, synthetic 20-23, TCIA CRLM-CT-1006       same
           slices 0-30 (held-out patient)
extra      TotalSegmentator example_ct_sm (= example CT slices      TotalSegmentator ``tissue_types`` masks,
           82-111, not used for training; *same patient* as        muscle and SAT only (model output, a
           training slices 30-80)                                  proxy reference)
========== ======================================================= ==========================================

Real-CT labels come from the rule-based labeler (:func:`medlabel.bodycomp.label_tissues`), so scores on
real CT measure agreement with that labeler, not accuracy against expert truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cards import ALBERTA_REFINEMENT, TISSUE_CLASSES, tissue_labels
from .dataset import samples_from_case
from .models import Progress
from .synthetic import synthetic_slices
from .training import TrainConfig, TrainingSample

SHIPPED_NAME = "medlabel-tissue-unet"
DATA_ROOT = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"

SPLITS: dict[str, dict] = {
    "train": {"phantom": range(0, 6), "synthetic": range(0, 16),
              "real": [("ts-example", "totalsegmentator/example_ct.nii.gz", range(30, 81, 2)),
                       ("dcmqi-99000", "dcmqi/ct-3slice", range(0, 3))]},
    "validation": {"phantom": range(6, 8), "synthetic": range(16, 20),
                   "real": [("ts-dicom", "totalsegmentator/example_ct_dicom", range(0, 20, 3))]},
    "test": {"phantom": range(8, 10), "synthetic": range(20, 24),
             "real": [("CRLM-CT-1006", "tcia_crlm/CRLM-CT-1006", range(0, 31, 5))]},
}


def shipped_config(**overrides) -> TrainConfig:
    """Training settings of the shipped network (2 mm grid, 0.49 M parameters: fast enough for < 100 ms per
    512 x 512 slice on one busy CPU core; base 16 channels measured 127 ms for the network alone)."""
    base = dict(name=SHIPPED_NAME, version="1",
                description="2-D U-Net (0.49 M parameters, 2 mm grid) for L3 body-composition tissues: skeletal "
                            "muscle, SAT, VAT, IMAT, refined at full resolution by the Alberta HU windows. Trained "
                            "on synthetic phantoms and real CT labelled by the rule-based labeler; a starting point "
                            "for correction, not a clinical tool.",
                base_channels=8, depth=4, input_spacing_mm=(2.0, 2.0), window_hu=(-250.0, 250.0),
                epochs=70, batch_size=8, steps_per_epoch=10, crop=128, learning_rate=2e-3, patience=15, seed=0,
                threads=1, class_weighting=True, hu_refinement=ALBERTA_REFINEMENT)
    return TrainConfig(**(base | overrides))


def phantom_samples(seeds) -> list[TrainingSample]:
    """Two-slice L3 phantom slabs (``medlabel.phantom``), pixel size 0.75-0.95 mm drawn from the seed."""
    from ..phantom import make_l3_phantom

    out = []
    for seed in seeds:
        px = float(np.random.default_rng(1000 + seed).uniform(0.75, 0.95))
        image, truth = make_l3_phantom((2, 512, 512), (3.0, px, px), seed=seed, z_variation=0.1)
        for s in samples_from_case(image, truth, tissue_labels(), patient=f"phantom-{seed}", case=f"phantom-{seed}",
                                   slices=[0, 1]):
            s.source = "phantom"
            out.append(s)
    return out


def random_synthetic_samples(seeds, *, n_slices: int = 2) -> list[TrainingSample]:
    """Random-anatomy synthetic patients (:mod:`medlabel.autolabel.synthetic`), 256 x 256 at 1.6 mm."""
    out = []
    for seed in seeds:
        ct, lab = synthetic_slices(10_000 + seed, n_slices=n_slices, size=256, spacing_mm=1.6)
        out += [TrainingSample(ct[i], lab[i], (1.6, 1.6), f"synthetic-{seed}", f"synthetic-{seed}", i, "synthetic")
                for i in range(n_slices)]
    return out


def rule_based_samples(patient: str, rel_path: str, slices, *, root: Path = DATA_ROOT,
                       progress: Progress | None = None) -> list[TrainingSample]:
    """Slices of a real CT labelled by :func:`medlabel.bodycomp.label_tissues` (source ``rule-based``)."""
    from .. import io as mio
    from ..bodycomp import label_tissues

    image = mio.read_image(root / rel_path)
    ks = [k for k in slices if k < image.shape[0]]
    labels = label_tissues(image, slice_indices=ks, progress=progress)
    out = samples_from_case(image, labels, tissue_labels(), patient=patient, case=patient, slices=ks)
    for s in out:
        s.source = f"rule-based:{patient}"
    return out


def split_samples(split: str, *, root: Path = DATA_ROOT, progress: Progress | None = None) -> list[TrainingSample]:
    """All samples of one split of :data:`SPLITS`."""
    spec = SPLITS[split]
    out = phantom_samples(spec["phantom"]) + random_synthetic_samples(spec["synthetic"])
    for i, (patient, rel, ks) in enumerate(spec["real"]):
        out += rule_based_samples(patient, rel, ks, root=root)
        if progress:
            progress((i + 1) / len(spec["real"]), f"{split}: {patient}")
    return out


def ts_tissue_reference_samples(*, root: Path = DATA_ROOT, step: int = 3) -> list[TrainingSample]:
    """example_ct_sm slices with TotalSegmentator ``tissue_types`` muscle (1) and SAT (2) masks."""
    from .. import io as mio

    ts = root / "totalsegmentator"
    image = mio.read_image(ts / "example_ct_sm.nii.gz")
    lab = np.zeros(image.shape, np.uint8)
    for value, name in ((1, "skeletal_muscle"), (2, "subcutaneous_fat")):
        mask = mio.read_image(ts / "example_seg_tissue_types" / f"{name}.nii.gz")
        image.check_same_geometry(mask, f"tissue mask {name}")
        lab[mask.array > 0] = value
    ks = list(range(0, image.shape[0], step))
    from .models import to_canonical

    ct = to_canonical(image.array[ks].astype(np.float32), image.direction)
    lb = to_canonical(lab[ks], image.direction)
    return [TrainingSample(ct[i], lb[i], image.spacing_mm[1:], "ts-example", "ts-example-sm", k, "ts-tissue-types")
            for i, k in enumerate(ks)]


TS_REFERENCE_REGIONS = (TISSUE_CLASSES[0], TISSUE_CLASSES[1])

