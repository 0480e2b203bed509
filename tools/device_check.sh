#!/usr/bin/env bash
# The GPU lane's first command on a lent accelerator (issue 28): install from the lock file if needed
# (tools/gpu_python.sh: a python whose torch sees CUDA, else `make venv`, whose torch==2.13.0 is PyPI's
# CUDA build on Linux x86_64), run the `gpu` tests,
# then the short GPU benches (bench/device_check.py). Everything goes into one folder: $OUT if set,
# else outputs/device_check/ (or the first argument):
#   pytest_gpu.txt (the tests' output), pytest_gpu.xml (JUnit), device_check.json (benches), nvidia-smi.txt
# Bounded to finish within about 5 minutes on an H100 (tests capped at 2 min, benches at 3).
#   tools/device_check.sh [OUT_DIR]
#   tools/device_check.sh --dry-run [OUT_DIR]   # CPU, tiny sizes, seconds; uses the current python
set -u
cd "$(dirname "$0")/.."
DRY=""
if [ "${1:-}" = "--dry-run" ]; then DRY="--dry-run"; shift; fi
DEST="${1:-${OUT:-outputs/device_check}}"
mkdir -p "$DEST"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "$DRY" ]; then
    PY="${PYTHON:-python3}"
else
    PY=$(tools/gpu_python.sh "$DEST/install.txt") || { tail -30 "$DEST/install.txt"; exit 1; }
    nvidia-smi >"$DEST/nvidia-smi.txt" 2>&1 || true
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())" | tee "$DEST/torch.txt"
status=0
if [ -z "$DRY" ]; then
    timeout 120 "$PY" -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider --junitxml "$DEST/pytest_gpu.xml" \
        >"$DEST/pytest_gpu.txt" 2>&1 || status=$?
    tail -5 "$DEST/pytest_gpu.txt"
fi
timeout 180 "$PY" bench/device_check.py --out "$DEST" $DRY || status=$?
echo "device_check: results in $DEST (exit $status)"
exit $status
