"""Creating and editing a bundle's label scheme without reinterpreting stored label maps.

A label map stores indices, so a change may only keep the meaning of every index in use: labels
can be appended, and any label renamed or recoloured; a label in use may not be removed (its index
would fall outside the scheme) nor moved (its old name appearing at another index). Unused labels
may change freely. `save_scheme` writes the manifest, or for a packaged (read-only) bundle
`user_dir/label_scheme.json`, which `Bundle.labels` then prefers.
"""

from __future__ import annotations

from editgan.annotate.store import stamp, utc_now
from editgan.bundle import USER_SCHEME, Bundle, open_bundle, read_manifest, write_manifest
from editgan.errors import InputError
from editgan.files import write_json
from editgan.labels import LabelScheme

MIN_CLASSES, MAX_CLASSES = 2, 256  # label maps are stored as uint8


def parse_scheme(data) -> LabelScheme:
    """{"name", "names": [...], "colors": [[r, g, b], ...]} -> LabelScheme; InputError unless there are
    2..256 labels with distinct non-empty names and distinct RGB colours (integers 0..255)."""
    if not isinstance(data, dict):
        raise InputError("a label scheme is a JSON object {name, names, colors}")
    name, names, colors = data.get("name"), data.get("names"), data.get("colors")
    if not isinstance(name, str) or not name.strip():
        raise InputError("the label scheme needs a non-empty 'name'")
    if not isinstance(names, list) or not isinstance(colors, list):
        raise InputError("the label scheme needs lists 'names' and 'colors'")
    if not MIN_CLASSES <= len(names) <= MAX_CLASSES:
        raise InputError(f"a label scheme has {MIN_CLASSES}..{MAX_CLASSES} labels, got {len(names)}")
    if len(colors) != len(names):
        raise InputError(f"the label scheme has {len(names)} names but {len(colors)} colours")
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise InputError("every label name must be a non-empty string")
    rgb = [tuple(c) if isinstance(c, list) else () for c in colors]
    bad = [i for i, c in enumerate(rgb)
           if len(c) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c)]
    if bad:
        raise InputError(f"colours must be [r, g, b] integers 0..255; label(s) {bad[:10]} are not")
    for what, values in (("names", names), ("colours", rgb)):
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            raise InputError(f"label {what} must be distinct; repeated: {', '.join(repeated[:10])}")
    return LabelScheme(name.strip(), tuple(names), tuple(rgb))


def check_scheme_change(old: LabelScheme | None, new: LabelScheme, in_use: set[int]) -> None:
    """InputError naming the labels in use that `new` would remove or move (see the module)."""
    if old is None:
        if in_use and max(in_use) >= new.num_classes:
            raise InputError(f"stored label maps use labels up to {max(in_use)}; the scheme needs at least "
                             f"{max(in_use) + 1} labels")
        return
    removed = sorted(i for i in in_use if i >= new.num_classes)
    if removed:
        listed = ", ".join(f"{old.names[i]!r} ({i})" for i in removed if i < old.num_classes)
        raise InputError(f"cannot remove labels used in annotations: {listed}; delete or repaint those first")
    moved = [i for i in sorted(in_use) if old.names[i] in new.names and new.names.index(old.names[i]) != i]
    # an index in use taking the name of another old label: a removal or reorder shifted it in
    moved += [i for i in sorted(in_use) if i not in moved and new.names[i] != old.names[i] and new.names[i] in old.names
              and old.names.index(new.names[i]) != i]
    if moved:
        listed = ", ".join(f"{old.names[i]!r} (index {i})" for i in moved)
        raise InputError(f"cannot remove or reorder labels used in annotations: {listed} would change meaning; "
                         "append new labels at the end, or repaint those annotations first")


def save_scheme(bundle: Bundle, scheme: LabelScheme) -> Bundle:
    """Write `scheme` as the bundle's label scheme (see the module), the previous one first copied
    to user_dir/backup/label_scheme-<UTC time>.json; returns the re-read bundle."""
    if bundle.labels is not None:
        write_json(bundle.user_dir / "backup" / f"label_scheme-{stamp(utc_now())}.json", bundle.labels.to_json())
    if bundle.packaged:
        write_json(bundle.user_dir / USER_SCHEME, scheme.to_json())
    else:
        manifest = read_manifest(bundle.path)
        manifest["label_scheme"] = scheme.to_json()
        write_manifest(bundle.path, manifest)
    return open_bundle(bundle.path)
