"""The faster guided-filter fusion gives the output of the straightforward one.

`reference_fusion` is the implementation `fuse_guided_filter` had before it
was made faster (whole-array NumPy: stacked weights, ``np.argmax``,
``np.where``); the current one must stay within 1e-6 of it everywhere.
"""

import cv2
import numpy as np
import pytest
from scipy import ndimage

from mmdf_bench.baselines._fusion_utils import first_maximum, one_hot_argmax
from mmdf_bench.baselines.fusion_selection import fuse_guided_filter
from mmdf_bench.images import read_image, to_gray

TOLERANCE = 1e-6


def reference_fusion(stack, *, average_size=31, saliency_radius=5, saliency_sigma=5.0, base_radius=45,
                     base_eps=0.3, detail_radius=7, detail_eps=1e-6):
    stack = np.ascontiguousarray(stack, dtype=np.float32)
    gray = np.ascontiguousarray(to_gray(stack), dtype=np.float32)
    bases = np.stack([cv2.blur(plane, (average_size, average_size), borderType=cv2.BORDER_REFLECT)
                      for plane in stack])
    details = stack - bases
    size = 2 * saliency_radius + 1
    saliency = np.stack([cv2.GaussianBlur(np.abs(cv2.Laplacian(plane, cv2.CV_32F, ksize=1,
                                                               borderType=cv2.BORDER_REFLECT)),
                                          (size, size), saliency_sigma, borderType=cv2.BORDER_REFLECT)
                         for plane in gray])
    winner = np.argmax(saliency, axis=0)
    decision = (winner[None] == np.arange(len(stack))[:, None, None]).astype(np.float32)

    def refined(radius, eps):
        weights = np.stack([cv2.ximgproc.guidedFilter(guide, mask, radius, eps)
                            for guide, mask in zip(stack, decision)])
        weights = np.clip(weights, 0.0, None)
        total = weights.sum(axis=0)
        usable = total > 1e-6
        return np.where(usable, weights / np.where(usable, total, 1.0), decision)

    def blend(planes, weights):
        return np.sum((weights[..., None] if planes.ndim == 4 else weights) * planes, axis=0, dtype=np.float32)

    fused = blend(bases, refined(base_radius, base_eps)) + blend(details, refined(detail_radius, detail_eps))
    return np.clip(fused, 0.0, 1.0).astype(np.float32)


def focal_stack(count, *, colour, size=96, seed=0):
    """`count` planes of one texture, each sharp in its own vertical band and blurred elsewhere."""
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if colour else (size, size)
    texture = ndimage.gaussian_filter(rng.random(shape), sigma=(1.0, 1.0, 0)[:len(shape)])
    texture = (texture - texture.min()) / np.ptp(texture)
    blurred = ndimage.gaussian_filter(texture, sigma=(3.0, 3.0, 0)[:len(shape)])
    planes = []
    for index, columns in enumerate(np.array_split(np.arange(size), count)):
        plane = blurred.copy()
        plane[:, columns] = texture[:, columns]
        planes.append(plane)
    return np.stack(planes).astype(np.float32)


@pytest.mark.parametrize("count", [2, 3, 5])
@pytest.mark.parametrize("colour", [True, False])
def test_matches_the_reference_implementation(count, colour):
    stack = focal_stack(count, colour=colour, seed=count)
    fused = fuse_guided_filter(stack)
    assert np.abs(fused - reference_fusion(stack)).max() <= TOLERANCE


def test_matches_with_other_options_and_identical_planes():
    stack = focal_stack(3, colour=True, seed=9)
    options = {"average_size": 1, "base_radius": 3, "detail_radius": 2, "detail_eps": 1e-3}
    assert np.abs(fuse_guided_filter(stack, **options) - reference_fusion(stack, **options)).max() <= TOLERANCE
    same = np.repeat(stack[:1], 3, axis=0)  # ties everywhere: the first plane takes every pixel
    assert np.abs(fuse_guided_filter(same) - reference_fusion(same)).max() <= TOLERANCE


def test_input_is_left_unchanged():
    stack = focal_stack(2, colour=True)
    before = stack.copy()
    fuse_guided_filter(stack, average_size=1)
    fuse_guided_filter(stack)
    np.testing.assert_array_equal(stack, before)


def test_matches_on_lytro(shared_data):
    for name in ("01", "07", "15"):
        planes = [read_image(shared_data / "lytro" / f"lytro-{name}-{side}.jpg") for side in "AB"]
        stack = np.stack(planes)
        assert np.abs(fuse_guided_filter(stack) - reference_fusion(stack)).max() <= TOLERANCE


def test_first_maximum_is_argmax_with_its_tie_rule():
    rng = np.random.default_rng(3)
    activity = rng.integers(0, 4, size=(5, 30, 40)).astype(np.float32)  # many ties
    np.testing.assert_array_equal(first_maximum(activity), np.argmax(activity, axis=0))
    masks = one_hot_argmax(activity)
    assert masks.dtype == np.float32 and np.all(masks.sum(axis=0) == 1)
