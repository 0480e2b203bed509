"""Training the segmenter from an annotation set, with a held-out estimate of its quality, and
installing it into the bundle.

Held-out rule: of I >= 2 annotations, round(holdout * I) (at least 1, at most I - 1) are held out,
chosen by a permutation drawn with `seed`; a segmenter trained on the others is scored on them by
per-class IoU (pixels pooled over the held-out maps, `editgan.eval.iou`; a class absent from both
prediction and truth has none). The segmenter that is installed is then trained on all I with the
same settings, so the estimate is slightly pessimistic. holdout = 0 or I < 2 skips the estimate.

Installing writes `<user_dir>/segmenter.*` (the bundle itself, or for a packaged bundle the user's
folder, which `Bundle.segmenter` prefers); a segmenter already there first moves to
`<user_dir>/backup/segmenter-<UTC time>/`, with the display segmenter distilled from it (it no
longer matches; `editgan bundle distill-segmenter` makes a new one).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from editgan.annotate.store import AnnotationSet, stamp, utc_now
from editgan.bundle import DISPLAY_SEGMENTER, SEGMENTER, Bundle, read_manifest, write_manifest
from editgan.errors import InputError
from editgan.files import link_or_copy
from editgan.eval.iou import confusion, iou_from_confusion, mean_iou
from editgan.io.segmenter_files import save_segmenter
from editgan.labels import LabelScheme
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.tuning import Tuning
from editgan.train.segmenter_training import TrainSettings, extract_features, train_segmenter


def holdout_split(ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(training ids, held-out ids) by the rule in the module docstring; held-out [] when skipped."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"holdout must lie in [0, 1), got {fraction}")
    if fraction == 0.0 or len(ids) < 2:
        return list(ids), []
    n_held = min(len(ids) - 1, max(1, round(fraction * len(ids))))
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed)).tolist()
    held = set(order[:n_held])
    return [i for k, i in enumerate(ids) if k not in held], [i for k, i in enumerate(ids) if k in held]


@torch.no_grad()
def predicted_confusion(seg: Segmenter, feats: list[torch.Tensor], masks: torch.Tensor) -> np.ndarray:
    """Confusion counts [K, K] (row: true, column: predicted) of the ensemble over label maps [I, H, W]."""
    k = seg.config.num_classes
    counts = np.zeros((k, k), dtype=np.int64)
    for i in range(masks.shape[0]):
        labels = seg.predict([f[i:i + 1].float() for f in feats]).labels[0]
        counts += confusion(labels.numpy(), masks[i].numpy(), k)
    return counts


def new_segmenter(generator, num_classes: int, members: int, seed: int) -> Segmenter:
    config = SegmenterConfig.for_generator(generator.config, num_classes, num_members=members)
    return Segmenter(config, seeds=[seed * 1000 + m for m in range(members)])


def train_from_annotations(generator, ids: list[str], wplus: torch.Tensor, masks: torch.Tensor,
                           scheme: LabelScheme, settings: TrainSettings, *, members: int = 10,
                           holdout: float = 0.2, tunings: list[Tuning | None] | None = None,
                           progress: Callable[[str, int, float], None] | None = None) -> tuple[Segmenter, dict]:
    """Held-out estimate, then the final segmenter on all annotations (w+ [I, num_ws, w_dim], label
    maps int64 [I, H, W]; tunings: per annotation its Tuning, whose G' gives its features, or None).
    progress(phase "holdout" | "final", step, loss). Returns (segmenter, report: held_out ids,
    per-class IoU {name: value or None}, mean IoU, both training reports)."""
    config = new_segmenter(generator, scheme.num_classes, 1, 0).config
    feats = [f.cpu() for f in extract_features(generator, wplus, config, tunings=tunings)]  # training runs on the CPU
    train_ids, held_ids = holdout_split(ids, holdout, settings.seed)
    report: dict = {"annotations": list(ids), "held_out": held_ids, "iou": None, "mean_iou": None}
    if held_ids:
        tr = torch.tensor([ids.index(i) for i in train_ids])
        te = torch.tensor([ids.index(i) for i in held_ids])
        probe = new_segmenter(generator, scheme.num_classes, members, settings.seed)
        fit = train_segmenter(probe, [f[tr] for f in feats], masks[tr], settings,
                              (lambda s, loss: progress("holdout", s, loss)) if progress else None)
        iou = iou_from_confusion(predicted_confusion(probe, [f[te] for f in feats], masks[te]))
        report.update(holdout_training=fit.to_json(), mean_iou=none_if_nan(mean_iou(iou)),
                      iou={name: none_if_nan(v) for name, v in zip(scheme.names, iou)})
    seg = new_segmenter(generator, scheme.num_classes, members, settings.seed)
    fit = train_segmenter(seg, feats, masks, settings,
                          (lambda s, loss: progress("final", s, loss)) if progress else None)
    report["training"] = fit.to_json()
    return seg, report


def none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def install_segmenter(bundle: Bundle, seg: Segmenter, scheme: LabelScheme, provenance: dict,
                      name: str = SEGMENTER) -> dict:
    """Write the segmenter as `<name>.*` into `bundle.user_dir` (see the module; name
    DISPLAY_SEGMENTER for a distilled display segmenter), its provenance into the manifest of a
    writable bundle (key `name`); returns {"path": weights file, "backup": folder of the files it
    replaced or None}. Installing the ensemble also retires the display segmenter beside it.
    The bundle stays usable at every moment: the old files are linked into the backup first, each
    new file replaces its old one by rename, and the retired display segmenter (no longer distilled
    from the bundle's segmenter, so no longer used) is removed last."""
    target = bundle.user_dir
    names = (SEGMENTER, DISPLAY_SEGMENTER) if name == SEGMENTER else (name,)
    present = [target / f"{n}{s}" for n in names for s in (".json", ".safetensors") if (target / f"{n}{s}").is_file()]
    backup = None
    if present:
        backup = target / "backup" / f"{name}-{stamp(utc_now())}"
        backup.mkdir(parents=True)
        for path in present:
            link_or_copy(path, backup / path.name)
    path = save_segmenter(seg, target, scheme, provenance, name=name)
    for stale in present:
        if not stale.name.startswith(f"{name}."):
            stale.unlink()
    if not bundle.packaged:
        manifest = read_manifest(bundle.path)
        manifest.setdefault("provenance", {})[name] = provenance
        manifest["label_scheme"] = manifest.get("label_scheme") or scheme.to_json()
        write_manifest(bundle.path, manifest)
    return {"path": path, "backup": backup}


def train_and_install(bundle: Bundle, generator, store: AnnotationSet, scheme: LabelScheme, settings: TrainSettings,
                      *, members: int = 10, holdout: float = 0.2,
                      progress: Callable[[str, int, float], None] | None = None) -> dict:
    """`train_from_annotations` on every annotation of `store`, then `install_segmenter` with the
    provenance (settings, report, time) -> the report plus "segmenter" (weights path) and "backup"."""
    t0 = time.perf_counter()
    ids, wplus, masks, tunings = store.training_data()
    seg, report = train_from_annotations(generator, ids, wplus.to(generator.w_avg.device), masks, scheme, settings,
                                         members=members, holdout=holdout, tunings=tunings, progress=progress)
    provenance = {"source": "annotations", "folder": str(store.root), "num_annotations": len(ids),
                  "tuned": [i for i, t in zip(ids, tunings) if t is not None], "settings": vars(settings),
                  "members": members, "holdout": holdout, "report": report,
                  "wall_time_s": round(time.perf_counter() - t0, 1)}
    installed = install_segmenter(bundle, seg, scheme, provenance)
    return {**report, "segmenter": str(installed["path"]),
            "backup": str(installed["backup"]) if installed["backup"] else None}
