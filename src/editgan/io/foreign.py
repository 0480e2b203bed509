"""Foreign StyleGAN2 checkpoints (rosinality `.pt`, NVIDIA `.pkl`): format detection and loading.

`read_foreign_generator` returns (GeneratorConfig, our state dict, extras) without building a
network; `load_foreign_generator` builds our `Generator` from it.
"""

from __future__ import annotations

import re
from pathlib import Path

from editgan.errors import CheckpointError
from editgan.io.native import build_generator
from editgan.io.nvidia_pkl import read_nvidia_pkl
from editgan.io.rosinality import read_rosinality
from editgan.io.torch_files import is_torch_save_header

FORMATS = ("auto", "rosinality", "nvidia")
# Protocol 2+ pickles start with PROTO (0x80); protocol 0-1 network pickles with their top-level dict
# (MARK "(" then DICT, or EMPTY_DICT "}") or a persistent record (GLOBAL "c").
_PROTOCOL_0_1_STARTS = (b"(", b"}", b"c")

# Published checkpoints whose image content is a crop of the square canvas (file stem -> crop).
KNOWN_CROPS = {
    "stylegan2-car-config-f": (64, 0, 384, 512),  # LSUN car: 512x384 content inside 512x512
}
# The EditGAN release renames them: stylegan2_networks_<stem>.pt and stylegan2_networks_<stem>_with_d.pt.
_RELEASE_NAME = re.compile(r"(?:stylegan2_networks_)?(?P<stem>.+?)(?:_with_d)?")


def known_crop(path: str | Path) -> tuple[int, int, int, int] | None:
    """The crop of a published checkpoint recognised by its file name (original or EditGAN-release name)."""
    match = _RELEASE_NAME.fullmatch(Path(path).stem)
    return KNOWN_CROPS.get(match.group("stem")) if match else None


def detect_format(path: str | Path) -> str:
    """'rosinality' for torch.save files (zip or legacy), 'nvidia' for plain pickles."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise CheckpointError(f"{path} is empty")
    if is_torch_save_header(head):
        return "rosinality"
    if head[:1] == b"\x80" or head[:1] in _PROTOCOL_0_1_STARTS:
        return "nvidia"
    raise CheckpointError(f"{path} is neither a torch checkpoint nor a pickle (first bytes {head[:4]!r}); "
                          "expected a rosinality .pt or an NVIDIA .pkl")


def read_foreign_generator(path: str | Path, format: str = "auto", *, crop=None, network: str | None = None):
    """Read a foreign checkpoint -> (config, state dict, extras). `crop` None: `known_crop` of the file name.

    network: "g_ema"/"g" (rosinality) or "G_ema"/"G" (NVIDIA); default the EMA generator.
    """
    if format not in FORMATS:
        raise CheckpointError(f"unknown checkpoint format {format!r}; choose one of {FORMATS}")
    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format
    if crop is None:
        crop = known_crop(path)
    if fmt == "rosinality":
        config, sd, extras = read_rosinality(path, key=network or "g_ema", crop=crop)
    else:
        config, sd, extras = read_nvidia_pkl(path, network=network or "G_ema", crop=crop)
    extras["crop"] = crop
    return config, sd, extras


def load_foreign_generator(path: str | Path, format: str = "auto", *, crop=None, network: str | None = None,
                           device="cpu", estimate_w_avg: bool = True):
    """Build our Generator from a foreign checkpoint -> (Generator, extras).

    Files without a stored w average get it estimated from 10k mapped samples (extras["w_avg_estimated"]).
    """
    config, sd, extras = read_foreign_generator(path, format, crop=crop, network=network)
    generator = build_generator(config, sd, device)
    extras["w_avg_estimated"] = False
    if estimate_w_avg and not extras.get("w_avg_present", True):
        generator.estimate_w_avg()
        extras["w_avg_estimated"] = True
    return generator, extras
