"""Server paths out of what clients read: messages name files relative to the bundle or the
vector library, never by their absolute path on the server."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

# An absolute POSIX path of two or more parts, or a Windows drive path, not inside a word ('a/b', '../x').
ABSOLUTE = re.compile(r"(?<![\w.~/\\-])(?:/[^\s'\"/\\,;:()]+){2,}/?|(?<![\w])[A-Za-z]:\\[^\s'\",;()]+")


class Redactor:
    """`redactor(text)`: each known directory (`roots`: path -> what to show instead) replaced,
    longest first; any other absolute path shortened to its last part."""

    def __init__(self, roots: Mapping[Path, str]):
        pairs = {}
        for path, shown in roots.items():
            for form in {str(path), str(Path(path).resolve())}:
                pairs.setdefault(form, shown)
        self.roots = sorted(pairs.items(), key=lambda kv: -len(kv[0]))

    def __call__(self, text: str) -> str:
        for path, shown in self.roots:
            text = text.replace(path, shown)
        return ABSOLUTE.sub(lambda m: re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], text)
