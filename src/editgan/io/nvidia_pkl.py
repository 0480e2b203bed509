"""Reader for NVIDIA StyleGAN2 pickles (`stylegan2-ada-pytorch` and `stylegan3` with `--cfg=stylegan2`).

A network pickle is a dict {"G", "D", "G_ema", "training_set_kwargs", "augment_pipe", ...} whose
networks are `torch_utils.persistence` records (see `safe_pickle`); nothing in it is executed.
The generator record (stylegan2-ada-pytorch `training/networks.py`, stylegan3
`training/networks_stylegan2.py`) has init kwargs z_dim, c_dim, w_dim, img_resolution,
img_channels, mapping_kwargs, synthesis_kwargs (stylegan3: synthesis kwargs at top level), and
tensors named exactly like ours:

    mapping.fc{i}.weight [out, in], .bias [out]; mapping.w_avg [w_dim]
    synthesis.b4.const [C_4, 4, 4]; synthesis.b{r}.conv0 (r >= 8), .conv1:
        affine.weight [C_in, w_dim], affine.bias [C_in], weight [C_out, C_in, 3, 3], bias [C_out],
        noise_strength [], noise_const [r, r], resample_filter [4, 4] (dropped)
    synthesis.b{r}.torgb: affine.*, weight [img_channels, C_r, 1, 1], bias [img_channels]
    synthesis.b{r}.resample_filter [4, 4] (dropped)

with C_r = min(channel_base // r, channel_max).

Everything is read under a `budget.ReadBudget` (4x the file's size plus the declared generator's
fp32 size, at most a config-f 1024 generator): the tensors about to be copied are checked and
charged before any copy, init kwargs are converted with a node count and depth bound, and any
malformed record ends in one CheckpointError line.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from editgan.errors import CheckpointError
from editgan.io.budget import (
    NETWORK_ALLOWANCE,
    NodeCounter,
    ReadBudget,
    check_tensors,
    one_line_errors,
)
from editgan.io.safe_pickle import EasyDict, PersistentRecord, safe_load
from editgan.nn.config import GeneratorConfig
from editgan.nn.discriminator import DiscriminatorConfig

_TOP_LEVEL_GENERATOR_KWARGS = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels",
                               "mapping_kwargs", "synthesis_kwargs"}
_STYLEGAN3_MARK = "fused_modconv_default"  # in stylegan3's networks_stylegan2.py source only
_OUR_KEY = re.compile(r"mapping\.(fc\d+\.(weight|bias)|w_avg)"
                      r"|synthesis\.b\d+\.(const|(conv0|conv1)\.(affine\.weight|affine\.bias|weight|bias|"
                      r"noise_strength|noise_const)|torgb\.(affine\.weight|affine\.bias|weight|bias))")


def declared_generator_bytes(kwargs: dict) -> int:
    """fp32 bytes of the generator that init kwargs declare (mapping + convs + toRGBs, roughly), capped at
    `NETWORK_ALLOWANCE`; 0 when the kwargs do not declare one."""
    try:
        syn = {**dict(kwargs.get("synthesis_kwargs") or {}), **kwargs}
        w, z = int(kwargs["w_dim"]), int(kwargs["z_dim"])
        res, base, cmax = int(kwargs["img_resolution"]), int(syn.get("channel_base", 32768)), \
            int(syn.get("channel_max", 512))
        layers = int(dict(kwargs.get("mapping_kwargs") or {}).get("num_layers", 8))
        if min(w, z, res, base, cmax, layers) < 1 or max(w, z, layers) > 1 << 16 or res > 1 << 15:
            return 0
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        return 0
    params, cin, r = (z + w * (layers - 1)) * (w + 1), min(base // 4, cmax), 4
    while r <= res and params * 4 < NETWORK_ALLOWANCE:
        cout = min(base // r, cmax)
        params += 2 * (cin * cout * 9 + cin * w) + cout * (3 + w)
        cin, r = cout, r * 2
    return min(params * 4, NETWORK_ALLOWANCE)


def load_network_pickle(path: str | Path) -> dict:
    """Safely unpickle an NVIDIA network pickle; returns its top-level dict of records."""
    data = safe_load(path)
    if isinstance(data, PersistentRecord):
        return {"G_ema": data}
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, not an NVIDIA network pickle dict")
    return data


@one_line_errors
def read_nvidia_pkl(path: str | Path, *, network: str = "G_ema",
                    crop: tuple[int, int, int, int] | None = None):
    """Read the StyleGAN2 generator `network` ("G_ema" or "G") -> (GeneratorConfig, state dict, extras).

    Refuses class-conditional generators (c_dim > 0), StyleGAN3 synthesis networks and non-"skip"
    architectures with a CheckpointError. extras: {"format", "network", "w_avg_present",
    "init_kwargs", "other_keys"}.
    """
    data = load_network_pickle(path)
    if network not in data:
        raise CheckpointError(f"{path} has no '{network}' network (keys: {_names(data)}); "
                              "is it an NVIDIA StyleGAN2 network pickle?")
    record = data[network]
    config, sd, extras = generator_from_record(record, crop=crop, where=f"{path}:{network}",
                                               file_bytes=Path(path).stat().st_size)
    extras.update(format="nvidia", network=network, other_keys=sorted(_key(k) for k in data if k != network))
    return config, sd, extras


def generator_from_record(record: object, *, crop=None, where: str = "generator", file_bytes: int = 0):
    """PersistentRecord of an NVIDIA StyleGAN2 `Generator` -> (config, our state dict, extras).

    file_bytes: size of the file the record came from; with the declared generator's size it
    bounds what may be allocated (`budget.ReadBudget`; 0: a record not read from a file, bounded by
    `NETWORK_ALLOWANCE`).
    """
    if not isinstance(record, PersistentRecord):
        raise CheckpointError(f"{where} is a {type(record).__name__}, not a pickled NVIDIA network")
    if record.class_name != "Generator":
        raise CheckpointError(f"{where} is a '{record.class_name[:80]}', not a StyleGAN2 Generator")
    kwargs = _plain(record.init_kwargs, NodeCounter(where))
    budget = ReadBudget(file_bytes, where, declared_generator_bytes(kwargs) if file_bytes else NETWORK_ALLOWANCE)
    c_dim = _int(kwargs.get("c_dim", record.state.get("c_dim", 0)) or 0, "c_dim", where)
    if c_dim > 0:
        raise CheckpointError(f"{where} is class-conditional (c_dim={c_dim}); only unconditional "
                              "generators are supported")
    children = record.children
    mapping, synthesis = children.get("mapping"), children.get("synthesis")
    if not isinstance(mapping, PersistentRecord) or not isinstance(synthesis, PersistentRecord):
        raise CheckpointError(f"{where} has no mapping/synthesis sub-networks; not a StyleGAN2 generator")
    blocks = synthesis.children
    if not blocks:
        raise CheckpointError(f"{where} has no synthesis blocks; not a StyleGAN2 generator")
    if "input" in blocks or any(not re.fullmatch(r"b\d+", name) for name in blocks) \
            or "class SynthesisInput" in synthesis.module_src:
        raise CheckpointError(f"{where} is a StyleGAN3 (alias-free) generator; only StyleGAN2 "
                              "networks (stylegan2-ada-pytorch, or stylegan3 --cfg=stylegan2) are supported")
    syn_kwargs = dict(kwargs.get("synthesis_kwargs") or {})
    syn_kwargs.update({k: v for k, v in kwargs.items() if k not in _TOP_LEVEL_GENERATOR_KWARGS})
    map_kwargs = dict(kwargs.get("mapping_kwargs") or {})
    _require(syn_kwargs.get("architecture", "skip") == "skip", where,
             f"architecture '{syn_kwargs.get('architecture')}' (only 'skip', the StyleGAN2 default, is supported)")
    for name, kw in (("synthesis", syn_kwargs), ("mapping", map_kwargs)):
        _require(kw.get("activation", "lrelu") == "lrelu", where, f"{name} activation '{kw.get('activation')}'")
    _require(list(syn_kwargs.get("resample_filter", [1, 3, 3, 1])) == [1, 3, 3, 1], where,
             f"resample_filter {syn_kwargs.get('resample_filter')}")

    flat = {k: v for k, v in record.tensors(counter=NodeCounter(where)).items() if not k.endswith("resample_filter")}
    unknown = sorted(k for k in flat if not _OUR_KEY.fullmatch(k))
    if unknown:
        raise CheckpointError(f"{where} has tensors this reader does not know: {unknown[:6]} "
                              "(label embedding, resnet skip, or a modified network?)")
    sd = _materialise(flat, budget)

    resolutions = sorted(int(name[1:]) for name in blocks)
    resolution = resolutions[-1]
    _require("synthesis.b4.const" in sd, where, "no synthesis.b4.const")
    channels = {4: int(sd["synthesis.b4.const"].shape[0])}
    for res in resolutions[1:]:
        key = f"synthesis.b{res}.conv1.weight"
        _require(key in sd, where, f"missing {key}")
        channels[res] = int(sd[key].shape[0])
    if "channel_base" in syn_kwargs or "channel_max" in syn_kwargs:
        base, cmax = int(syn_kwargs.get("channel_base", 32768)), int(syn_kwargs.get("channel_max", 512))
        expected = {r: min(base // r, cmax) for r in resolutions}
        _require(expected == channels, where,
                 f"widths {channels} disagree with channel_base={base}, channel_max={cmax}")
    if "img_resolution" in kwargs:
        _require(int(kwargs["img_resolution"]) == resolution, where,
                 f"img_resolution {kwargs['img_resolution']} but blocks up to {resolution}")

    fcs = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"mapping\.fc(\d+)\.weight", k)))
    _require(fcs == list(range(len(fcs))) and fcs, where, "mapping layers are not fc0..fcN")
    z_dim, w_dim = int(sd["mapping.fc0.weight"].shape[1]), int(sd[f"mapping.fc{fcs[-1]}.weight"].shape[0])
    for i in fcs:
        _require(sd[f"mapping.fc{i}.weight"].shape[0] == w_dim, where,
                 "mapping hidden width differs from w_dim (layer_features) — unsupported")

    w_avg_present = "mapping.w_avg" in sd
    if not w_avg_present:
        sd["mapping.w_avg"] = torch.zeros(w_dim)
    for res in resolutions:  # use_noise=False networks carry no noise: equivalent to zero noise
        for conv in ("conv0", "conv1") if res > 4 else ("conv1",):
            prefix = f"synthesis.b{res}.{conv}"
            if f"{prefix}.noise_const" not in sd:
                sd[f"{prefix}.noise_const"] = torch.zeros(res, res)
                sd[f"{prefix}.noise_strength"] = torch.zeros([])
    layers = [layer for block in blocks.values() if isinstance(block, PersistentRecord)
              for name, layer in block.children.items() if name in ("conv0", "conv1", "torgb")]
    conv_clamp = _stored_conv_clamp(layers, syn_kwargs, record, where)
    try:
        config = GeneratorConfig(resolution=resolution, z_dim=z_dim, w_dim=w_dim, num_mapping_layers=len(fcs),
                                 mapping_lr_mul=float(map_kwargs.get("lr_multiplier", 0.01)),
                                 channels=channels, img_channels=int(sd["synthesis.b4.torgb.weight"].shape[0]),
                                 conv_clamp=conv_clamp, crop=crop)
    except Exception as err:
        raise CheckpointError(f"{where} gives an unsupported generator config: {err}") from None
    extras = {"w_avg_present": w_avg_present, "init_kwargs": kwargs}
    return config, sd, extras


def _stored_conv_clamp(layers: list, kwargs: dict, network: PersistentRecord, where: str) -> float | None:
    """The clamp NVIDIA's layers apply: each layer record's `conv_clamp` attribute (else init kwarg).

    All layers must agree. Only when no layer stores it: the network's kwargs, else the class
    default -- 256 in stylegan3's networks_stylegan2.py (its SynthesisBlock and Discriminator),
    None in stylegan2-ada-pytorch's networks.py.
    """
    found = {}
    for layer in layers:
        sources = (layer.state, layer.init_kwargs) if isinstance(layer, PersistentRecord) else ()
        stored = [src["conv_clamp"] for src in sources if "conv_clamp" in src]
        if stored:
            if not (stored[0] is None or isinstance(stored[0], (int, float))):
                raise CheckpointError(f"{where}: conv_clamp of a layer is a {type(stored[0]).__name__}, "
                                      "not a number")
            found[repr(stored[0])] = stored[0]
    if len(found) > 1:
        raise CheckpointError(f"{where}: layers disagree on conv_clamp ({sorted(found)}); unsupported network")
    if found:
        value = next(iter(found.values()))
    else:
        value = kwargs.get("conv_clamp", 256 if _STYLEGAN3_MARK in network.module_src else None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise CheckpointError(f"{where}: conv_clamp {value!r} is not a positive number")
    return float(value)


def _materialise(flat: dict, budget: ReadBudget) -> dict:
    """Contiguous fp32 copies of the tensors, once all of them are checked and charged to `budget`."""
    check_tensors(flat.items(), budget)
    return {k: v.detach().float().contiguous().clone() for k, v in flat.items()}


def _int(value, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CheckpointError(f"{where}: {name} {str(value)[:40]!r} is not an integer")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise CheckpointError(f"{where}: {name} {str(value)[:40]!r} is not an integer") from None


def _require(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise CheckpointError(f"{where}: unsupported StyleGAN2 generator: {what}")


def _plain(value, counter: NodeCounter, depth: int = 0):
    """EasyDicts and OrderedDicts -> dicts, tuples and sets -> lists (recursively), for JSON-able kwargs.

    Every node visited counts (`counter`): shared references repeated ("billion laughs"), deep
    nesting and self-references are refused in one line instead of exhausting memory or the stack.
    """
    counter.visit(depth)
    if isinstance(value, (dict, EasyDict)):
        return {_key(k): _plain(v, counter, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, counter, depth + 1) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return f"<{type(value).__name__}>"


def _names(data: dict) -> list[str]:
    """Top-level keys for a message: at most 20, each shown without recursing into it."""
    return sorted(_key(k) for k in list(data)[:20])


def _key(key) -> str:
    return key if isinstance(key, str) else repr(key) if isinstance(key, (int, float, bool)) or key is None \
        else f"<{type(key).__name__}>"


_D_KEY = re.compile(r"b\d+\.(fromrgb\.(weight|bias)|conv0\.(weight|bias)|conv1\.(weight|bias)|skip\.weight)"
                    r"|b4\.(conv|fc|out)\.(weight|bias)")


@one_line_errors
def read_nvidia_discriminator(path: str | Path, *, network: str = "D"):
    """Read the StyleGAN2 discriminator ("resnet" architecture) -> (DiscriminatorConfig, state dict, extras).

    Names are NVIDIA's and ours alike: b{r}.fromrgb (r = R only), b{r}.conv0, .conv1, .skip (no
    bias) for r = R..8, and the epilogue b4.conv/fc/out; resample_filter buffers are dropped.
    """
    data = load_network_pickle(path)
    record = data.get(network)
    where = f"{path}:{network}"
    if not isinstance(record, PersistentRecord) or record.class_name != "Discriminator":
        raise CheckpointError(f"{where} is not a pickled NVIDIA Discriminator (keys: {_names(data)})")
    kwargs = _plain(record.init_kwargs, NodeCounter(where))
    budget = ReadBudget(Path(path).stat().st_size, where, NETWORK_ALLOWANCE)
    c_dim = _int(kwargs.get("c_dim", 0) or 0, "c_dim", where)
    _require(c_dim == 0, where, f"class-conditional discriminator (c_dim={c_dim})")
    _require(kwargs.get("architecture", "resnet") == "resnet", where,
             f"architecture '{kwargs.get('architecture')}' (only 'resnet', the StyleGAN2 default)")
    flat = {k: v for k, v in record.tensors(counter=NodeCounter(where)).items() if not k.endswith("resample_filter")}
    unknown = sorted(k for k in flat if not _D_KEY.fullmatch(k))
    _require(not unknown, where, f"unknown tensors {unknown[:6]}")
    _require("b4.conv.weight" in flat, where, "no epilogue b4.conv")
    check_tensors(flat.items(), budget)
    resolutions = sorted({int(m.group(1)) for k in flat if (m := re.match(r"b(\d+)\.conv0\.", k))})
    channels = {4: int(flat["b4.conv.weight"].shape[0])}
    channels.update({r: int(flat[f"b{r}.conv0.weight"].shape[0]) for r in resolutions})
    epilogue = dict(kwargs.get("epilogue_kwargs") or {})
    mbstd_channels = int(epilogue.get("mbstd_num_channels", 1))
    _require(flat["b4.conv.weight"].shape[1] == channels[4] + mbstd_channels, where,
             "epilogue conv input width does not match mbstd_num_channels")
    blocks = record.children
    layers = [layer for name, block in blocks.items() if isinstance(block, PersistentRecord)
              for part, layer in block.children.items()
              if part in (("conv",) if name == "b4" else ("fromrgb", "conv0", "conv1"))]  # skip: never clamped
    conv_clamp = _stored_conv_clamp(layers, kwargs, record, where)
    try:
        config = DiscriminatorConfig(resolution=max(resolutions), channels=channels,
                                     img_channels=int(flat[f"b{max(resolutions)}.fromrgb.weight"].shape[1]),
                                     conv_clamp=conv_clamp,
                                     mbstd_group_size=int(epilogue.get("mbstd_group_size", 4) or 4),
                                     mbstd_num_channels=mbstd_channels)
    except Exception as err:
        raise CheckpointError(f"{where} gives an unsupported discriminator config: {err}") from None
    sd = {k: v.detach().float().contiguous().clone() for k, v in flat.items()}  # charged above
    return config, sd, {"format": "nvidia", "network": network, "init_kwargs": kwargs}
