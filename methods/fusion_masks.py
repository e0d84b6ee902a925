"""Per-plane focus masks of a stack for the masked FuseGAN (no torch at import time).

A mask provider turns a stack ``(N, H, W[, 3])`` into soft masks
``(N, H, W)`` that are non-negative and sum to one over the planes: where a
plane is in focus its mask is near 1. The masked FuseGAN concatenates them
to its input and weighs its uL1 loss with them. Two providers exist, and
the method's name says which one it uses:

``harris``
    The modified Harris corner response of Madhu et al., exactly the masks
    of the classical ``harris-selection`` method
    (`mmdf_bench.baselines.fusion_selection.harris_focus_masks`).
``focus-model``
    The blurring model: the MMDF focus CNN (``mmdf-focus``,
    `mmdf_bench.methods.focus_cnn.MMDFFocusCNN`) grades overlapping 84 x 84 tiles of
    every plane; its expected defocus level, interpolated between tile
    centres, is lowest on the sharpest plane (`focus_model_masks`). The
    CNN is trained on the synthetic z-stacks (``synthetic-brightfield-zstack``)
    through the checkpoint cache, or read from a checkpoint file.

References
----------
.. [1] J. A. Noble, "Finding corners", Image and Vision Computing 6(2),
       121-128, 1988.
.. [2] A. Kornilova et al., "Deep learning framework for mobile microscopy",
       IEEE ISBI 2021 (arXiv:2007.13701).
.. [3] S. J. Yang et al., "Assessing microscope image focus quality with deep
       learning", BMC Bioinformatics 19:77, 2018.
"""

import numpy as np

from mmdf_bench.baselines._fusion_utils import check_option, gaussian_filter, one_hot_argmax
from mmdf_bench.baselines.fusion_selection import harris_focus_masks
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray, validate_stack

#: Dataset the focus CNN of the ``focus-model`` masks is trained on.
FOCUS_DATASET = "synthetic-brightfield-zstack"
FOCUS_METHOD = "mmdf-focus"


def expected_level_map(image, focus_method, *, stride=28):
    """Per-pixel expected defocus level of an image, from a focus CNN's overlapping tiles.

    The image is cut into tiles of the network's size (84) every `stride`
    pixels (plus a last row and column flush with the bottom and right
    edges), each tile gets the mean of its level distribution, and the
    values at the tile centres are interpolated bilinearly to every pixel
    (held constant beyond the outermost centres).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        At least one tile high and wide.
    focus_method : mmdf_bench.methods.focus_cnn.MMDFFocusCNN or similar
        Trained; provides ``patch_size`` and ``predict_levels(patches)``.
    stride : int
        Step between tiles.

    Returns
    -------
    ndarray of float32, shape (H, W)
        0 where the model is sure the image is in focus, K - 1 at the farthest level.
    """
    from scipy.ndimage import map_coordinates

    check_option("stride", stride, minimum=1)
    grey = to_gray(np.asarray(image, dtype=np.float32))
    tile = int(focus_method.patch_size)
    if grey.shape[0] < tile or grey.shape[1] < tile:
        raise InvalidInputError(f"focus-model masks need planes of at least {tile}x{tile} pixels "
                                f"(one focus-CNN tile), got {grey.shape[0]}x{grey.shape[1]}")
    rows, cols = (np.unique(np.r_[np.arange(0, side - tile + 1, stride), side - tile]) for side in grey.shape)
    tiles = np.stack([grey[r:r + tile, c:c + tile] for r in rows for c in cols])
    distributions = np.asarray(focus_method.predict_levels(tiles), dtype=np.float64)
    expected = (distributions @ np.arange(distributions.shape[1])).reshape(len(rows), len(cols))
    # tile centres sit at start + (tile - 1) / 2; find each pixel's fractional grid position
    centre = (tile - 1) / 2.0
    grid_rows = np.interp(np.arange(grey.shape[0]), rows + centre, np.arange(len(rows)))
    grid_cols = np.interp(np.arange(grey.shape[1]), cols + centre, np.arange(len(cols)))
    coordinates = np.meshgrid(grid_rows, grid_cols, indexing="ij")
    return map_coordinates(expected, coordinates, order=1, mode="nearest").astype(np.float32)


def focus_model_masks(stack, focus_method, *, stride=28, mask_sigma=3.0):
    """Soft focus masks of a stack from a focus CNN's per-pixel expected level.

    Each pixel goes to the plane of lowest expected defocus level
    (`expected_level_map`; ties to the first plane) and the binary maps are
    smoothed by a Gaussian of standard deviation `mask_sigma`, as for the
    Harris masks, so the masks still sum to one.

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        Planes of at least 84 x 84 pixels.
    focus_method : mmdf_bench.methods.focus_cnn.MMDFFocusCNN or similar
        Trained.
    stride : int
        Step between graded tiles.
    mask_sigma : float
        Smoothing of the decision maps (0: hard masks).

    Returns
    -------
    masks : ndarray of float32, shape (N, H, W)

    References
    ----------
    .. [1] A. Kornilova et al., "Deep learning framework for mobile
           microscopy", IEEE ISBI 2021 (arXiv:2007.13701).
    """
    stack = validate_stack(stack)
    check_option("mask_sigma", mask_sigma, minimum=0, integer=False)
    levels = np.stack([expected_level_map(plane, focus_method, stride=stride) for plane in stack])
    masks = np.stack([gaussian_filter(mask, mask_sigma) for mask in one_hot_argmax(-levels)])
    return (masks / masks.sum(axis=0)).astype(np.float32)


class HarrisMasks:
    """Masks from the modified Harris corner response (nothing to train)."""

    kind = "harris"

    def __init__(self, **options):
        self.options = dict(options)

    def prepare(self, *, profile, seed):
        """Nothing to train or load: the response is computed from the stack alone."""

    def masks(self, stack):
        return harris_focus_masks(stack, **self.options)

    def state_dict(self):
        return {"kind": self.kind, "options": dict(self.options)}

    def load_state_dict(self, state):
        _check_kind(state, self.kind)
        self.options = dict(state.get("options", {}))


class FocusModelMasks:
    """Masks from the MMDF focus CNN's blurring model.

    Parameters
    ----------
    checkpoint : str or Path, optional
        A saved ``mmdf-focus`` state to use instead of training through the cache.
    focus_method : MMDFFocusCNN, optional
        An already trained focus method (takes precedence over `checkpoint`).
    stride, mask_sigma
        See `focus_model_masks`.
    """

    kind = "focus-model"

    def __init__(self, *, checkpoint=None, focus_method=None, stride=28, mask_sigma=3.0):
        self.checkpoint = checkpoint
        self.stride, self.mask_sigma = stride, mask_sigma
        self._focus = focus_method
        self.record = None
        self._device, self._amp = None, False

    def set_device(self, device, *, amp=False):
        """Run the focus CNN on `device` (`mmdf_bench.devices.DeviceMethod.set_device`)."""
        self._device, self._amp = device, amp
        if self._focus is not None:
            self._focus.set_device(device, amp=amp)

    def _new_focus(self, profile):
        from mmdf_bench.methods.focus_cnn import MMDFFocusCNN

        focus = MMDFFocusCNN(profile=profile)
        if self._device is not None:
            focus.set_device(self._device, amp=self._amp)
        return focus

    def prepare(self, *, profile, seed):
        """Load or train the focus CNN (same profile and seed as the caller); return how."""
        if self._focus is not None:
            return self.record
        focus = self._new_focus(profile)
        if self.checkpoint is not None:
            from mmdf_bench.checkpoints import load_checkpoint

            state, _ = load_checkpoint(self.checkpoint, method_name=FOCUS_METHOD, profile=profile)
            focus.load_state_dict(state)
            self.record = {"checkpoint": str(self.checkpoint), "cached": True, "profile": profile}
        else:
            from mmdf_bench import registry
            from mmdf_bench.training import fit_or_load_on

            dataset = registry.datasets.create(FOCUS_DATASET)
            self.record = {**fit_or_load_on(focus, FOCUS_METHOD, dataset, seed=seed).as_dict(),
                           "trained_on": FOCUS_DATASET}
        self._focus = focus
        return self.record

    def masks(self, stack):
        if self._focus is None:
            raise InvalidInputError("focus-model masks need the focus CNN: prepare the provider "
                                    "or load a FuseGAN checkpoint first")
        return focus_model_masks(stack, self._focus, stride=self.stride, mask_sigma=self.mask_sigma)

    def state_dict(self):
        if self._focus is None:
            raise InvalidInputError("focus-model masks have no focus CNN to save")
        return {"kind": self.kind, "stride": self.stride, "mask_sigma": self.mask_sigma,
                "focus_profile": self._focus.profile, "focus": self._focus.state_dict()}

    def load_state_dict(self, state):
        _check_kind(state, self.kind)
        focus = self._new_focus(state.get("focus_profile", "cpu"))
        focus.load_state_dict(state["focus"])
        self._focus = focus
        self.stride, self.mask_sigma = state["stride"], state["mask_sigma"]


def _check_kind(state, kind):
    if state.get("kind") != kind:
        raise InvalidInputError(f"the checkpoint holds {state.get('kind')!r} masks, expected {kind!r}")


PROVIDERS = {HarrisMasks.kind: HarrisMasks, FocusModelMasks.kind: FocusModelMasks}


def mask_provider(kind, **options):
    """Build the mask provider called `kind` ('harris' or 'focus-model')."""
    if kind not in PROVIDERS:
        raise InvalidInputError(f"unknown mask provider {kind!r}; choose one of {', '.join(PROVIDERS)}")
    return PROVIDERS[kind](**options)
