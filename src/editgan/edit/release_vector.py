"""Editing vectors from the official EditGAN release (`static/editing_vectors/*.npy`, or the tool's
pickle export) as our `EditingVector`s; the file layouts are read by `editgan.io.release_vectors`."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

import torch

from editgan.edit.vectors import EditingVector
from editgan.errors import InputError
from editgan.io.release_vectors import (CONVENTIONS, RELEASE_APPLY, parts_from_ids, parts_from_name,
                                        read_release_vector, to_delta)
from editgan.labels import LabelScheme


def release_vector(path: str | Path, scheme: LabelScheme, *, name: str | None = None,
                   parts: Sequence[str] | None = None, convention: str = "ui") -> EditingVector:
    """One release vector file -> EditingVector named `name` (default: the file's stem).

    parts: the edited label names; default the pickle's roi_ids, else the file name's leading words
    (`parts_from_name`). convention: "ui" (delta = v / 2, default scale 2: slider value S there is
    scale S here) or "raw" (delta = v, default scale 1). The convention, the source and where the
    parts came from are recorded in `created`."""
    path = Path(path)
    release = read_release_vector(path)
    if convention not in CONVENTIONS:
        raise InputError(f"unknown scale convention {convention!r}; known: {', '.join(CONVENTIONS)}")
    if parts is not None:
        names = tuple(parts)
        if not names:
            raise InputError("--parts names no label")
        scheme.indices(names)
        parts_from = "given"
    elif release.roi_ids:
        names, parts_from = parts_from_ids(release.roi_ids, scheme, str(path)), f"roi_ids {release.roi_ids}"
    else:
        names = parts_from_name(path.stem, scheme)
        if names is None:
            raise InputError(f"the name {path.stem!r} names no part of scheme {scheme.name!r}; pass --parts "
                             f"NAME[,NAME...] (known: {', '.join(scheme.names)})")
        parts_from = f"file name {path.stem!r}"
    factor = CONVENTIONS[convention]
    created = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "imported_from": str(path), "source_format": release.source_format, "scale_convention": convention,
               "release_applies": RELEASE_APPLY[convention], "delta": f"v * {factor:g}", "parts_from": parts_from}
    return EditingVector(torch.from_numpy(to_delta(release.v, convention)), name or path.stem, names,
                         default_scale=1.0 / factor, created=created)
