"""Edit region (Eq. 1): union of Q_edit pixels before/after, square buffer; scipy as the referee."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from editgan.edit.region import dilate, edit_region, infer_parts
from editgan.errors import InputError


def reference_region(y, y_edited, parts, buffer):
    out = []
    for a, b in zip(y.numpy(), y_edited.numpy()):
        union = np.isin(a, parts) | np.isin(b, parts)
        if buffer:
            union = ndimage.binary_dilation(union, structure=np.ones((2 * buffer + 1,) * 2, bool), border_value=0)
        out.append(union)
    return np.stack(out)[:, None].astype(np.float32)


@pytest.mark.parametrize("buffer", [0, 1, 2, 5])
def test_region_matches_scipy_dilation_of_union(buffer):
    gen = torch.Generator().manual_seed(buffer)
    y = torch.randint(0, 6, (2, 23, 31), generator=gen)
    y = torch.where(torch.rand(y.shape, generator=gen) < 0.9, torch.zeros_like(y), y)  # sparse parts
    y_edited = torch.where(torch.rand(y.shape, generator=gen) < 0.05, torch.full_like(y, 4), y)
    r = edit_region(y, y_edited, [2, 4], buffer, num_classes=6)
    assert r.dtype == torch.float32 and r.shape == (2, 1, 23, 31)
    np.testing.assert_array_equal(r.numpy(), reference_region(y, y_edited, [2, 4], buffer))


def test_region_takes_parts_from_both_maps_and_buffer_is_square():
    y = torch.zeros(1, 20, 20, dtype=torch.long)
    y_edited = y.clone()
    y[0, 5, 5] = 3  # part only before the edit
    y_edited[0, 14, 12] = 3  # part only after the edit
    y[0, 10, 10] = 1  # another label, not in Q_edit
    r = edit_region(y, y_edited, [3], buffer=2)[0, 0]
    assert r[3:8, 3:8].all() and r[12:17, 10:15].all()
    assert r.sum() == 2 * 25  # two disjoint 5x5 squares (corners included: square element)
    assert r[10, 10] == 0


def test_empty_region_and_buffer_zero():
    y = torch.zeros(1, 8, 8, dtype=torch.long)
    assert edit_region(y, y, [1], buffer=5).sum() == 0
    y[0, 0, 0] = 1
    assert edit_region(y, y, [1], buffer=0).sum() == 1


def test_dilate_accepts_bool_and_clips_at_borders():
    m = torch.zeros(1, 1, 5, 5, dtype=torch.bool)
    m[0, 0, 0, 0] = True
    d = dilate(m, 1)
    assert d.dtype == torch.float32 and d.sum() == 4


@pytest.mark.parametrize("args", [
    (torch.zeros(8, 8, dtype=torch.long), torch.zeros(8, 8, dtype=torch.long), [1]),  # no batch dim
    (torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), [1]),  # float labels
    (torch.zeros(1, 8, 8, dtype=torch.long), torch.zeros(1, 8, 9, dtype=torch.long), [1]),  # shapes differ
    (torch.zeros(1, 8, 8, dtype=torch.long), torch.zeros(1, 8, 8, dtype=torch.long), []),  # empty Q_edit
    (torch.zeros(1, 8, 8, dtype=torch.long), torch.zeros(1, 8, 8, dtype=torch.long), [1.0]),  # non-int label
])
def test_region_rejects_bad_inputs(args):
    with pytest.raises(InputError):
        edit_region(*args)


def test_region_validates_labels_against_num_classes():
    y = torch.zeros(1, 4, 4, dtype=torch.long)
    with pytest.raises(InputError):
        edit_region(y, y, [7], num_classes=5)
    y[0, 0, 0] = 9
    with pytest.raises(InputError):
        edit_region(y, y, [1], num_classes=5)
    with pytest.raises(InputError):
        edit_region(y, y, [1], buffer=-1)


def test_infer_parts_takes_the_smaller_part_of_each_repainted_pair():
    skin, mouth, hair = 1, 2, 3
    y = torch.zeros(12, 12, dtype=torch.long)
    y[2:10, 2:10] = skin
    y[6:8, 4:8] = mouth
    y[0, :] = hair
    grown = y.clone()
    grown[5, 4:8] = mouth  # skin -> mouth: mouth (8 + 12 px over both maps) is smaller than skin (56 + 52)
    assert infer_parts(y, grown) == [mouth]
    shrunk = y.clone()
    shrunk[7, 4:8] = skin  # mouth -> skin: still the mouth
    assert infer_parts(y, shrunk) == [mouth]
    both = grown.clone()
    both[0, :6] = 0  # hair -> background too: hair (12 + 6 px) beats background (68 + 74)
    assert infer_parts(y, both) == [mouth, hair]
    assert infer_parts(y[None], grown[None]) == [mouth]
    with pytest.raises(InputError, match="nothing was repainted"):
        infer_parts(y, y.clone())
    with pytest.raises(InputError, match="differ in shape"):
        infer_parts(y, y[:5])
