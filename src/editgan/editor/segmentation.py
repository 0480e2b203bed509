"""The Editor's segmentation: its two segmenters (loaded on first use), the label scheme, and label maps.

`segmenter` is the bundle's DatasetGAN ensemble, which edits, refinement and the uncertainty use;
`display_segmenter` is the bundle's distilled single pixel MLP when it carries a current one, else the
ensemble, and gives the label maps `segment` returns: about one member's cost instead of M. A tuned
view shares its parent's segmenters and scheme.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from editgan.bundle import open_bundle
from editgan.editor.core import EditorCore
from editgan.errors import CheckpointError, InputError
from editgan.inversion.optimize import EmbedResult
from editgan.labels import LabelScheme
from editgan.nn.segmenter import Segmentation, Segmenter, render_and_segment


class SegmentationMixin(EditorCore):
    """Segmenters, label scheme and part names, segmentations of latents."""

    @property
    def segmenter(self) -> Segmenter:
        """The bundle's segmenter (loaded on first use); MissingWeightsError if it has none."""
        if self._parent is not None:
            return self._parent.segmenter
        if self._segmenter is None:
            seg, scheme = self.bundle.segmenter(self.device)
            # the bundle's scheme (manifest, or a packaged bundle's user-edited one) is the one source of
            # truth: renames and added labels apply at once; the segmenter file's own only without one
            self._segmenter, self._scheme = seg.eval(), self._scheme or scheme
        return self._segmenter

    @property
    def display_segmenter(self) -> Segmenter:
        """The segmenter label maps are shown with: the bundle's distilled display segmenter when it
        carries one distilled from `segmenter` (see `Bundle.display_segmenter_dir`), else `segmenter`."""
        if self._parent is not None:
            return self._parent.display_segmenter
        if self._display is None:
            ensemble = self.segmenter
            loaded = self.bundle.display_segmenter(self.device)
            if loaded is None:
                self._display = ensemble
            else:
                seg, a, b = loaded[0].eval(), loaded[0].config, ensemble.config
                if (a.num_classes, a.out_size, a.feature_shapes) != (b.num_classes, b.out_size, b.feature_shapes):
                    raise CheckpointError(f"the display segmenter in {self.bundle.display_segmenter_dir} does not "
                                          "label like the bundle's segmenter (classes, label size or features differ)")
                self._display = seg
        return self._display

    def reload(self) -> None:
        """Re-read the bundle (manifest, label scheme) and drop the loaded segmenters, so that the next
        use loads the ones installed since (e.g. trained from annotations, or distilled)."""
        self.bundle = open_bundle(self.bundle.path)
        self._segmenter, self._display, self._scheme = None, None, self.bundle.labels

    @property
    def scheme(self) -> LabelScheme | None:
        """The label scheme: the bundle's (`Bundle.labels`), else its segmenter's once loaded, else None.
        It may name more labels than the segmenter predicts (labels added since it was trained)."""
        return self._parent.scheme if self._parent is not None else self._scheme

    def part_indices(self, parts: Sequence[str | int]) -> list[int]:
        """Label names (via the scheme) or indices -> indices; InputError for unknown names."""
        if isinstance(parts, (str, int)) or not parts:
            raise InputError(f"parts must be a non-empty list of label names or indices, got {parts!r}")
        k = self.segmenter.config.num_classes
        out = []
        for p in parts:
            if isinstance(p, str):
                if self.scheme is None:
                    raise InputError(f"bundle {self.bundle.path} has no label scheme; give parts as indices")
                out.append(self.scheme.index(p))
            elif isinstance(p, int) and not isinstance(p, bool) and 0 <= p < k:
                out.append(p)
            else:
                raise InputError(f"part {p!r} is not a label name or an index in [0, {k})")
        return out

    def part_names(self, indices: Sequence[int]) -> tuple[str, ...]:
        """Label indices -> names for an EditingVector (the index as text when there is no scheme)."""
        return tuple(self.scheme.names[i] if self.scheme else str(i) for i in indices)

    def segmentation(self, wplus: torch.Tensor | EmbedResult,
                     display: bool = False) -> tuple[torch.Tensor, Segmentation]:
        """(image [N, 3, H, W], the ensemble's Segmentation with probs, labels and uncertainty) in one
        synthesis pass; display=True: the display segmenter's instead (one member: zero uncertainty).
        A tuned EmbedResult is drawn (and its features read) from its G'."""
        editor, wplus = self._route(wplus)
        seg = editor.display_segmenter if display else editor.segmenter
        return render_and_segment(editor.generator, seg, wplus, dtype=self.compute_dtype)

    def segment(self, wplus: torch.Tensor | EmbedResult, uncertainty: bool = False):
        """Labels int64 [N, H', W'] by the display segmenter, or (labels, uncertainty [N, H', W'] in
        nats) both by the ensemble when asked."""
        seg = self.segmentation(wplus, display=not uncertainty)[1]
        return (seg.labels, seg.uncertainty) if uncertainty else seg.labels
