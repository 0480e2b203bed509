"""The official EditGAN release (nv-tlabs/editGAN_release, car) as one bundle.

The release's files, as its README lays them out under `checkpoint/` (and `static/` of the repo):

    stylegan_pretrain/stylegan2_networks_stylegan2-car-config-f.pt     rosinality {"g_ema", ...}; or ..._with_d.pt
    datasetgan_pretrain/classifier/car_model_<m>.pth                   10 pixel classifiers (DatasetGAN layout)
    encoder_pretrain/BEST_loss<x>.pth                                 ResNet-50 FPN encoder {"model_state_dict"}
    encoder_pretrain/testing_embedding/latents_image_<i>.npy          w+ [16, 512] of the test images
    static/editing_vectors/<part>_<action>.npy                        editing vectors [1, 16, 512]

`find_release_files` finds each by its name pattern anywhere below the folder given (the repository
root, its `checkpoint/` folder, or one folder holding every file flat), and says what it did not find;
`import_release` writes the bundle: generator (with the car's 512x384 crop), segmenter (car-32 scheme
with the release's class names; label maps the argmax of the mean logits, as the release displays
them), encoder, test latents under `latents/`, vectors (delta = v / 2, see
`editgan.edit.release_vector`), and the release's edit and embedding settings ("editing": "release",
"embedding": {"preset": "release"}; without an encoder both with consistency_weight 0). The bundle is
built beside the target and moved into place when complete.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from editgan.bundle import MANIFEST, Bundle, open_bundle, write_bundle
from editgan.edit.release_vector import release_vector
from editgan.edit.vectors import VectorLibrary
from editgan.errors import InputError
from editgan.files import staged_directory
from editgan.io.datasetgan import load_datasetgan_classifiers, member_files
from editgan.io.editgan_encoder import install_editgan_encoder
from editgan.io.foreign import KNOWN_CROPS, known_crop, load_foreign_generator
from editgan.io.latents import load_wplus, save_wplus
from editgan.io.lpips_weights import heads_candidates, vgg16_candidates
from editgan.io.release_vectors import parts_from_name
from editgan.io.segmenter_files import save_segmenter
from editgan.labels import DATASETGAN_CAR
from editgan.nn.segmenter_config import SegmenterConfig

DOMAIN = "car"
CAR_STEM = "stylegan2-car-config-f"


@dataclass
class ReleaseFiles:
    """Paths of one release's files (see the module docstring); encoder/latents/vectors may be missing."""

    generator: Path
    classifiers: list[Path]
    encoder: Path | None = None
    latents: list[Path] = field(default_factory=list)
    vectors: list[Path] = field(default_factory=list)

    def report(self, root: Path) -> tuple[list[str], list[str]]:
        """(what was found, one line each; a warning per optional part that was not, by expected name)."""
        def rel(p: Path) -> str:
            return p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
        found = [f"generator: {rel(self.generator)}",
                 f"classifiers: {len(self.classifiers)} in {rel(self.classifiers[0].parent)}/"]
        missing = []
        if self.encoder is not None:
            found.append(f"encoder: {rel(self.encoder)}")
        else:
            missing.append(f"no encoder (expected {ENCODER_NAME}, in the release's checkpoint/encoder_pretrain/): "
                           "embedding starts from the average latent, and the bundle's embedding and edit "
                           "settings leave the release's encoder consistency term off")
        if self.latents:
            found.append(f"latents: {len(self.latents)} ({', '.join(p.name for p in self.latents[:3])}"
                         f"{', ...' if len(self.latents) > 3 else ''})")
        else:
            missing.append(f"no test latents (expected {LATENT_NAME}, in the release's "
                           "checkpoint/encoder_pretrain/testing_embedding/)")
        if self.vectors:
            found.append(f"vectors: {len(self.vectors)} ({', '.join(p.name for p in self.vectors)})")
        else:
            missing.append(f"no editing vectors (expected {VECTOR_NAME}, in the release repository's "
                           "static/editing_vectors/)")
        return found, missing


GENERATOR_NAME = f"stylegan2_networks_{CAR_STEM}.pt"
CLASSIFIER_NAME = "car_model_<m>.pth"
ENCODER_NAME = "BEST_loss<x>.pth"
LATENT_NAME = "latents_image_<i>.npy"
VECTOR_NAME = "<part>_<action>.npy (e.g. wheel_enlarge.npy)"


def _index(path: Path) -> int:
    return int(re.search(r"(\d+)$", path.stem).group(1))


def _single(candidates: list[Path], what: str, root: Path) -> Path | None:
    if len(candidates) > 1:
        raise InputError(f"{root} holds several {what}: {', '.join(str(p.relative_to(root)) for p in candidates)}; "
                         "keep one")
    return candidates[0] if candidates else None


def is_release_encoder(path: Path) -> bool:
    """The release's encoder checkpoint: `BEST_loss<x>.pth`, or any .pth in an `encoder_pretrain/` folder."""
    return path.suffix == ".pth" and (re.fullmatch(r"BEST_loss.*\.pth", path.name) is not None
                                      or path.parent.name == "encoder_pretrain")


def is_release_latent(path: Path) -> bool:
    return re.fullmatch(r"latents_image_\d+\.npy", path.name) is not None


def is_release_vector(path: Path) -> bool:
    """A release editing vector: a .npy in `editing_vectors/`, or one named `<part>_<action>.npy` for a
    part of the car scheme (anywhere; not a test latent)."""
    if path.suffix != ".npy" or is_release_latent(path):
        return False
    return path.parent.name == "editing_vectors" or parts_from_name(path.stem, DATASETGAN_CAR) is not None


def find_release_files(root: str | Path, classifier_iteration: int | None = None) -> ReleaseFiles:
    """Locate the release's files below `root` by their name patterns, in whatever folders (the
    release's layout, or all of them flat in one folder); InputError naming what is missing (the
    generator and the classifiers are required) or ambiguous."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"release folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                          p.relative_to(root).parts))
    generators = [p for p in files if p.suffix == ".pt" and known_crop(p) == KNOWN_CROPS[CAR_STEM]]
    plain = [p for p in generators if not p.stem.endswith("_with_d")]
    generator = _single(plain or generators, "car generators", root)
    if generator is None:
        raise InputError(f"no car generator in {root}: expected {GENERATOR_NAME} (or {CAR_STEM}.pt), in the "
                         "release's checkpoint/stylegan_pretrain/")
    folders = sorted({p.parent for p in files if re.fullmatch(r"car_model_(iter\d+_number_)?\d+\.pth", p.name)})
    folder = _single(folders, "classifier folders", root)
    if folder is None:
        raise InputError(f"no classifiers in {root}: expected {CLASSIFIER_NAME}, in the release's "
                         "checkpoint/datasetgan_pretrain/classifier/")
    encoders = [p for p in files if is_release_encoder(p) and not p.name.startswith("car_model_")]
    latents = sorted((p for p in files if is_release_latent(p)), key=_index)
    vectors = [p for p in files if is_release_vector(p)]
    return ReleaseFiles(generator, member_files(folder, classifier_iteration), _single(encoders, "encoders", root),
                        latents, vectors)


def lpips_available() -> bool:
    """Whether the VGG16 and LPIPS head weights are where `editgan.io.lpips_weights` looks."""
    return any(p.is_file() for p in vgg16_candidates()) and any(p.is_file() for p in heads_candidates())


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr, flush=True)


def import_release(root: str | Path, out: str | Path, *, overwrite: bool = False,
                   classifier_iteration: int | None = None, log=print, warn=_warn) -> Bundle:
    """Read the release below `root` into the bundle directory `out` (module docstring). An existing
    bundle at `out` is refused unless overwrite (replaced vectors are backed up, networks trained
    against another generator moved to `superseded/` by `write_bundle`). The bundle is built in a
    folder beside `out` and moved into place only when complete: a failed import leaves `out` as it
    was. log(str) reports what was found and each part written; warn(str) each optional part (encoder,
    test latents, vectors) not found, by its expected name."""
    out = Path(out)
    if (out / MANIFEST).is_file() and not overwrite:
        raise InputError(f"{out} is already a bundle; pass --overwrite to import into it (what it holds is kept "
                         "as a backup)")
    files = find_release_files(root, classifier_iteration)
    found, missing = files.report(Path(root))
    for line in found:
        log(f"found {line}")
    for line in missing:
        warn(line)
    generator, _ = load_foreign_generator(files.generator, crop=KNOWN_CROPS[CAR_STEM])
    with staged_directory(out, start_from_existing=out.exists()) as stage:
        _write_release_bundle(files, root, stage, out.name, generator, overwrite, classifier_iteration, log)
    return open_bundle(out)


def _write_release_bundle(files: ReleaseFiles, root, stage: Path, name: str, generator, overwrite: bool,
                          classifier_iteration: int | None, log) -> None:
    """`import_release`'s writing, into the staging folder `stage` (the bundle will be named `name`)."""
    perceptual = "lpips" if lpips_available() else "msssim_l1"
    source = {"release": str(Path(root).resolve()), "generator": files.generator.name}
    editing, embedding = "release", {"preset": "release"}
    if files.encoder is None:  # settings that need no encoder: the release's, without its consistency term
        editing = {"preset": "release", "consistency_weight": 0.0}
        embedding = {"preset": "release", "consistency_weight": 0.0}
    write_bundle(stage, DOMAIN, generator, labels=DATASETGAN_CAR,
                 provenance={"generator": {"source": "nv-tlabs/editGAN_release", "file": str(files.generator)}},
                 extra={"editing": editing, "embedding": embedding, "perceptual": perceptual, "source": source})
    cfg = generator.config
    log(f"generator: {files.generator.name} ({cfg.resolution} px, crop {cfg.crop}, {cfg.num_ws} x {cfg.w_dim} w+)")
    layout = SegmenterConfig.for_generator(cfg, DATASETGAN_CAR.num_classes)  # the release's: const + every S^k
    segmenter = load_datasetgan_classifiers(files.classifiers[0].parent, iteration=classifier_iteration,
                                            feature_shapes=layout.feature_shapes, out_resolution=layout.out_resolution,
                                            crop=layout.crop, include_const=True, label_rule="mean_logits")
    if segmenter.config.num_classes != DATASETGAN_CAR.num_classes:
        raise InputError(f"the classifiers in {files.classifiers[0].parent} predict {segmenter.config.num_classes} "
                         f"classes; the car release has {DATASETGAN_CAR.num_classes}")
    save_segmenter(segmenter, stage, DATASETGAN_CAR)
    log(f"segmenter: {len(files.classifiers)} classifiers ({files.classifiers[0].name}, ...), "
        f"{layout.in_features} features, {DATASETGAN_CAR.num_classes} classes; label maps as the release shows "
        "them (argmax of the mean logits)")
    if files.encoder is not None:
        install_editgan_encoder(files.encoder, stage)
        log(f"encoder: {files.encoder.name}")
    for path in files.latents:
        save_wplus(stage / "latents" / f"{path.stem}.safetensors", load_wplus(path, cfg.num_ws, cfg.w_dim))
    log(f"latents: {len(files.latents)} test embeddings in {stage.parent / name / 'latents'}")
    library = VectorLibrary(stage / "vectors", shape=(cfg.num_ws, cfg.w_dim))
    for path in files.vectors:
        vector = release_vector(path, DATASETGAN_CAR)
        vector.created["bundle"] = name
        library.add(vector, overwrite=overwrite)
        log(f"vector: {vector.name} (parts {', '.join(vector.parts)})")
    log(f"perceptual distance: {perceptual}" + ("" if perceptual == "lpips" else
        " (LPIPS needs VGG16 + LPIPS head weights; put them where `editgan.io.lpips_weights` says and "
        "set \"perceptual\": \"lpips\" in the manifest)"))
