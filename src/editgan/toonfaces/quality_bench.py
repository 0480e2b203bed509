"""The smile-edit benchmark of EditGAN Sec. 4.2 / 4.3 rebuilt on toonfaces, with ground truth.

Held-out neutral faces (smile 0, mouth closed) are rendered at the generator's resolution and
embedded into W+; each method turns them into smiling faces:
- EditGAN: the smile vector learned from ONE annotated edit (`bench_faces.annotation_params`),
  applied at s = 1, then 0 / 10 / 30 / 60 steps of self-supervised refinement;
- InterFaceGAN: linear-SVM normal in W from labelled GAN samples (`baselines.svm_direction`);
- GANSpace-style: the principal component of W most correlated with smile.
Baselines are applied at a matched scale (`matched_scale`): the scale at which their mean smile
change on a separate calibration set equals EditGAN's at s = 1 (the W+ step norm is the fallback
when EditGAN's change is not positive or cannot be reached).

Metrics on the edited images (`measure`): attribute accuracy and mean smile (attribute network),
fd_toon / kd_toon against held-out rendered smiling faces, identity similarity to the unedited
reconstruction, mean |change| outside the dilated ground-truth mouth region, and IoU of the
segmenter's mouth on the edited image with the renderer's true smiling mouth.
Also: the Fig. 11 curves (identity vs smile over scales with refinement) and the Fig. 10 analysis
(fd_toon / kd_toon against rendered data vs scale, with and without refinement, for two edits).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from editgan.edit.optimize import refine
from editgan.errors import InputError
from editgan.eval.baselines import as_wplus_vector, most_correlated_component, svm_direction
from editgan.eval.frechet import frechet_distance
from editgan.eval.inception import inception_features, load_inception
from editgan.eval.kernel_distance import kernel_distance
from editgan.eval.locality import mask_iou, outside_change, parts_region
from editgan.eval.matched_scale import matched_scale, wplus_step_norm
from editgan.toonfaces import SMILE_THRESHOLD, TOONFACES_LABELS, edit_params, edit_target, edited_parts, sample_params
from editgan.toonfaces.attributes import attribute_scores
from editgan.toonfaces.bench_faces import (SET_OFFSETS, TensorCache, annotation_params, face_params, fingerprint,
                                           render_faces, render_labels)
from editgan.editor import load
from editgan.toonfaces.dataset import split_seed
from editgan.toonfaces.features import toon_features
from editgan.toonfaces.identity import identity_similarity

MOUTH = ("upper_lip", "lower_lip", "mouth_interior", "teeth")
CHUNK = 32  # images per batch for rendering, segmenting and embedding


@dataclass
class QualitySettings:
    """Sizes and schedules of one benchmark run (defaults: the committed default-bundle report)."""

    n_faces: int = 112           # test faces (table)
    n_curve: int = 16            # first test faces used for the refinement curves (Fig. 10, 11)
    n_calib: int = 12            # calibration faces for the matched scale
    n_reference: int = 256       # rendered reference faces for fd_toon / kd_toon
    n_svm: int = 10_000          # labelled GAN samples for InterFaceGAN / GANSpace
    svm_extremes: float = 0.3    # InterFaceGAN: top / bottom fraction by smile score used as classes
    pca_components: int = 20
    embed_steps: int = 150
    annotation_embed_steps: int = 300
    edit_steps: int = 100
    refine_steps: tuple[int, ...] = (0, 10, 30, 60)
    curve_scales: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)          # Fig. 11: scales 0..2
    fig10_scales: tuple[float, ...] = (0.7, 1.0, 1.3, 1.5, 1.7)     # paper App. B.1
    fig10_refine: int = 30
    calib_grid: int = 33         # scales 0 .. calib_max x (step-norm-matched scale)
    calib_max: float = 8.0
    smile: float = 0.9           # target smile of the edit and of the reference faces
    eyes_closed: float = 0.05    # the second edit (Fig. 10): close the eyes
    dilation: int | None = None  # mouth-region dilation in pixels (default 3 per 64 px)
    seed: int = 0

    @classmethod
    def quick(cls) -> "QualitySettings":
        """Seconds on a tiny bundle: checks the pipeline end to end, not the numbers' quality."""
        return cls(n_faces=4, n_curve=2, n_calib=3, n_reference=6, n_svm=64, pca_components=4, embed_steps=2,
                   annotation_embed_steps=2, edit_steps=6, refine_steps=(0, 1, 2), curve_scales=(1.0, 2.0),
                   fig10_scales=(1.0, 1.5), fig10_refine=1, calib_grid=9)

    def check(self) -> None:
        counts = dict(n_faces=self.n_faces, n_calib=self.n_calib, n_reference=self.n_reference)
        for name, v in counts.items():
            if v < 2:
                raise InputError(f"{name} must be at least 2 (set distances need two samples), got {v}")
        if not 2 <= self.n_curve <= self.n_faces:
            raise InputError(f"n_curve must be in [2, n_faces={self.n_faces}], got {self.n_curve}")
        if self.n_svm < 10:
            raise InputError(f"n_svm must be at least 10, got {self.n_svm}")
        if self.n_faces > SET_OFFSETS["calibration"] or self.n_calib > SET_OFFSETS["reference"] - SET_OFFSETS["calibration"]:
            raise InputError("too many faces for the benchmark's disjoint test-split ranges")
        if sorted(set(self.refine_steps)) != list(self.refine_steps) or self.refine_steps[0] != 0:
            raise InputError(f"refine_steps must be increasing and start at 0, got {self.refine_steps}")
        if 1.0 not in self.curve_scales:
            raise InputError("curve_scales must contain 1.0 (the table's scale)")
        if self.fig10_refine not in self.refine_steps:
            raise InputError(f"fig10_refine must be one of refine_steps {self.refine_steps}")


@dataclass
class Method:
    """An editing method as the benchmark sees it: a vector [num_ws, w_dim] applied at `scale`
    (its scale 1 for the curves), over `parts` (label indices, for refinement)."""

    name: str
    vector: torch.Tensor
    scale: float
    mask_annotations: str = "-"
    attribute_annotations: str = "-"
    info: dict = field(default_factory=dict)

    def row(self, **values) -> dict:
        return table_row(self.name, self.mask_annotations, self.attribute_annotations, **values)


def table_row(method: str, mask_annotations: str = "-", attribute_annotations: str = "-", **values) -> dict:
    return {"method": method, "mask_annotations": mask_annotations, "attribute_annotations": attribute_annotations,
            **values}


class Bench:
    """One run's state (editor, settings, cache) and its batched embed / edit / measure steps."""

    def __init__(self, editor, out: Path, settings: QualitySettings, log: Callable[[str], None],
                 inception: torch.jit.ScriptModule | None = None):
        self.ed, self.settings, self.log, self.inception = editor, settings, log, inception
        self.G = editor.generator
        self.size = self.G.config.resolution
        self.cache = TensorCache(out / "cache")
        files = [editor.bundle.path / f"{n}.safetensors" for n in ("generator", "segmenter")]
        self.bundle_key = fingerprint(*files)
        self.seg_size = tuple(editor.segmenter.config.out_size)
        self.mouth_labels = editor.part_indices(list(MOUTH))
        self.dilation = settings.dilation if settings.dilation is not None else max(1, round(3 * self.size / 64))

    # ---------------------------------------------------------------- latents and images
    def render(self, wplus: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.ed.render(wplus[i:i + CHUNK]) for i in range(0, len(wplus), CHUNK)])

    def segment(self, wplus: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.ed.segment(wplus[i:i + CHUNK]) for i in range(0, len(wplus), CHUNK)])

    def embed(self, name: str, images: torch.Tensor, steps: int) -> dict[str, torch.Tensor]:
        """{"wplus", "reconstruction"} for images [N, 3, S, S], cached on everything they depend on."""
        b = self.ed.bundle
        settings = self.ed.embed_settings(steps=steps, tune_steps=0)
        encoder = [b.path / "encoder.safetensors"] if b.has("encoder") else []
        key = fingerprint(self.bundle_key, images, settings.to_json(), *encoder)

        def compute():
            t0, out = time.perf_counter(), {"wplus": [], "reconstruction": []}
            for i in range(0, len(images), CHUNK):
                batch = images[i:i + CHUNK]
                r = self.ed.embed(batch, settings=settings)
                out["wplus"].append(r.wplus)
                out["reconstruction"].append(r.reconstruction)
            self.log(f"embedded {len(images)} {name} faces ({steps} steps) in {time.perf_counter() - t0:.0f} s")
            return {k: torch.cat(v) for k, v in out.items()}

        return self.cache.get(f"embed-{name}", key, compute)

    def edit(self, name: str, wplus: torch.Tensor, method: Method, parts: Sequence[int], scale: float,
             max_steps: int) -> dict[int, torch.Tensor]:
        """{refinement steps: edited w+ [N, num_ws, w_dim]} for steps in refine_steps up to max_steps:
        w+ + scale * method.scale * vector, then one refinement run per face (batch 1, so only the
        edit region is segmented) whose checkpoints give the shorter budgets."""
        steps = [k for k in self.settings.refine_steps if k <= max_steps]
        delta = method.vector * (scale * method.scale)
        key = fingerprint(self.bundle_key, wplus, delta, list(parts), steps)

        def compute():
            t0 = time.perf_counter()
            out = {0: wplus + delta}
            if steps[-1] > 0:
                per_face = {k: [] for k in steps[1:]}
                for i in range(len(wplus)):
                    r = refine(self.G, self.ed.segmenter, wplus[i:i + 1], delta, 1.0, parts=parts,
                               steps=steps[-1], checkpoints=tuple(steps[1:-1]))
                    for k in steps[1:-1]:
                        per_face[k].append(wplus[i:i + 1] + r.checkpoint_deltas[k])
                    per_face[steps[-1]].append(r.wplus_after)
                out.update({k: torch.cat(v) for k, v in per_face.items()})
            self.log(f"{name}: {method.name} at scale {scale:g}, refinement {steps} on {len(wplus)} faces "
                     f"in {time.perf_counter() - t0:.0f} s")
            return {str(k): v for k, v in out.items()}

        return {int(k): v for k, v in self.cache.get(f"edit-{name}-{method.name}", key, compute).items()}

    # ---------------------------------------------------------------- metrics
    def measure(self, images: torch.Tensor, truth: "Truth", wplus: torch.Tensor | None,
                start: torch.Tensor | None) -> dict[str, float]:
        """Metrics of edited images [N, 3, S, S] against `truth` (the same N faces); wplus / start
        (edited and unedited w+) give the mouth IoU and the W+ step norm when the edit is a latent."""
        images = images.clamp(-1, 1)
        smile = attribute_scores(images)["smile"]
        feats = toon_features(images)
        out = {
            "attribute_accuracy": float((smile > SMILE_THRESHOLD).float().mean()),
            "smile": float(smile.mean()),
            "fd_toon": frechet_distance(feats, truth.reference_features),
            "kd_toon": kernel_distance(feats, truth.reference_features),
            "identity": float(identity_similarity(images, truth.unedited).mean()),
            "outside_change": float(outside_change(images, truth.unedited, truth.region).mean()),
            "mouth_iou": float("nan"),
            "step_norm": float("nan"),
        }
        if self.inception is not None:
            feats = inception_features(self.inception, images)
            out["fid"] = frechet_distance(feats, truth.reference_inception)
            out["kid"] = kernel_distance(feats, truth.reference_inception, subsets=100, subset_size=1000)
        if wplus is not None:
            labels = self.segment(wplus).numpy()
            out["mouth_iou"] = mask_iou(np.isin(labels, self.mouth_labels), truth.true_mouth)
            out["step_norm"] = wplus_step_norm((wplus - start).numpy())
        return out


@dataclass
class Truth:
    """What edited test faces are compared with: unedited [N, 3, S, S] (reconstructions), the dilated
    ground-truth mouth region bool [N, S, S], the renderer's smiling mouth on the segmenter grid
    bool [N, h, w], and the reference set's toon features [M, D]."""

    unedited: torch.Tensor
    region: torch.Tensor
    true_mouth: np.ndarray
    reference_features: torch.Tensor
    reference_inception: torch.Tensor | None = None

    def subset(self, n: int) -> "Truth":
        return replace(self, unedited=self.unedited[:n], region=self.region[:n], true_mouth=self.true_mouth[:n])


def learn_vector(bench: Bench, wplus: torch.Tensor, before, after, name: str) -> tuple[torch.Tensor, list[int]]:
    """EditGAN: carry the renderer's change for before -> after onto the segmentation of the embedded
    annotation face and learn δw+ inside the repainted pixels (cached) -> (vector [num_ws, w_dim],
    part indices)."""
    ed, s = bench.ed, bench.settings
    labels = ed.segment(wplus)[0].numpy()
    target, painted = edit_target(labels, before, after)
    parts = ed.part_indices(list(edited_parts(before, after)))
    key = fingerprint(bench.bundle_key, wplus, target, painted, parts, s.edit_steps)

    def compute():
        result, _ = ed.edit(wplus, torch.from_numpy(target), parts, name=name, steps=s.edit_steps,
                            region="painted", painted=torch.from_numpy(painted))
        return {"delta": result.delta[0]}

    return bench.cache.get(f"vector-{name}", key, compute)["delta"], parts


def labelled_samples(bench: Bench) -> tuple[np.ndarray, np.ndarray]:
    """n_svm GAN samples: (w [n, w_dim] (psi 1), the attribute network's smile score [n])."""
    s, G = bench.settings, bench.G
    key = fingerprint(bench.bundle_key, s.n_svm, s.seed)

    def compute():
        t0 = time.perf_counter()
        with torch.no_grad():
            w = G.mapping(G.sample_z(s.n_svm, seed=s.seed))
        images = bench.render(G.broadcast(w))
        smile = attribute_scores(images.clamp(-1, 1))["smile"]
        bench.log(f"labelled {s.n_svm} GAN samples in {time.perf_counter() - t0:.0f} s")
        return {"w": w, "smile": smile}

    data = bench.cache.get("labelled-samples", key, compute)
    return data["w"].double().numpy(), data["smile"].double().numpy()


def baseline_directions(bench: Bench) -> dict[str, tuple[np.ndarray, dict]]:
    """{"InterFaceGAN": (unit direction, info), "GANSpace": (unit direction, info)}."""
    s = bench.settings
    w, smile = labelled_samples(bench)
    order = np.argsort(smile)
    k = max(1, int(round(s.svm_extremes * len(w))))
    chosen = np.concatenate([order[:k], order[-k:]])
    positive = np.zeros(len(w), dtype=bool)
    positive[order[-k:]] = True
    svm = svm_direction(w[chosen], positive[chosen], seed=s.seed)
    pca, component, corr = most_correlated_component(w, smile, k=min(s.pca_components, *w.shape))
    return {
        "InterFaceGAN": (svm, {"samples": len(w), "classes": f"top / bottom {k} by predicted smile"}),
        "GANSpace": (pca, {"samples": len(w), "component": component, "abs_correlation": corr}),
    }


def calibrate(bench: Bench, calib: dict[str, torch.Tensor], editgan_vector: torch.Tensor,
              vector: torch.Tensor) -> tuple[float, dict]:
    """The baseline's scale for unit vector [num_ws, w_dim]: mean smile change on the calibration
    faces equal to EditGAN's at s = 1, else (EditGAN's change <= 0 or out of reach) equal W+ step norm."""
    s = bench.settings
    wplus, base = calib["wplus"], attribute_scores(calib["reconstruction"].clamp(-1, 1))["smile"]

    def change(delta: torch.Tensor) -> float:
        return float((attribute_scores(bench.render(wplus + delta).clamp(-1, 1))["smile"] - base).mean())

    norm_scale = wplus_step_norm(editgan_vector.numpy()) / wplus_step_norm(vector.numpy())
    target = change(editgan_vector)
    grid = np.linspace(0.0, s.calib_max * norm_scale, s.calib_grid)
    curve = np.array([change(g * vector) for g in grid])
    info = {"editgan_change": target, "norm_matched_scale": norm_scale, "grid": grid.tolist(), "changes": curve.tolist()}
    if target > 0:
        try:
            return matched_scale(grid, curve, target), {**info, "basis": "smile change"}
        except InputError:
            pass
    return norm_scale, {**info, "basis": "W+ step norm"}


def run_quality_benchmark(bundle: str | Path, out: str | Path, settings: QualitySettings | None = None,
                          log: Callable[[str], None] = print, inception: str | Path | None = None) -> dict:
    """Run everything; returns the results dict that `quality_report.write_report` turns into files.
    inception: the TorchScript Inception file (or its directory) to add true FID / KID to the table."""

    s = settings or QualitySettings()
    s.check()
    out = Path(out)
    ed = load(bundle)
    if ed.bundle.domain != "toonfaces" or ed.scheme is None or not set(MOUTH) <= set(ed.scheme.names):
        raise InputError(f"the quality benchmark needs a toonfaces bundle with a segmenter; {ed.bundle.path} is "
                         f"domain {ed.bundle.domain!r}")
    bench = Bench(ed, out, s, log, load_inception(inception) if inception is not None else None)
    t_start = time.perf_counter()
    size, n = bench.size, s.n_faces
    log(f"bundle {ed.bundle.path} ({size} px); {n} test faces, {s.n_curve} for curves, {s.n_calib} calibration")

    # ---- faces, ground truth, references
    test_params = face_params("test", n)
    smiling_params = [edit_params(p, smile=s.smile) for p in test_params]
    test = render_faces(test_params, size)
    smiling = render_faces(smiling_params, size)
    ref_neutral = face_params("reference", s.n_reference)
    ref_smiling = render_faces([edit_params(p, smile=s.smile) for p in ref_neutral], size).images
    ref_data = render_faces([sample_params(split_seed("test", SET_OFFSETS["reference"] + i))
                             for i in range(s.n_reference)], size).images
    mouth = TOONFACES_LABELS.indices(MOUTH)
    embedded = bench.embed("test", test.images, s.embed_steps)
    truth = Truth(unedited=embedded["reconstruction"].clamp(-1, 1),
                  region=parts_region([test.labels, smiling.labels], mouth, bench.dilation),
                  true_mouth=np.isin(render_labels(smiling_params, bench.seg_size[0]), mouth),
                  reference_features=toon_features(ref_smiling),
                  reference_inception=inception_features(bench.inception, ref_smiling) if bench.inception is not None else None)
    calib = bench.embed("calibration", render_faces(face_params("calibration", s.n_calib), size).images, s.embed_steps)

    # ---- methods
    annot = annotation_params()
    annot_w = bench.embed("annotation", render_faces([annot], size).images, s.annotation_embed_steps)["wplus"]
    smile_vec, smile_parts = learn_vector(bench, annot_w, annot, edit_params(annot, smile=s.smile), "smile")
    eyes_after = edit_params(annot, eye_open=s.eyes_closed)
    eyes_vec, eyes_parts = learn_vector(bench, annot_w, annot, eyes_after, "close_eyes")
    seg_masks = ed.bundle.provenance("segmenter").get("num_annotations", "?")
    methods = {"EditGAN": Method("EditGAN", smile_vec, 1.0, f"1 edit (+{seg_masks} segmenter masks)",
                                 info={"parts": [ed.scheme.names[i] for i in smile_parts]})}
    for name, (direction, info) in baseline_directions(bench).items():
        vector = as_wplus_vector(direction, bench.G.num_ws)
        scale, calib_info = calibrate(bench, calib, smile_vec, vector)
        labels = f"{info['samples']:,}" + (" (to pick the component)" if name == "GANSpace" else "")
        methods[name] = Method(name, vector, scale, attribute_annotations=labels,
                               info={**info, "calibration": calib_info})
        log(f"{name}: matched scale {scale:.3f} ({calib_info['basis']})")

    # ---- table
    rows = []
    wplus = embedded["wplus"]
    rows.append(table_row("No edit (reconstruction)", refine_steps=0,
                          **bench.measure(truth.unedited, truth, wplus, wplus)))
    oracle = bench.measure(smiling.images, replace(truth, unedited=test.images), None, None)
    rows.append(table_row("Renderer ground truth (oracle)", refine_steps=0, **oracle))
    max_refine = s.refine_steps[-1]
    editgan_s1 = bench.edit("test", wplus, methods["EditGAN"], smile_parts, 1.0, max_refine)
    for k, w_edit in editgan_s1.items():
        rows.append({**methods["EditGAN"].row(refine_steps=k, **bench.measure(bench.render(w_edit), truth, w_edit, wplus)),
                     "method": "EditGAN" + (f" + {k} refinement steps" if k else "")})
    for name in ("InterFaceGAN", "GANSpace"):
        steps = s.fig10_refine if name == "InterFaceGAN" else 0  # + EditGAN's refinement, to separate the two
        for k, w_edit in bench.edit("test", wplus, methods[name], smile_parts, 1.0, steps).items():
            rows.append({**methods[name].row(refine_steps=k, **bench.measure(bench.render(w_edit), truth, w_edit, wplus)),
                         "method": name + (f" + {k} EditGAN refinement steps" if k else "")})

    # ---- Fig. 11: identity vs smile over scales (first n_curve faces)
    m = s.n_curve
    sub_w, sub_truth = wplus[:m], truth.subset(m)
    base = bench.measure(sub_truth.unedited, sub_truth, sub_w, sub_w)
    done = {("EditGAN", 1.0): {k: v[:m] for k, v in editgan_s1.items()}}

    def subset_edits(method: Method, parts: list[int], scale: float, steps_max: int) -> dict[int, torch.Tensor]:
        have = done.get((method.name, scale))
        if have is None or max(have) < steps_max:
            have = done[(method.name, scale)] = bench.edit("curve", sub_w, method, parts, scale, steps_max)
        return have

    curves = []
    for name in ("EditGAN", "InterFaceGAN", "GANSpace"):
        steps_max = max_refine if name != "GANSpace" else 0
        for scale in s.curve_scales:
            edits = subset_edits(methods[name], smile_parts, scale, steps_max)
            for k, w_edit in edits.items():
                point = bench.measure(bench.render(w_edit), sub_truth, w_edit, sub_w)
                curves.append({"method": name, "scale": scale, "refine_steps": k, **point})
        for k in ([0] if name == "GANSpace" else s.refine_steps):
            curves.append({"method": name, "scale": 0.0, "refine_steps": k, **base})

    # ---- Fig. 10: fd_toon / kd_toon against rendered data vs scale, with and without refinement
    data_features = toon_features(ref_data)
    fig10 = []
    eyes = Method("close_eyes", eyes_vec, 1.0)
    for edit_name, method, parts in (("smile", methods["EditGAN"], smile_parts), ("close_eyes", eyes, eyes_parts)):
        for scale in (0.0,) + tuple(s.fig10_scales):
            edits = {0: sub_w, s.fig10_refine: sub_w} if scale == 0 else \
                subset_edits(method, parts, scale, s.fig10_refine)
            for k in (0, s.fig10_refine):
                images = bench.render(edits[k]).clamp(-1, 1)
                feats = toon_features(images)
                attrs = attribute_scores(images)
                fig10.append({"edit": edit_name, "scale": scale, "refine_steps": k,
                              "fd_toon": frechet_distance(feats, data_features),
                              "kd_toon": kernel_distance(feats, data_features),
                              "smile": float(attrs["smile"].mean()), "eye_open": float(attrs["eye_open"].mean())})

    return {
        "bundle": ed.bundle.path.name, "resolution": size, "settings": asdict(s),
        "embedding_init": "encoder" if ed.encoder is not None else "w_avg", "mouth_dilation_px": bench.dilation,
        "seconds": round(time.perf_counter() - t_start, 1),
        "methods": {k: {"scale": v.scale, "mask_annotations": v.mask_annotations,
                        "attribute_annotations": v.attribute_annotations, "info": v.info} for k, v in methods.items()},
        "table": rows, "curves": curves, "fig10": fig10,
    }
