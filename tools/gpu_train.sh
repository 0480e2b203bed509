#!/usr/bin/env bash
# The GPU lane's training command (issue 28): spend a lent GPU's minutes on the toonfaces 128-px generator.
#   tools/gpu_train.sh MINUTES [OUT] [CHECKPOINT_PREFIX]
#   tools/gpu_train.sh --dry-run [OUT]          # CPU, tiny generator, two runs of 2 steps, seconds
# With CHECKPOINT_PREFIX (PREFIX.json + PREFIX.safetensors, a compact or full `editgan train gan`
# checkpoint, e.g. the 128-px run's checkpoints/toon128.* of commit 5692438) the run continues from it
# (`--resume-from`; data, widths and discriminator come from the checkpoint). Without it a fresh
# 128-px run starts from the packaged toonfaces bundle's generator (`--grow-from toonfaces`, its widths,
# a StyleGAN2 discriminator). Either way it trains on CUDA for MINUTES (`--max-minutes`, which stops
# cleanly with a checkpoint) and leaves in OUT (default $OUT, else outputs/gpu_train):
#   compact.json + compact.safetensors (float16 networks, no Adam moments: `--compact-to`), split into
#   compact.safetensors.partNN pieces of 15 MiB when larger than that (files back from a lent machine are
#   at most 16 MiB each; join with `cat OUT/compact.safetensors.part* > compact.safetensors`),
#   log.jsonl (the trainer's log: a line per snapshot, every SNAPSHOT_EVERY=200 steps, with images/s),
#   samples.png (the last snapshot's sample grid) and train.txt (its output).
# The next run continues with `tools/gpu_train.sh MINUTES OUT2 OUT/compact` (after joining).
# Environment: PRECISION (bf16), BATCH (32, fresh runs), POOL (8000 toonfaces images, rendered on the
# CPU before training: ~100 per second per core; the 10-minute limit of one device command holds the
# rendering too), PYTHON (the python; default: tools/gpu_python.sh's choice), SPLIT_BYTES (15 MiB).
set -u
cd "$(dirname "$0")/.."
DRY=""
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; MINUTES=1; else MINUTES="${1:?usage: tools/gpu_train.sh MINUTES [OUT] [CHECKPOINT_PREFIX]}"; shift; fi
DEST="${1:-${OUT:-outputs/gpu_train}}"
CKPT="${2:-}"
SPLIT_BYTES="${SPLIT_BYTES:-15728640}"
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "$DRY" ]; then
    PY="${PYTHON:-python3}"
else
    PY="${PYTHON:-$(tools/gpu_python.sh "$DEST/install.txt")}" || { tail -30 "$DEST/install.txt"; exit 1; }
fi
RUN="$DEST/run"   # the run directory (full checkpoint, samples): left on the machine, not brought back
train() { "$PY" -m editgan.cli train gan "$@" --quiet; }

if [ -n "$DRY" ]; then  # a tiny fresh run, then a resume from its compact checkpoint (the two paths)
    TINY=(--data toonfaces --resolution 64 --channels 4:16,8:16,16:8,32:8,64:8 --z-dim 16 --w-dim 16 --mapping-layers 2
          --batch 4 --pool 32 --cache-dir "$DEST/cache" --device cpu --precision fp32 --threads 1
          --snapshot-every 2 --checkpoint-every 1000 --metric-samples 0)
    train --out "$DEST/fresh" "${TINY[@]}" --kimg 0.008 --compact-to "$DEST/fresh-compact" >"$DEST/train.txt" 2>&1 &&
    train --out "$RUN" --resume-from "$DEST/fresh-compact" --kimg 0.016 --device cpu --precision fp32 --threads 1 \
        --pool 32 --cache-dir "$DEST/cache" --snapshot-every 2 --checkpoint-every 1000 --metric-samples 0 \
        --compact-to "$DEST/compact" >>"$DEST/train.txt" 2>&1
    status=$?
    rm -rf "$DEST/fresh" "$DEST/cache"
else
    COMMON=(--out "$RUN" --device cuda --precision "${PRECISION:-bf16}" --max-minutes "$MINUTES" --kimg 100000
            --pool "${POOL:-8000}" --cache-dir "${CACHE_DIR:-outputs/cache}" --snapshot-every "${SNAPSHOT_EVERY:-200}"
            --checkpoint-every 250 --metric-samples 0 --compact-to "$DEST/compact")
    if [ -n "$CKPT" ]; then
        train "${COMMON[@]}" --resume-from "$CKPT" >"$DEST/train.txt" 2>&1
    else
        train "${COMMON[@]}" --data toonfaces --resolution 128 --channels 4:256,8:256,16:128,32:64,64:32,128:32 \
            --z-dim 256 --w-dim 256 --mapping-layers 4 --grow-from toonfaces --batch "${BATCH:-32}" \
            --r1-gamma 0.1 --ema-kimg 5 >"$DEST/train.txt" 2>&1
    fi
    status=$?
fi
tail -5 "$DEST/train.txt"
[ -f "$RUN/log.jsonl" ] && cp "$RUN/log.jsonl" "$DEST/log.jsonl"
last_grid=$(ls "$RUN"/samples/*.png 2>/dev/null | sort | tail -1)
[ -n "$last_grid" ] && cp "$last_grid" "$DEST/samples.png"
if [ -f "$DEST/compact.safetensors" ] && [ "$(stat -c %s "$DEST/compact.safetensors")" -gt "$SPLIT_BYTES" ]; then
    split -b "$SPLIT_BYTES" -d -a 2 "$DEST/compact.safetensors" "$DEST/compact.safetensors.part" &&
        rm "$DEST/compact.safetensors"
fi
[ -n "$DRY" ] && rm -rf "$RUN" "$DEST/fresh-compact."*
ls -l "$DEST"
echo "gpu_train: exit $status; compact checkpoint and log in $DEST"
exit $status
