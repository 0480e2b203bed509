"""CPU vs CUDA parity (issue 28, the GPU lane): every test here carries the `gpu` marker and is skipped
without CUDA; `tools/device_check.sh` runs them (`pytest -m gpu`) on a lent GPU.

TF32 is turned off for parity (matmuls and convolutions in true float32). Float32 on CPU and CUDA still
differ by accumulated rounding (other reduction orders), so each test states its tolerance. Setting
EDITGAN_PARITY_DEVICE=cpu runs the same comparisons CPU against CPU (a check of the tests themselves on a
machine without a GPU)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_tiny_generator
from edit_fixtures import MOUTH, make_tiny_segmenter, painted_target, write_edit_bundle
from gan_fixtures import TINY_TRAIN, RandomSource

DEVICE = os.environ.get("EDITGAN_PARITY_DEVICE", "cuda")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def close(a: torch.Tensor, b: torch.Tensor, rel: float) -> bool:
    """max |a - b| <= rel · max |a| (a scale-free float32 tolerance; a on the CPU, b anywhere)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max()) <= rel * max(float(a.abs().max()), 1e-12)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu().flatten(), b.detach().double().cpu().flatten()
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_generator_forward_and_backward_match_the_cpu():
    """Tiny generator, const noise: images within 1e-4 of the CPU's (relative to their largest value);
    gradients with respect to w+ and to every weight tensor of 8+ entries within 1e-3 (relative to the
    tensor's largest entry), the scalar ones within 1e-3 of the largest weight gradient."""
    results = {}
    for device in ("cpu", DEVICE):
        G = make_tiny_generator().to(device).requires_grad_(True)
        wplus = torch.randn(2, G.config.num_ws, 16, generator=torch.Generator().manual_seed(1)).to(device)
        wplus.requires_grad_(True)
        image = G.synthesis(wplus)
        (image * torch.linspace(-1, 1, image.numel()).reshape(image.shape).to(device)).sum().backward()
        results[device] = image, wplus.grad, {k: p.grad for k, p in G.named_parameters() if p.grad is not None}
    (img_c, gw_c, gp_c), (img_d, gw_d, gp_d) = results["cpu"], results[DEVICE]
    assert img_d.device.type == torch.device(DEVICE).type
    assert close(img_c, img_d, 1e-4) and close(gw_c, gw_d, 1e-3)
    assert gp_c.keys() == gp_d.keys() and len(gp_c) > 20
    bad = [k for k in gp_c if gp_c[k].numel() >= 8 and not close(gp_c[k], gp_d[k], 1e-3)]
    assert not bad, bad
    scale = max(float(g.abs().max()) for g in gp_c.values())  # scalars (noise strengths): sums that nearly cancel
    bad = [k for k in gp_c if gp_c[k].numel() < 8 and float((gp_c[k] - gp_d[k].cpu()).abs().max()) > 1e-3 * scale]
    assert not bad, bad


def test_fused_modulated_conv_matches_the_non_fused_form():
    """The fused form (per-sample weights, one grouped convolution: what small no-grad batches pick on CUDA)
    against the non-fused form on the device, up-sampling layers included: images within 1e-5 (relative),
    and the fused device image within 1e-4 of the CPU's non-fused one."""
    from editgan.nn.stylegan2 import _prefer_fused

    G = make_tiny_generator().to(DEVICE)
    wplus = torch.randn(2, G.config.num_ws, 16, generator=torch.Generator().manual_seed(3)).to(DEVICE)
    with torch.no_grad():
        assert _prefer_fused(wplus, 2) == DEVICE.startswith("cuda")
        fused, plain = G.synthesis(wplus, fused=True), G.synthesis(wplus, fused=False)
        cpu = make_tiny_generator().synthesis(wplus.cpu(), fused=False)
    assert close(plain, fused, 1e-5) and close(cpu, fused, 1e-4)


def test_segmenter_matches_the_cpu():
    """Two-member segmenter on G's features: images and ensemble probabilities within 1e-4 (relative),
    the members' disagreement within 1e-4 nats; labels agree on >= 99.9 %
    of pixels (a pixel whose two top classes tie to rounding may flip)."""
    from editgan.nn.segmenter import render_and_segment

    out = {}
    for device in ("cpu", DEVICE):
        G = make_tiny_generator().to(device)
        seg = make_tiny_segmenter(make_tiny_generator()).to(device)
        wplus = G.mapping(torch.randn(3, 16, generator=torch.Generator().manual_seed(2)).to(device))
        image, segmentation = render_and_segment(G, seg, wplus[:, None].repeat(1, G.config.num_ws, 1))
        out[device] = image, segmentation
    (img_c, s_c), (img_d, s_d) = out["cpu"], out[DEVICE]
    assert close(img_c, img_d, 1e-4)
    assert close(s_c.probs, s_d.probs, 1e-4) and (s_c.uncertainty - s_d.uncertainty.cpu()).abs().max() < 1e-4
    assert (s_c.labels == s_d.labels.cpu()).double().mean() >= 0.999


@pytest.fixture
def bundle(tmp_path):
    G = make_tiny_generator()
    write_edit_bundle(tmp_path / "b", G, make_tiny_segmenter(G))
    return tmp_path / "b"


def _editor(bundle, device):
    import editgan
    return editgan.load(bundle, device=device)


def test_embedding_matches_the_cpu(bundle):
    """Editor.embed, 5 steps (bundle's default settings, no tuning) on a smooth 32-px ramp: the CUDA w+
    within 2e-2 of the CPU's (relative to its largest entry; 5 Adam steps amplify rounding), reconstructions
    within 2e-2."""
    target = torch.linspace(-1, 1, 32)[None, None, :, None].expand(1, 3, 32, 32).contiguous()
    res = {d: _editor(bundle, d).embed(target, steps=5, tune=False) for d in ("cpu", DEVICE)}
    assert res[DEVICE].wplus.device.type == torch.device(DEVICE).type
    assert close(res["cpu"].wplus, res[DEVICE].wplus, 2e-2)
    assert close(res["cpu"].reconstruction, res[DEVICE].reconstruction, 2e-2)


def test_edit_and_vector_apply_match_the_cpu(bundle):
    """Editor.edit, 5 steps on a painted mouth square (perceptual term off: no LPIPS download): the
    learned δw+ has cosine > 0.99 with the CPU's and norm within 5 % (Adam's first steps move every
    component by about lr whatever its gradient's size, so a tiny gradient whose sign rounding flips
    moves it the other way); applying it (Editor.apply) gives
    w+ equal to w + δ on the device and an image within 1e-4 (relative) of the CPU's render of the same w+."""
    out = {}
    for device in ("cpu", DEVICE):
        editor = _editor(bundle, device)
        w = editor.sample(1)
        target = painted_target(editor.generator, editor.segmenter, w)
        result, vector = editor.edit(w, target[0], ["mouth"], name="up", steps=5, lr=0.05, buffer=1,
                                     perceptual_weight=0.0)
        assert np.isfinite([r["loss"] for r in result.losses]).all()
        other = editor.sample(2)
        applied, image = editor.apply(other, {vector: 1.0})
        assert torch.allclose(applied, other + vector.delta.to(other.device), atol=1e-6)
        out[device] = vector.delta, applied, image
    (d_c, a_c, i_c), (d_d, a_d, i_d) = out["cpu"], out[DEVICE]
    assert cosine(d_c, d_d) > 0.99 and abs(float(d_d.norm()) / float(d_c.norm()) - 1) < 0.05
    cpu_render = _editor(bundle, "cpu").render(a_d.cpu())
    assert close(cpu_render, i_d, 1e-4)


def test_the_editor_in_bf16_on_cuda_tracks_the_cpu_in_fp32(bundle):
    """editgan.load(precision="bf16") on the device against fp32 on the CPU: render within 0.1, labels agreeing
    on >= 97 % of pixels, and a 5-step edit's δw+ with cosine > 0.9 (what `--precision auto` runs on a GPU)."""
    import editgan
    ref, fast = editgan.load(bundle, device="cpu"), editgan.load(bundle, device=DEVICE, precision="bf16")
    assert fast.precision == "bf16"
    w = ref.sample(1)
    assert (ref.render(w) - fast.render(w).cpu()).abs().max() < 0.1
    assert (ref.segment(w) == fast.segment(w).cpu()).double().mean() >= 0.97
    target = painted_target(ref.generator, ref.segmenter, w)
    deltas = [editor.edit(w, target[0], ["mouth"], steps=5, lr=0.05, buffer=1, perceptual_weight=0.0)[1].delta.cpu()
              for editor in (ref, fast)]
    assert cosine(*deltas) > 0.9


@pytest.mark.parametrize("precision, min_cosine, loss_rel", [("fp32", 0.9999, 1e-4), ("bf16", 0.99, 2e-2)])
def test_one_gan_training_step_matches_the_cpu(precision, min_cosine, loss_rel):
    """One generator and one discriminator phase (no R1 / path length) from the same weights and draws
    (the trainer draws its noise on the CPU): G's and D's whole gradients have cosine > 0.9999 with the
    CPU's in fp32 (> 0.99 in bf16, whose rounding differs between the CPU's and CUDA's kernels), and a
    full step's losses match to 1e-4 relative in fp32 (2e-2 in bf16); masters stay float32."""
    from editgan.train.gan import GANTrainConfig, GANTrainer

    cfg = GANTrainConfig(**{**TINY_TRAIN.to_json(), "precision": precision, "pl_weight": 0.0})
    grads, losses = {}, {}
    for device in ("cpu", DEVICE):
        t = GANTrainer(cfg, RandomSource(), device=device)
        t.generator_phase(pl=False)
        t.discriminator_phase(r1=False)
        grads[device] = {f"G.{k}": p.grad for k, p in t.G.named_parameters() if p.grad is not None}
        grads[device].update({f"D.{k}": p.grad for k, p in t.D.named_parameters()})
        assert all(g.dtype == torch.float32 for g in grads[device].values())
        losses[device] = GANTrainer(cfg, RandomSource(), device=device).step()
    assert grads["cpu"].keys() == grads[DEVICE].keys()
    for net in ("G.", "D."):
        whole = [torch.cat([g.flatten().cpu() for k, g in grads[d].items() if k.startswith(net)]) for d in ("cpu", DEVICE)]
        assert cosine(*whole) > min_cosine, net
    assert losses["cpu"].keys() == losses[DEVICE].keys()
    for key, value in losses["cpu"].items():
        assert np.isfinite(losses[DEVICE][key])
        assert losses[DEVICE][key] == pytest.approx(value, rel=loss_rel, abs=loss_rel * 0.1), key


def test_torchrun_batch_apply_on_cuda_matches_the_cpu(tmp_path):
    """`editgan batch apply` under torchrun (one process, --device cuda; one GPU cannot hold two NCCL
    ranks, so the NCCL group itself is only joined where WORLD_SIZE > 1, on a multi-GPU machine): it
    ends like the CPU run (exit 1: the world's broken input is skipped) and writes the same files; the
    edited w+ of the latent inputs (w + Σ s·δ: no embedding, no refinement) within 1e-5 of the CPU's."""
    from batch_fixtures import write_batch_world
    from editgan.io.latents import load_wplus
    from gan_fixtures import run_torchrun

    write_batch_world(tmp_path)
    outs = {}
    for device in ("cpu", DEVICE):
        run_torchrun("ddp_gpu_batch_worker.py", tmp_path, nproc=1, env={"EDITGAN_WORKER_DEVICE": device})
        assert (tmp_path / f"rc-{device}-1.rank0").read_text() == "1"
        outs[device] = tmp_path / f"out-{device}-1"
    files = {d: sorted(p.relative_to(o) for p in o.rglob("*") if p.is_file()) for d, o in outs.items()}
    assert files["cpu"] == files[DEVICE] and len(files["cpu"]) > 5
    latents = [p for p in files["cpu"] if p.name.endswith(".wplus.safetensors") and p.parts[0].startswith("face")]
    assert latents
    for path in latents:
        a, b = (load_wplus(outs[d] / path, 8, 16) for d in ("cpu", DEVICE))
        assert torch.allclose(a, b, atol=1e-5), path


def test_the_web_tools_apply_route_matches_the_cpu(tmp_path):
    """POST /api/sessions/{id}/apply of a vector learned in the tool, served by a device editor and by a CPU
    one over the same bundle and library: the same PNG up to rounding (uint8 levels within 2, 99 % equal)."""
    from fastapi.testclient import TestClient

    import editgan
    from app_fixtures import labels_array, labels_b64, png_array, tiny_editor
    from editgan.app import create_app

    pngs = []
    for first, device in ((True, "cpu"), (False, DEVICE)):
        editor = tiny_editor(tmp_path) if first else \
            editgan.load(tmp_path / "bundle", vectors=tmp_path / "vectors", device=device)
        with TestClient(create_app(editor)) as client:
            sid = client.post("/api/sessions").json()["session_id"]
            shown = client.post(f"/api/sessions/{sid}/sample", json={"seed": 1}).json()
            if first:  # learn and save the vector once; the device editor reads it from the library
                target = labels_array(shown["labels"], (32, 32)).copy()
                target[8:20, 8:20] = MOUTH
                r = client.post(f"/api/sessions/{sid}/edit", json={"labels": labels_b64(target), "steps": 3})
                assert r.status_code == 202, r.text
                with client.stream("GET", f"/api/jobs/{r.json()['job_id']}/events") as stream:
                    for _ in stream.iter_lines():
                        pass
                saved = client.post(f"/api/sessions/{sid}/vectors", json={"name": "mouth_square"})
                assert saved.status_code == 201, saved.text
            r = client.post(f"/api/sessions/{sid}/apply", json={"scales": {"mouth_square": 1.0}})
            assert r.status_code == 200, r.text
            pngs.append(png_array(r.content).astype(np.int64))
    diff = np.abs(pngs[0] - pngs[1])
    assert diff.max() <= 2 and (diff == 0).mean() >= 0.99
