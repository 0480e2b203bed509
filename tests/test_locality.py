"""Ground-truth locality metrics: the dilated parts region, change outside it, and mask IoU."""

import numpy as np
import pytest
import torch

from editgan.eval.locality import mask_iou, outside_change, parts_region


def test_parts_region_is_the_dilated_union_of_the_parts_in_all_maps():
    a = np.zeros((1, 9, 9), np.int64)
    b = np.zeros((1, 9, 9), np.int64)
    a[0, 2, 2] = 3  # part 3 in the first map
    b[0, 6, 6] = 4  # part 4 in the second
    b[0, 0, 8] = 5  # not an edited part
    region = parts_region([a, b], parts=[3, 4], dilation=1)
    expected = np.zeros((1, 9, 9), bool)
    expected[0, 1:4, 1:4] = expected[0, 5:8, 5:8] = True  # 3x3 squares (Chebyshev distance 1)
    np.testing.assert_array_equal(region.numpy(), expected)


def test_outside_change_averages_absolute_change_in_unit_range_outside_only():
    ref = torch.zeros(2, 3, 4, 4)
    edited = ref.clone()
    edited[0, :, 0, 0] = 1.0      # inside the region: ignored
    edited[0, 1, 3, 3] = -0.5     # outside: |change| 0.25 in [0, 1] units on one channel of one pixel
    edited[1] = 2.0               # everything changes by 1.0 in [0, 1] units
    region = torch.zeros(2, 4, 4, dtype=torch.bool)
    region[:, 0, 0] = True
    got = outside_change(edited, ref, region)
    assert got[0].item() == pytest.approx(0.25 / (15 * 3))
    assert got[1].item() == pytest.approx(1.0)


def test_outside_change_resizes_a_coarser_region():
    ref, edited = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    edited[:, :, :4, :4] = 2.0  # the top-left quarter changes by 1.0
    region = torch.zeros(1, 2, 2, dtype=torch.bool)
    region[0, 0, 0] = True       # the top-left quarter on a 2x2 grid
    assert outside_change(edited, ref, region).item() == pytest.approx(0.0)


def test_mask_iou_sums_over_images():
    pred = np.zeros((2, 4, 4), bool)
    true = np.zeros((2, 4, 4), bool)
    pred[0, :2, :2] = True       # 4 px, all correct
    true[0, :2, :2] = True
    pred[1, 0, :4] = True        # 4 px predicted, 2 of them true
    true[1, 0, :2] = True
    assert mask_iou(pred, true) == pytest.approx(6 / 8)
    assert np.isnan(mask_iou(np.zeros((1, 2, 2), bool), np.zeros((1, 2, 2), bool)))
