"""Bundles: everything one domain needs, in one directory.

    manifest.json            format, version, domain, resolution, w_dim, num_ws, label scheme, perceptual
                             loss, provenance of every network (data, images seen, hardware, wall time,
                             metrics; paths relative to the bundle or bare names, `editgan.formats`)
    generator.json/.safetensors
    segmenter.json/.safetensors   (optional until trained)
    display_segmenter.json/.safetensors   (optional) one pixel MLP distilled from the segmenter's
                             ensemble (`editgan bundle distill-segmenter`): what label maps are
                             shown with; edits, refinement and uncertainty keep the ensemble
    encoder.json/.safetensors     (optional until trained)
    vectors/                      editing vectors learned in this generator's W+
    annotations/                  the user's annotated samples (editgan.annotate.store)
    superseded/<time>/            what was trained against an earlier generator (see write_bundle)

A packaged bundle is read-only: the user's additions go to `Bundle.user_dir` instead, where a
`segmenter.json/.safetensors` (trained from the user's annotations) and a `label_scheme.json`
(an edited scheme) take precedence over the package's.

A display segmenter counts only while it was distilled from the segmenter in use: its JSON records
the SHA-256 of the teacher's weights (`provenance.distilled_from.sha256`), and one that no longer
matches (the ensemble was retrained since) is ignored, so label maps fall back to the ensemble.

Bundles shipped inside the package are found by name (`open_bundle("toonfaces")`), any other by path.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import torch

from editgan.errors import CheckpointError, InputError, MissingWeightsError
from editgan.files import file_sha256, load_tensors, read_json, user_data_dir, write_json
from editgan.formats import CURRENT, portable_provenance, upgrade
from editgan.io.encoder_files import load_encoder
from editgan.io.perceptual import get_perceptual
from editgan.io.segmenter_files import load_segmenter
from editgan.labels import LabelScheme
from editgan.nn.stylegan2 import Generator

MANIFEST = "manifest.json"
FORMAT = "editgan-bundle"
USER_SCHEME = "label_scheme.json"  # a packaged bundle's edited scheme, in its user_dir
SEGMENTER = "segmenter"  # the DatasetGAN ensemble: <dir>/segmenter.json + .safetensors
DISPLAY_SEGMENTER = "display_segmenter"  # its distilled single pixel MLP (optional)


DEFAULT_PERCEPTUAL = "msssim_l1"  # weight-free; LPIPS needs VGG weights a bundle may not have
# what is trained in (or against) one generator's W+ and means nothing for another
GENERATOR_DEPENDENTS = ("encoder.json", "encoder.safetensors", "segmenter.json", "segmenter.safetensors",
                        "display_segmenter.json", "display_segmenter.safetensors", "vectors")


def packaged_bundles_dir() -> Path:
    """Directory of the bundles that ship with the package."""
    return Path(str(resources.files("editgan") / "assets" / "bundles"))


def resolve_bundle_path(name_or_path: str | Path) -> Path:
    """A packaged bundle name ('toonfaces') or a directory path -> the bundle directory."""
    path = Path(name_or_path)
    if (path / MANIFEST).is_file():
        return path
    packaged = packaged_bundles_dir() / str(name_or_path)
    if "/" not in str(name_or_path) and (packaged / MANIFEST).is_file():
        return packaged
    known = sorted(p.parent.name for p in packaged_bundles_dir().glob(f"*/{MANIFEST}"))
    raise InputError(f"no bundle at {name_or_path!r} (a directory with {MANIFEST}); packaged bundles: "
                     f"{', '.join(known) or 'none'}")


@dataclass
class Bundle:
    """A loaded bundle's manifest plus lazy access to its networks."""

    path: Path
    manifest: dict

    @property
    def domain(self) -> str:
        return self.manifest["domain"]

    @property
    def labels(self) -> LabelScheme | None:
        """The label scheme: a packaged bundle's user-edited one (user_dir/label_scheme.json), else
        the manifest's, else None."""
        override = self.user_dir / USER_SCHEME
        if self.packaged and override.is_file():
            return LabelScheme.from_json(read_json(override))
        scheme = self.manifest.get("label_scheme")
        return LabelScheme.from_json(scheme) if scheme else None

    def generator(self, device: str | torch.device = "cpu") -> Generator:
        return Generator.from_pretrained(self.path, device=device)

    def has(self, network: str) -> bool:
        """Whether the bundle ships `<network>.json` + `.safetensors` (generator, segmenter, encoder...)."""
        return (self.path / f"{network}.json").is_file() and (self.path / f"{network}.safetensors").is_file()

    @property
    def segmenter_dir(self) -> Path | None:
        """Where the segmenter in use lives: user_dir when it holds one (a packaged bundle's
        user-trained segmenter), else the bundle when it ships one, else None."""
        for directory in (self.user_dir, self.path):
            if (directory / f"{SEGMENTER}.json").is_file() and (directory / f"{SEGMENTER}.safetensors").is_file():
                return directory
        return None

    def segmenter(self, device: str | torch.device = "cpu"):
        """(Segmenter in eval mode, its LabelScheme or None) from `segmenter_dir`; MissingWeightsError
        if not trained yet."""
        directory = self.segmenter_dir
        if directory is None:
            raise MissingWeightsError(f"bundle {self.path} has no segmenter yet; train one with "
                                      f"`editgan train segmenter --bundle {self.path} ...` or from annotations")
        return load_segmenter(directory, device=device)

    @property
    def display_segmenter_dir(self) -> Path | None:
        """Where the display segmenter lives: the first of user_dir and the bundle holding a
        `display_segmenter.json/.safetensors` distilled from the segmenter in use (its recorded
        teacher SHA-256 equals that of `segmenter_dir/segmenter.safetensors`), else None."""
        teacher = self.segmenter_dir
        if teacher is None:
            return None
        digest = None
        for directory in dict.fromkeys((self.user_dir, self.path)):
            meta = directory / f"{DISPLAY_SEGMENTER}.json"
            if not (meta.is_file() and (directory / f"{DISPLAY_SEGMENTER}.safetensors").is_file()):
                continue
            provenance = read_json(meta).get("provenance")
            source = provenance.get("distilled_from") if isinstance(provenance, dict) else None
            recorded = source.get("sha256") if isinstance(source, dict) else None
            digest = digest or file_sha256(teacher / f"{SEGMENTER}.safetensors")
            if recorded == digest:
                return directory
        return None

    def display_segmenter(self, device: str | torch.device = "cpu"):
        """(the distilled display segmenter in eval mode, its LabelScheme or None) from
        `display_segmenter_dir`, or None when the bundle has no current one (then show the ensemble's labels)."""
        directory = self.display_segmenter_dir
        return None if directory is None else load_segmenter(directory, device=device, name=DISPLAY_SEGMENTER)

    def encoder(self, device: str | torch.device = "cpu"):
        """The image encoder of the architecture its encoder.json names (eval mode, frozen);
        MissingWeightsError if not trained yet."""
        if not self.has("encoder"):
            raise MissingWeightsError(f"bundle {self.path} has no encoder yet; train one with "
                                      f"`editgan train encoder --bundle {self.path} ...`")
        return load_encoder(self.path, device=device)

    def perceptual(self, choice: str | None = None) -> str:
        """Name of the perceptual distance for embedding and editing: `choice` when given, else the
        manifest's `perceptual`, else DEFAULT_PERCEPTUAL (needs no weights). InputError if unknown."""
        name = choice or str(self.manifest.get("perceptual", DEFAULT_PERCEPTUAL))
        get_perceptual(name)
        return name

    @property
    def embedding(self) -> str | dict | None:
        """How images are embedded into this bundle's W+: the manifest's `embedding`, a preset name or
        {"preset": ..., field: value} (resolved by `editgan.inversion.settings.embed_settings`), or
        None for the paper's settings."""
        return self.manifest.get("embedding")

    @property
    def editing(self) -> str | dict | None:
        """How edits are optimised for this bundle: the manifest's `editing`, a preset name or
        {"preset": ..., field: value} (resolved by `editgan.edit.settings.edit_settings`), or None
        for the paper's settings."""
        return self.manifest.get("editing")

    @property
    def packaged(self) -> bool:
        """Whether this bundle ships inside the package (read-only: user data goes to `user_dir`)."""
        return self.path.resolve().parent == packaged_bundles_dir().resolve()

    @property
    def user_dir(self) -> Path:
        """Where the user's additions to this bundle live (their vectors, annotations): the bundle
        itself, or for a packaged bundle `user_data_dir()/bundles/<name>`."""
        return user_data_dir() / "bundles" / self.path.name if self.packaged else self.path

    def provenance(self, network: str) -> dict:
        return self.manifest.get("provenance", {}).get(network, {})


def open_bundle(name_or_path: str | Path) -> Bundle:
    """Read a bundle's manifest (an older format version migrated); CheckpointError if it is not one
    of ours or is newer than this release reads."""
    path = resolve_bundle_path(name_or_path)
    manifest = read_manifest(path)
    for key in ("domain", "resolution", "w_dim", "num_ws"):
        if key not in manifest:
            raise CheckpointError(f"{path / MANIFEST} lacks {key!r}")
    return Bundle(path, manifest)


def read_manifest(path: Path) -> dict:
    """The manifest of the bundle directory `path`, at the current format version; CheckpointError
    if it is not an editgan bundle manifest or is too new."""
    manifest = read_json(path / MANIFEST)
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path / MANIFEST} is not an editgan bundle manifest")
    return upgrade(manifest, FORMAT, path / MANIFEST)


def write_manifest(path: Path, manifest: dict) -> None:
    """Write the manifest of the bundle directory `path` at the current format version, its paths
    relative to the bundle or bare names (`portable_provenance`)."""
    write_json(path / MANIFEST, portable_provenance({**manifest, "format": FORMAT, "version": CURRENT[FORMAT]}, path))


def write_bundle(path: str | Path, domain: str, generator: Generator, *, labels: LabelScheme | None = None,
                 provenance: dict | None = None, extra: dict | None = None) -> Bundle:
    """Create (or update) a bundle directory with a generator; the manifest is written last.

    Replacing a different generator moves what was trained against the old one (encoder, segmenter,
    vectors; GENERATOR_DEPENDENTS) into `superseded/<UTC time>/` with the old manifest, listed in the
    new manifest's `superseded`: nothing is deleted, and nothing stale stays in use.
    """
    path = Path(path)
    old = read_manifest(path) if (path / MANIFEST).is_file() else {}
    retired = None
    if (path / "generator.safetensors").is_file() and not same_weights(
            load_tensors(path / "generator.safetensors"), generator.state_dict()):
        retired = retire_dependents(path)
    generator.save_pretrained(path)
    cfg = generator.config
    kept_provenance = {k: v for k, v in old.get("provenance", {}).items()
                       if retired is None or k not in ("encoder", "segmenter")}
    manifest = {**old, **(extra or {}), "domain": domain,
                "resolution": cfg.resolution, "w_dim": cfg.w_dim, "num_ws": cfg.num_ws,
                "label_scheme": labels.to_json() if labels else old.get("label_scheme"),
                "provenance": {**kept_provenance, **(provenance or {})}}
    if retired is not None:
        manifest["superseded"] = [*old.get("superseded", []), retired.relative_to(path).as_posix()]
    write_manifest(path, manifest)
    return Bundle(path, read_manifest(path))


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Whether two state dicts hold the same names, shapes and values."""
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def retire_dependents(path: Path) -> Path | None:
    """Move GENERATOR_DEPENDENTS (and a copy of the manifest) into `path/superseded/<UTC time>/`;
    returns that directory, or None when there was nothing to move."""
    present = [path / name for name in GENERATOR_DEPENDENTS if (path / name).exists()]
    if not present:
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path / "superseded" / stamp
    target.mkdir(parents=True)
    if (path / MANIFEST).is_file():
        shutil.copy2(path / MANIFEST, target / MANIFEST)
    for item in present:
        item.rename(target / item.name)
    return target
