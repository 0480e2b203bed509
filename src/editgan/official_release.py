"""The official EditGAN release (nv-tlabs/editGAN_release, car) as one bundle.

The release's files, as its README lays them out under `checkpoint/` (and `static/` of the repo):

    stylegan_pretrain/stylegan2_networks_stylegan2-car-config-f.pt     rosinality {"g_ema", ...}; or ..._with_d.pt
    datasetgan_pretrain/classifier/car_model_<m>.pth                   10 pixel classifiers (DatasetGAN layout)
    encoder_pretrain/BEST_loss<x>.pth                                 ResNet-50 FPN encoder {"model_state_dict"}
    encoder_pretrain/testing_embedding/latents_image_<i>.npy          w+ [16, 512] of the test images
    static/editing_vectors/<part>_<action>.npy                        editing vectors [1, 16, 512]

`find_release_files` looks for them anywhere below the folder given (the repository root or its
`checkpoint/` folder); `import_release` writes the bundle: generator (with the car's 512x384 crop),
segmenter (car-32 scheme with the release's class names), encoder, test latents under `latents/`,
vectors (delta = v / 2, see `editgan.edit.release_vector`), and the release's edit and embedding
settings ("editing": "release", "embedding": {"preset": "release"}).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from editgan.bundle import MANIFEST, Bundle, write_bundle
from editgan.edit.release_vector import release_vector
from editgan.edit.vectors import VectorLibrary
from editgan.errors import InputError
from editgan.io.datasetgan import load_datasetgan_classifiers, member_files
from editgan.io.editgan_encoder import install_editgan_encoder
from editgan.io.foreign import KNOWN_CROPS, known_crop, load_foreign_generator
from editgan.io.latents import load_wplus, save_wplus
from editgan.io.lpips_weights import heads_candidates, vgg16_candidates
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


def _index(path: Path) -> int:
    return int(re.search(r"(\d+)$", path.stem).group(1))


def _single(candidates: list[Path], what: str, root: Path) -> Path | None:
    if len(candidates) > 1:
        raise InputError(f"{root} holds several {what}: {', '.join(str(p.relative_to(root)) for p in candidates)}; "
                         "keep one")
    return candidates[0] if candidates else None


def find_release_files(root: str | Path, classifier_iteration: int | None = None) -> ReleaseFiles:
    """Locate the release's files below `root`; InputError naming what is missing or ambiguous."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"release folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    generators = [p for p in files if p.suffix == ".pt" and known_crop(p) == KNOWN_CROPS[CAR_STEM]]
    plain = [p for p in generators if not p.stem.endswith("_with_d")]
    generator = _single(plain or generators, "car generators", root)
    if generator is None:
        raise InputError(f"no car generator in {root}: expected checkpoint/stylegan_pretrain/"
                         f"stylegan2_networks_{CAR_STEM}.pt (or {CAR_STEM}.pt)")
    folders = sorted({p.parent for p in files if re.fullmatch(r"car_model_(iter\d+_number_)?\d+\.pth", p.name)})
    folder = _single(folders, "classifier folders", root)
    if folder is None:
        raise InputError(f"no classifiers in {root}: expected checkpoint/datasetgan_pretrain/classifier/"
                         "car_model_<m>.pth")
    encoders = [p for p in files if p.suffix == ".pth" and p.parent.name == "encoder_pretrain"]
    latents = sorted((p for p in files if re.fullmatch(r"latents_image_\d+\.npy", p.name)
                      and p.parent.name == "testing_embedding"), key=_index)
    vectors = [p for p in files if p.suffix == ".npy" and p.parent.name == "editing_vectors"]
    return ReleaseFiles(generator, member_files(folder, classifier_iteration), _single(encoders, "encoders", root),
                        latents, vectors)


def lpips_available() -> bool:
    """Whether the VGG16 and LPIPS head weights are where `editgan.io.lpips_weights` looks."""
    return any(p.is_file() for p in vgg16_candidates()) and any(p.is_file() for p in heads_candidates())


def import_release(root: str | Path, out: str | Path, *, overwrite: bool = False,
                   classifier_iteration: int | None = None, log=print) -> Bundle:
    """Read the release below `root` into the bundle directory `out` (module docstring). An existing
    bundle at `out` is refused unless overwrite (replaced vectors are backed up, networks trained
    against another generator moved to `superseded/` by `write_bundle`). log(str) reports each part."""
    out = Path(out)
    if (out / MANIFEST).is_file() and not overwrite:
        raise InputError(f"{out} is already a bundle; pass --overwrite to import into it (what it holds is kept "
                         "as a backup)")
    files = find_release_files(root, classifier_iteration)
    generator, _ = load_foreign_generator(files.generator, crop=KNOWN_CROPS[CAR_STEM])
    perceptual = "lpips" if lpips_available() else "msssim_l1"
    source = {"release": str(Path(root).resolve()), "generator": files.generator.name}
    bundle = write_bundle(out, DOMAIN, generator, labels=DATASETGAN_CAR,
                          provenance={"generator": {"source": "nv-tlabs/editGAN_release", "file": str(files.generator)}},
                          extra={"editing": "release", "embedding": {"preset": "release"}, "perceptual": perceptual,
                                 "source": source})
    cfg = generator.config
    log(f"generator: {files.generator.name} ({cfg.resolution} px, crop {cfg.crop}, {cfg.num_ws} x {cfg.w_dim} w+)")
    layout = SegmenterConfig.for_generator(cfg, DATASETGAN_CAR.num_classes)  # the release's: const + every S^k
    segmenter = load_datasetgan_classifiers(files.classifiers[0].parent, iteration=classifier_iteration,
                                            feature_shapes=layout.feature_shapes, out_resolution=layout.out_resolution,
                                            crop=layout.crop, include_const=True)
    if segmenter.config.num_classes != DATASETGAN_CAR.num_classes:
        raise InputError(f"the classifiers in {files.classifiers[0].parent} predict {segmenter.config.num_classes} "
                         f"classes; the car release has {DATASETGAN_CAR.num_classes}")
    save_segmenter(segmenter, out, DATASETGAN_CAR)
    log(f"segmenter: {len(files.classifiers)} classifiers ({files.classifiers[0].name}, ...), "
        f"{layout.in_features} features, {DATASETGAN_CAR.num_classes} classes")
    if files.encoder is not None:
        install_editgan_encoder(files.encoder, out)
        log(f"encoder: {files.encoder.name}")
    else:
        log("encoder: none found (embedding starts from the average latent; the release settings' encoder term "
            "is then off: set it per call with consistency_weight=0)")
    for path in files.latents:
        save_wplus(out / "latents" / f"{path.stem}.safetensors", load_wplus(path, cfg.num_ws, cfg.w_dim))
    log(f"latents: {len(files.latents)} test embeddings in {out / 'latents'}")
    library = VectorLibrary(out / "vectors", shape=(cfg.num_ws, cfg.w_dim))
    for path in files.vectors:
        vector = release_vector(path, DATASETGAN_CAR)
        vector.created["bundle"] = out.name
        library.add(vector, overwrite=overwrite)
        log(f"vector: {vector.name} (parts {', '.join(vector.parts)})")
    log(f"perceptual distance: {perceptual}" + ("" if perceptual == "lpips" else
        " (LPIPS needs VGG16 + LPIPS head weights; put them where `editgan.io.lpips_weights` says and "
        "set \"perceptual\": \"lpips\" in the manifest)"))
    return bundle
