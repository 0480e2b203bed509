"""Feature pyramid, its training, and the projected discriminator: shapes, an independent float64
forward, frozen parts that stay frozen, bf16, GAN training with exact resume, the CLI."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from editgan.cli import main
from editgan.errors import CheckpointError, ConfigError, InputError
from editgan.nn.feature_pyramid import FeaturePyramid, FeaturePyramidConfig
from editgan.nn.projected_discriminator import ProjectedDiscriminator, ProjectedDiscriminatorConfig
from editgan.train.feature_training import FeatureTrainSettings, segmentation_iou, train_feature_pyramid
from editgan.train.gan import GANTrainConfig, GANTrainer
from gan_fixtures import TINY_TRAIN, RandomSource, straight_and_resumed

PYRAMID = FeaturePyramidConfig(resolution=16, widths=(4, 8), num_classes=3, head_width=4)
TINY_PROJECTED = dataclasses.replace(
    TINY_TRAIN, discriminator=dict(features=PYRAMID.to_json(), image_width=4, max_width=8, head_resolution=4),
    discriminator_arch="projected", r1_gamma=0.0, pl_weight=0.0)


def randomised_pyramid(config: FeaturePyramidConfig = PYRAMID, seed: int = 0) -> FeaturePyramid:
    """A pyramid in eval mode whose batch-norm statistics and affines are random (not the identity)."""
    torch.manual_seed(seed)
    net = FeaturePyramid(config)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
    return net.eval()


def reference_features(state: dict, prefix: str, img: torch.Tensor, num_stages: int) -> list[torch.Tensor]:
    """The backbone in float64 from a state dict with plain F.conv2d / F.batch_norm (eval)."""
    out, x = [], img.double()
    for i in range(num_stages):
        for j, stride in ((0, 2), (1, 1)):
            p = f"{prefix}{i}.{j}."
            x = F.conv2d(x, state[p + "conv.weight"].double(), stride=stride, padding=1)
            x = F.relu(F.batch_norm(x, state[p + "norm.running_mean"].double(), state[p + "norm.running_var"].double(),
                                    state[p + "norm.weight"].double(), state[p + "norm.bias"].double(), eps=1e-5))
        out.append(x)
    return out


def test_feature_pyramid_shapes_and_folded_batch_norm():
    net = randomised_pyramid()
    img = torch.rand(2, 3, 16, 16) * 2 - 1
    feats = net(img)
    assert [tuple(f.shape) for f in feats] == [(2, 4, 8, 8), (2, 8, 4, 4)]
    assert net.segment(img).shape == (2, 3, 16, 16)
    for mine, ref in zip(feats, reference_features(net.state_dict(), "stages.", img, 2)):
        torch.testing.assert_close(mine.double(), ref, rtol=1e-5, atol=1e-5)
    bf16 = net(img.bfloat16())[-1]
    assert bf16.dtype == torch.bfloat16
    assert (bf16.float() - feats[-1]).norm() / feats[-1].norm() < 0.05
    with pytest.raises(InputError):
        net(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ConfigError):
        FeaturePyramidConfig(resolution=12, widths=(4, 8, 8))


def test_feature_training_learns_a_separable_task_and_checks_inputs():
    # label = which colour channel dominates the pixel's 4x4 cell: learnable by a small conv net
    rng = np.random.default_rng(0)
    labels = np.kron(rng.integers(0, 3, size=(48, 4, 4)), np.ones((4, 4), dtype=np.int64))
    images = (np.eye(3)[labels] * 180 + rng.integers(0, 60, size=labels.shape + (3,))).astype(np.uint8)
    net, report = train_feature_pyramid(images[:40], labels[:40], PYRAMID, FeatureTrainSettings(steps=120, batch=8,
                                                                                              lr=1e-2))
    iou = segmentation_iou(net, images[40:], labels[40:])
    assert np.nanmin(iou) > 0.8, iou
    assert report["steps"] == 120 and np.isfinite(report["final_loss"]) and not net.training
    with pytest.raises(InputError):
        train_feature_pyramid(images[:4], labels[:4] + 3, PYRAMID)
    with pytest.raises(InputError):
        train_feature_pyramid(images[:4, :8], labels[:4, :8], PYRAMID)


def projected(seed: int = 0, mbstd: int = 0) -> ProjectedDiscriminator:
    config = ProjectedDiscriminatorConfig(resolution=16, features=PYRAMID.to_json(), image_width=4, max_width=8,
                                          head_resolution=4, mbstd_group_size=mbstd)
    torch.manual_seed(seed)
    d = ProjectedDiscriminator(config)
    d.load_features(randomised_pyramid())
    return d


def reference_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """x [N, C, h, w] + one channel: the mean over (C, h, w) of the std over each group of samples
    n, n + N/group, n + 2N/group, ... (biased, +1e-8 inside the root), per group."""
    n = x.shape[0]
    out = torch.empty(n, 1, *x.shape[2:], dtype=x.dtype)
    for j in range(n // group):
        members = list(range(j, n, n // group))
        std = (x[members].var(0, unbiased=False) + 1e-8).sqrt().mean()
        out[members] = std
    return torch.cat([x, out], 1)


def reference_logits(d: ProjectedDiscriminator, img: torch.Tensor) -> torch.Tensor:
    """D's forward in float64 from its state dict: spectral norm by the exact largest singular value."""
    state = d.state_dict()
    group = d.config.mbstd_group_size

    def branch(prefix: str, x: torch.Tensor) -> torch.Tensor:
        convs = sorted({k.split(".conv.")[0] for k in state if k.startswith(prefix) and ".conv." in k})
        for n, name in enumerate(convs):
            w = state[name + ".conv.parametrizations.weight.original"].double()
            w = w / torch.linalg.matrix_norm(w.flatten(1), ord=2)
            last = n == len(convs) - 1
            x = reference_stddev(x, group) if last and group else x
            x = F.conv2d(x, w, state[name + ".conv.bias"].double(), stride=1 if last else 2, padding=1)
            x = x if last else F.leaky_relu(x, 0.2)
        return x.flatten(1)

    x = img.double()
    logits = [branch("image_branch.", x)]
    for i, f in enumerate(reference_features(state, "features.", x, 2)):
        mixed = F.conv2d(torch.cat([f, F.avg_pool2d(x, 16 // f.shape[-1])], 1), state[f"projection{i}"].double())
        logits.append(branch(f"branch{i}.", mixed))
    return torch.cat(logits, 1)


@pytest.mark.parametrize("mbstd", [0, 2])
def test_projected_discriminator_matches_an_independent_float64_forward(mbstd):
    d = projected(mbstd=mbstd)
    img = torch.rand(4 if mbstd else 3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        for _ in range(300):  # power iterations converge to the largest singular value
            d.train()(img)
    out = d.eval()(img)
    assert out.shape == (len(img), 3 * 4 * 4)  # image branch + 2 feature scales, each a 4x4 logit map
    torch.testing.assert_close(out.double(), reference_logits(d, img), rtol=1e-4, atol=1e-4)
    bf16 = d(img, dtype=torch.bfloat16)
    assert bf16.dtype == torch.float32 and (bf16 - out).norm() / out.norm() < 0.05


def test_frozen_parts_stay_frozen_and_pass_gradients():
    d = projected()
    frozen = {k: v.clone() for k, v in d.state_dict().items() if k.startswith(("features.", "projection"))}
    names = {n for n, _ in d.named_parameters()}
    assert names and not any(n.startswith(("features.", "projection")) for n in names)
    d.train().requires_grad_(True)
    assert not d.features.training
    img = (torch.rand(2, 3, 16, 16) * 2 - 1).requires_grad_(True)
    d(img).sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert all(torch.equal(frozen[k], d.state_dict()[k]) for k in frozen)
    other = FeaturePyramid(dataclasses.replace(PYRAMID, widths=(4, 4)))
    with pytest.raises(CheckpointError):
        d.load_features(other)


def test_gan_training_with_a_projected_discriminator_resumes_exactly(tmp_path):
    pyramid = randomised_pyramid()

    def trainer() -> GANTrainer:
        t = GANTrainer(TINY_PROJECTED, RandomSource())
        t.load_features(pyramid)
        return t

    straight, resumed = straight_and_resumed(trainer, tmp_path)
    stats = straight.step()
    assert np.isfinite(stats["loss_d"]) and np.isfinite(stats["loss_g"])
    features = pyramid.stages.state_dict()
    assert all(torch.equal(v, straight.D.features.state_dict()[k]) for k, v in features.items())  # still frozen
    resumed.save(tmp_path / "compact", compact=True)
    compact = GANTrainer.from_checkpoint(tmp_path / "compact", RandomSource())
    assert isinstance(compact.D, ProjectedDiscriminator) and np.isfinite(compact.step()["loss_d"])
    with pytest.raises(ConfigError):
        straight.load_features(pyramid)  # only before the first step
    with pytest.raises(ConfigError):
        GANTrainer(TINY_TRAIN, RandomSource()).load_features(pyramid)
    with pytest.raises(ConfigError):
        dataclasses.replace(TINY_PROJECTED, discriminator_arch="patchgan")


def test_cli_trains_features_then_a_projected_gan(tmp_path, capsys):
    assert main(["train", "features", "--out", str(tmp_path / "fp"), "--resolution", "64", "--widths", "4,4,8,8",
                 "--count", "8", "--test-count", "4", "--steps", "2", "--batch", "4", "--quiet"]) == 0
    meta = json.loads((tmp_path / "fp" / "feature_pyramid.json").read_text())
    assert meta["data"] == "toonfaces" and meta["train_images"] == 8 and len(meta["test_iou"]) == 15
    again = ["train", "features", "--out", str(tmp_path / "fp"), "--resolution", "64", "--steps", "1"]
    assert main(again) == 1 and "already holds" in capsys.readouterr().err
    gan = ["train", "gan", "--resolution", "64", "--channels", "4:16,8:16,16:8,32:8,64:8", "--z-dim", "16",
           "--w-dim", "16", "--mapping-layers", "2", "--batch", "4", "--pool", "8", "--cache-dir",
           str(tmp_path / "cache"), "--discriminator", "projected", "--r1-gamma", "0", "--kimg", "0.008",
           "--quiet"]
    assert main(gan + ["--out", str(tmp_path / "run"), "--features", str(tmp_path / "fp"),
                       "--mbstd-group-size", "2"]) == 0
    config = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["state"]["config"]
    assert config["discriminator_arch"] == "projected" and config["features"] == str(tmp_path / "fp")
    assert config["discriminator"]["mbstd_group_size"] == 2
    assert main(gan + ["--out", str(tmp_path / "run"), "--kimg", "0.012"]) == 0  # resumes without --features
    assert main(gan + ["--out", str(tmp_path / "nofeatures")]) == 1
    assert "needs --features" in capsys.readouterr().err
    assert main(gan + ["--out", str(tmp_path / "r32"), "--resolution", "32", "--channels", "4:16,8:16,16:8,32:8",
                       "--features", str(tmp_path / "fp")]) == 1
