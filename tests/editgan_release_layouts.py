"""Files in the exact layout of the official EditGAN release (nv-tlabs/editGAN_release), random values.

The encoder follows `models/encoder/encoder.py` (FPNEncoder(3, n_latent) with Bottleneck, FPN,
ToStyleCode) in its `state_dict()` order, saved as `train_encoder.py` does:
torch.save({"model_state_dict": state}). Written from the published layout, not from our module.
"""

from __future__ import annotations

import collections
import math

import torch

BN_FIELDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def editgan_encoder_shapes(base_width: int = 64, num_ws: int = 16, w_dim: int = 512, resolution: int = 512,
                           fpn_channels: int | None = None, depths=(3, 4, 6, 3)) -> "collections.OrderedDict":
    """Official key -> shape. The release: base 64, 16 codes of 512, 512 px -> 568 keys, 277.5M values.
    fpn_channels: the FPN's feature_dim (512 in the release; default w_dim)."""
    f = w_dim if fpn_channels is None else fpn_channels
    shapes: collections.OrderedDict[str, tuple[int, ...]] = collections.OrderedDict()

    def conv(name, cout, cin, k, bias):
        shapes[f"{name}.weight"] = (cout, cin, k, k)
        if bias:
            shapes[f"{name}.bias"] = (cout,)

    def bn(name, c):
        for field in BN_FIELDS:
            shapes[f"{name}.{field}"] = () if field == "num_batches_tracked" else (c,)

    conv("FPN_module.conv1", base_width, 3, 7, False)
    bn("FPN_module.bn1", base_width)
    in_planes = base_width
    for k, depth in enumerate(depths):
        planes = base_width * 2 ** k
        for b in range(depth):
            stride = 2 if b == 0 and k > 0 else 1
            p = f"FPN_module.layer{k + 1}.{b}"
            conv(f"{p}.conv1", planes, in_planes, 1, False)
            bn(f"{p}.bn1", planes)
            conv(f"{p}.conv2", planes, planes, 3, False)
            bn(f"{p}.bn2", planes)
            conv(f"{p}.conv3", 4 * planes, planes, 1, False)
            bn(f"{p}.bn3", 4 * planes)
            if stride != 1 or in_planes != 4 * planes:
                conv(f"{p}.shortcut.0", 4 * planes, in_planes, 1, False)
                bn(f"{p}.shortcut.1", 4 * planes)
            in_planes = 4 * planes
    c2 = 4 * base_width
    conv("FPN_module.toplayer", f, 8 * c2, 1, True)
    for i in (1, 2, 3):
        conv(f"FPN_module.smooth{i}", f, f, 3, True)
    for i, c in zip((1, 2, 3), (4 * c2, 2 * c2, c2)):
        conv(f"FPN_module.latlayer{i}", f, c, 1, True)
    log_r = int(math.log2(resolution))
    for group, count, n_convs in (("course_styles", 3, log_r - 4), ("medium_styles", 4, log_r - 3),
                                  ("fine_styles", num_ws - 7, log_r - 2)):
        for i in range(count):
            for j in range(n_convs):
                conv(f"{group}.{i}.convs.{2 * j}", w_dim, f if j == 0 else w_dim, 3, True)
            shapes[f"{group}.{i}.linear.weight"] = (w_dim, w_dim)
            shapes[f"{group}.{i}.linear.bias"] = (w_dim,)
    return shapes


def editgan_encoder_state(base_width: int, num_ws: int, w_dim: int, seed: int = 0, resolution: int = 512,
                          fpn_channels: int | None = None) -> "collections.OrderedDict[str, torch.Tensor]":
    """A random state dict with the official names and shapes: convs ~ N(0, 1/fan_in) (activations
    stay O(1) through the depth), BN affine/statistics varied, positive running variances."""
    g = torch.Generator().manual_seed(seed)
    state = collections.OrderedDict()
    for name, shape in editgan_encoder_shapes(base_width, num_ws, w_dim, resolution, fpn_channels).items():
        field = name.rsplit(".", 1)[1]
        if field == "num_batches_tracked":
            state[name] = torch.tensor(1000 + seed)
        elif field == "running_var":
            state[name] = torch.rand(shape, generator=g) + 0.5
        elif field == "weight" and len(shape) == 1:  # BatchNorm scale
            state[name] = torch.rand(shape, generator=g) * 0.5 + 0.75
        elif field == "weight":
            state[name] = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        else:  # biases, running means
            state[name] = torch.randn(shape, generator=g) * 0.1
    return state


def write_editgan_encoder(path, state: dict, prefix: str = "") -> None:
    """torch.save({"model_state_dict": state}) as the release does (prefix "module." for DataParallel)."""
    torch.save({"model_state_dict": {prefix + k: v for k, v in state.items()}}, path)


def classifier_state(cin: int, classes: int, hidden: tuple[int, int], seed: int) -> "collections.OrderedDict":
    """DatasetGAN's pixel_classifier as the release saves it under nn.DataParallel: `module.layers.<i>`
    for Linear 0, 3, 6 and BatchNorm1d 2, 5 (ReLU 1, 4 have no state)."""
    g = torch.Generator().manual_seed(seed)
    h1, h2 = hidden
    state = collections.OrderedDict()
    for i, (n_out, n_in) in ((0, (h1, cin)), (3, (h2, h1)), (6, (classes, h2))):
        state[f"module.layers.{i}.weight"] = torch.randn(n_out, n_in, generator=g) / math.sqrt(n_in)
        state[f"module.layers.{i}.bias"] = torch.randn(n_out, generator=g) * 0.1
        if i < 6:
            bn, width = i + 2, n_out
            state[f"module.layers.{bn}.weight"] = torch.rand(width, generator=g) * 0.5 + 0.75
            state[f"module.layers.{bn}.bias"] = torch.randn(width, generator=g) * 0.1
            state[f"module.layers.{bn}.running_mean"] = torch.randn(width, generator=g) * 0.1
            state[f"module.layers.{bn}.running_var"] = torch.rand(width, generator=g) + 0.5
            state[f"module.layers.{bn}.num_batches_tracked"] = torch.tensor(5000)
    order = sorted(state, key=lambda k: (int(k.split(".")[2]), k))
    return collections.OrderedDict((k, state[k]) for k in order)


def write_release(root, *, g_ema: dict, latent_avg: torch.Tensor, cin: int, num_ws: int, w_dim: int,
                  members: int = 2, hidden=(16, 8), encoder_width: int = 2, test_images: int = 2) -> dict:
    """A miniature release folder with the published names: checkpoint/{stylegan_pretrain,
    datasetgan_pretrain/classifier, encoder_pretrain(/testing_embedding)} and static/editing_vectors.
    Returns {"vectors": {name: v [1, num_ws, w_dim]}, "latents": [w+ [num_ws, w_dim]]} as numpy arrays."""
    import numpy as np
    from pathlib import Path
    root = Path(root)
    ck = root / "checkpoint"
    for sub in ("stylegan_pretrain", "datasetgan_pretrain/classifier", "encoder_pretrain/testing_embedding"):
        (ck / sub).mkdir(parents=True, exist_ok=True)
    torch.save({"g_ema": g_ema, "latent_avg": latent_avg},
               ck / "stylegan_pretrain" / "stylegan2_networks_stylegan2-car-config-f.pt")
    for m in range(members):
        torch.save({"model_state_dict": classifier_state(cin, 32, hidden, seed=m)},
                   ck / "datasetgan_pretrain" / "classifier" / f"car_model_{m}.pth")
    write_editgan_encoder(ck / "encoder_pretrain" / "BEST_loss2.841871976852417.pth",
                          editgan_encoder_state(encoder_width, num_ws, w_dim, resolution=512, fpn_channels=8),
                          prefix="")  # EditGAN_tool.py loads it into a plain FPNEncoder
    rng = np.random.default_rng(0)
    latents = [(rng.standard_normal((num_ws, w_dim)) * 0.5).astype(np.float32) for _ in range(test_images)]
    for i, w in enumerate(latents):
        np.save(ck / "encoder_pretrain" / "testing_embedding" / f"latents_image_{i}.npy", w)
    vectors = {name: (rng.standard_normal((1, num_ws, w_dim)) * 0.2).astype(np.float32)
               for name in ("wheel_enlarge", "frontlight_enlarge", "license_plate_disappear")}
    (root / "static" / "editing_vectors").mkdir(parents=True)
    for name, v in vectors.items():
        np.save(root / "static" / "editing_vectors" / f"{name}.npy", v)
    return {"vectors": vectors, "latents": latents}
