"""`editgan serve`: the interactive web editing tool (FastAPI + uvicorn) for one bundle.

Binds 127.0.0.1 by default: the tool writes to the vector library and has no authentication, so
expose it to a network only on purpose (--host 0.0.0.0).
"""

from __future__ import annotations

import argparse

from editgan.cli.options import BUNDLE, VECTORS, add_compute_args
from editgan.editor import load
from editgan.errors import InputError


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from editgan.app import create_app
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be in 0..65535, got {args.port}")
    if args.max_upload_mb <= 0:
        raise InputError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    editor = load(args.bundle, device=args.device, vectors=args.vectors, precision=args.precision)
    app = create_app(editor, max_upload_bytes=int(args.max_upload_mb * 2**20),
                     session_ttl_s=args.session_minutes * 60)
    print(f"editgan serve: bundle {editor.bundle.path}, vectors in {editor.library.directory}\n"
          f"open http://{args.host}:{args.port}/ (API docs at /docs); Ctrl-C stops", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="run the interactive web editing tool on one bundle")
    BUNDLE.add(p)
    VECTORS.add(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_compute_args(p, precision=True)
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest accepted upload (default 20 MiB)")
    p.add_argument("--session-minutes", type=float, default=60.0,
                   help="drop a tab's state after this long unused (default 60)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)
