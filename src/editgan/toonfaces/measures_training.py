"""Training and held-out evaluation of the toonface measuring networks (toon_nets.py).

Everything is seeded and runs on the CPU: faces are rendered from fixed train-split seeds into an
in-memory uint8 pool at RENDER_SIZE, the networks train on the pool, and
the held-out numbers come from test-split seeds (dataset.SPLITS) that training never sees.

- attribute network: mean-squared error on the expression attributes (toon_nets.ATTRIBUTES).
- identity network: symmetric InfoNCE on cosine similarity; a batch holds B identities with two
  views each (different expression, pose and background), every other view is a negative.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from editgan.toonfaces import ToonParams, edit_params, render, sample_identity, sample_params
from editgan.toonfaces.dataset import SPLITS
from editgan.toonfaces.measure_nets import ATTRIBUTES, CONFIG_NAME, ToonNet, build
from editgan.toonfaces.params import SMILE_THRESHOLD

ARCH = {"widths": [24, 32, 48, 64, 96], "feature_dim": 128, "input_size": 128}
RENDER_SIZE = 128
TEMPERATURE = 0.1
TRAIN, TEST = SPLITS["train"].start, SPLITS["test"].start
# Seed offsets inside each split: identities, and the expression/background seeds of their views.
ID_OFFSET, VIEW_OFFSET, VALID_OFFSET = 100_000, 500_000, 900_000


def identity_view(identity_seed: int, view_seed: int) -> ToonParams:
    """Face `identity_seed` with the expression/pose of `view_seed` and another background."""
    p = sample_params(identity_seed, expression_seed=view_seed)
    return edit_params(p, background=sample_identity(view_seed)["background"])


def render_pool(params: list[ToonParams]) -> torch.Tensor:
    """Render at RENDER_SIZE -> uint8 [N, 3, S, S] (`as_input` makes network input of a batch)."""
    return torch.from_numpy(np.stack([render(p, RENDER_SIZE)[0] for p in params])).permute(0, 3, 1, 2).contiguous()


def as_input(pool_rows: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, S, S] -> float [N, 3, S, S] in [-1, 1], as image_to_tensor would give."""
    return pool_rows.float().div_(127.5).sub_(1.0)


def attribute_targets(params: list[ToonParams]) -> torch.Tensor:
    return torch.tensor([[getattr(p, a) for a in ATTRIBUTES] for p in params], dtype=torch.float32)


def _optimizer(net: ToonNet, steps: int, lr: float):
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    return opt, sched


def train_attribute_net(pool: torch.Tensor, targets: torch.Tensor, steps: int, batch: int, seed: int,
                        log: Callable[[str], None]) -> ToonNet:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = build({**ARCH, "out_dim": len(ATTRIBUTES)}).train()
    opt, sched = _optimizer(net, steps, 3e-3)
    for step in range(steps):
        idx = torch.randint(len(pool), (batch,), generator=gen)
        loss = F.mse_loss(net(as_input(pool[idx])), targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"attribute step {step}/{steps} mse {loss.item():.4f}")
    return net.eval()


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Symmetric InfoNCE of paired embeddings a, b [B, D]: row i of a should match row i of b."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def train_identity_net(pool: torch.Tensor, views: int, steps: int, batch: int, embed_dim: int, seed: int,
                       log: Callable[[str], None]) -> ToonNet:
    """pool: [identities * views, 3, s, s], the views of identity i at rows i*views .. i*views+views-1."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = build({**ARCH, "out_dim": embed_dim}).train()
    opt, sched = _optimizer(net, steps, 3e-3)
    identities = len(pool) // views
    for step in range(steps):
        ids = torch.randperm(identities, generator=gen)[:batch]
        pick = torch.stack([torch.randperm(views, generator=gen)[:2] for _ in range(batch)])
        rows = ids[:, None] * views + pick
        emb = net(as_input(pool[rows.reshape(-1)])).reshape(batch, 2, -1)
        loss = info_nce(emb[:, 0], emb[:, 1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"identity step {step}/{steps} info_nce {loss.item():.4f}")
    return net.eval()


@torch.no_grad()
def _predict(net: ToonNet, pool: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(as_input(pool[i:i + 256])) for i in range(0, len(pool), 256)])


def evaluate_attribute_net(net: ToonNet, pool: torch.Tensor, targets: torch.Tensor) -> dict:
    """Mean absolute error per attribute (also on faces with eye_open >= 0.5, where gaze and pupils
    are visible) and binary smiling-vs-not accuracy at SMILE_THRESHOLD."""
    pred = _predict(net, pool)
    err = (pred - targets).abs()
    open_eyes = targets[:, ATTRIBUTES.index("eye_open")] >= 0.5
    smile = ATTRIBUTES.index("smile")
    acc = ((pred[:, smile] > SMILE_THRESHOLD) == (targets[:, smile] > SMILE_THRESHOLD)).float().mean()
    return {"mae": {a: round(float(m), 4) for a, m in zip(ATTRIBUTES, err.mean(0))},
            "mae_eyes_open": {a: round(float(m), 4) for a, m in zip(ATTRIBUTES, err[open_eyes].mean(0))},
            "n_eyes_open": int(open_eyes.sum()),
            "smile_accuracy": round(float(acc), 4), "smile_threshold": SMILE_THRESHOLD, "n": len(pool)}


def pair_similarities(net: ToonNet, pool: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pool: [2n] = (view a, view b) of n identities interleaved. Returns cosine of same-identity
    pairs [n] and of different-identity pairs [n] (identity i's view a with identity i+1's view b)."""
    emb = F.normalize(_predict(net, pool), dim=1)
    emb = emb.reshape(-1, 2, emb.shape[-1])
    same = (emb[:, 0] * emb[:, 1]).sum(1)
    diff = (emb[:, 0] * emb.roll(-1, dims=0)[:, 1]).sum(1)
    return same, diff


def best_threshold(same: torch.Tensor, diff: torch.Tensor) -> float:
    """Cosine threshold that maximises verification accuracy on (same, diff) pairs."""
    candidates = torch.cat([same, diff]).sort().values
    accs = [((same > c).float().mean() + (diff <= c).float().mean()) / 2 for c in candidates]
    return float(candidates[int(torch.stack(accs).argmax())])


def verification(same: torch.Tensor, diff: torch.Tensor, threshold: float) -> dict:
    acc = ((same > threshold).float().mean() + (diff <= threshold).float().mean()) / 2
    return {"accuracy": round(float(acc), 4), "threshold": round(threshold, 4), "pairs": 2 * len(same),
            "mean_cos_same": round(float(same.mean()), 4), "mean_cos_different": round(float(diff.mean()), 4)}


def _pair_params(base: int, n: int) -> list[ToonParams]:
    return [identity_view(base + i, base + VIEW_OFFSET + 2 * i + v) for i in range(n) for v in range(2)]


def train_measures(out: Path, attr_pool: int = 16_000, id_identities: int = 6_000, id_views: int = 3,
                   attr_steps: int = 2_000, id_steps: int = 1_000, batch: int = 64, eval_n: int = 2_000,
                   seed: int = 0, log: Callable[[str], None] = print) -> dict:
    """Train both networks, evaluate them on held-out test seeds, write weights + measures.json."""
    t0 = time.time()
    log(f"rendering attribute pool ({attr_pool} train faces)")
    params = [sample_params(TRAIN + i) for i in range(attr_pool)]
    attr_net = train_attribute_net(render_pool(params), attribute_targets(params), attr_steps, batch, seed,
                                   log)
    test_params = [sample_params(TEST + i) for i in range(eval_n)]
    attr_metrics = evaluate_attribute_net(attr_net, render_pool(test_params), attribute_targets(test_params))
    log(f"attribute held-out: {json.dumps(attr_metrics)}")

    log(f"rendering identity pool ({id_identities} identities x {id_views} views)")
    id_params = [identity_view(TRAIN + ID_OFFSET + i, TRAIN + VIEW_OFFSET + id_views * i + v)
                 for i in range(id_identities) for v in range(id_views)]
    embed_dim = 64
    id_net = train_identity_net(render_pool(id_params), id_views, id_steps, batch // 2, embed_dim, seed, log)
    valid_same, valid_diff = pair_similarities(id_net, render_pool(_pair_params(TRAIN + VALID_OFFSET, eval_n // 2)))
    threshold = best_threshold(valid_same, valid_diff)
    same, diff = pair_similarities(id_net, render_pool(_pair_params(TEST, eval_n // 2)))
    id_metrics = verification(same, diff, threshold)
    log(f"identity held-out: {json.dumps(id_metrics)}")

    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in attr_net.state_dict().items()}, str(out / "attribute.safetensors"))
    save_file({k: v.contiguous() for k, v in id_net.state_dict().items()}, str(out / "identity.safetensors"))
    config = {
        "attribute": {**ARCH, "out_dim": len(ATTRIBUTES), "outputs": list(ATTRIBUTES)},
        "identity": {**ARCH, "out_dim": embed_dim, "threshold": id_metrics["threshold"]},
        "metrics": {"attribute": attr_metrics, "identity": id_metrics},
        "training": {"attr_steps": attr_steps, "id_steps": id_steps, "batch": batch, "attr_pool": attr_pool,
                     "id_identities": id_identities, "id_views": id_views, "eval_n": eval_n, "seed": seed,
                     "render_size": RENDER_SIZE, "temperature": TEMPERATURE,
                     "wall_s": round(time.time() - t0, 1), "threads": torch.get_num_threads(),
                     "command": "editgan train measures"},
    }
    (out / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    log(f"wrote {out} in {config['training']['wall_s']} s")
    return config
