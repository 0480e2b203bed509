#!/usr/bin/env bash
# Print the python the GPU lane runs (tools/device_check.sh, tools/gpu_train.sh), installing if needed;
# the install's output goes to the file in $1 (default /dev/null). Run from the repository root, with
# PYTHONPATH naming src/. In order:
#  1. .venv/bin/python (`make venv`) when its torch sees CUDA;
#  2. python3 when its torch sees CUDA and editgan imports (a lent machine's image: offline, with torch,
#     numpy, safetensors, pillow, scipy, tqdm, pytest; wheels in .whl/, e.g. platformdirs, are
#     installed into /tmp/editgan-site first when present: `pip download platformdirs==4.14.9 -d .whl`);
#  3. `make venv` (the lock file; torch==2.13.0 from PyPI, a CUDA build on Linux x86_64; needs the network).
LOG="${1:-/dev/null}"
ok() { "$1" -c "import torch, editgan.editor, editgan.train.gan; assert torch.cuda.is_available()" >>"$LOG" 2>&1; }
if [ -x .venv/bin/python ] && ok .venv/bin/python; then echo .venv/bin/python; exit 0; fi
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/editgan-site \
        .whl/*.whl >>"$LOG" 2>&1
fi
if [ -d /tmp/editgan-site ]; then
    cat >/tmp/editgan-python <<EOS
#!/bin/sh
PYTHONPATH="\${PYTHONPATH:+\$PYTHONPATH:}/tmp/editgan-site" exec python3 "\$@"
EOS
    chmod +x /tmp/editgan-python
    if ok /tmp/editgan-python; then echo /tmp/editgan-python; exit 0; fi
fi
if ok python3; then command -v python3; exit 0; fi
make venv >>"$LOG" 2>&1 && ok .venv/bin/python && { echo .venv/bin/python; exit 0; }
echo "gpu_python: no python with a CUDA torch and editgan's dependencies (see $LOG)" >&2
exit 1
