"""Synthetic bright-field multi-focus stacks with a known depth map and reference.

Each sample is a square field of a bundled specimen image
(`mmdf_bench.data.sources`) laid on a smooth random relief and imaged at N
focal planes: the in-focus plane shows the source at its native resolution
and defocus blurs it with the PSF of `mmdf_bench.data.optics`
(`optics.defocus_kernel`). The reference is what a perfect fusion of the
given planes shows: at every pixel, the plane focused nearest to the
specimen's true depth (`nearest_plane_fusion`), so a method that knows the
depth map (``oracle-depth``) matches it exactly and any other method is
scored on how well it fuses, not on how well it denoises. The default
planes are noise-free; the ``-noisy`` variant adds camera noise to each
plane, and its reference picks from those noisy planes.

Everything follows from the dataset seed and the sample id, so samples are
generated on demand and identical on every machine.

References
----------
.. [1] Born and Wolf, *Principles of Optics*, section 8.8.
.. [2] Yang et al., "Assessing microscope image focus quality with deep
       learning", BMC Bioinformatics 19:77, 2018.
"""

import hashlib
from functools import lru_cache
from typing import ClassVar

import numpy as np

from mmdf_bench.data import optics
from mmdf_bench.data.base import Dataset, check_split
from mmdf_bench.data.layout import samples_per_field, split_counts, split_fields, split_mask
from mmdf_bench.data.patches import window_positions
from mmdf_bench.data.sources import source_images
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import quantise

#: z step between focal planes (metres): about the depth of field of the
#: default optics (λ n / NA² = 8.8 µm), the step a microscopist would pick.
PLANE_SPACING = 8e-6
#: Defocus levels at which the crop is blurred; pixels interpolate between them.
NUM_LEVELS = 8
#: Side of the fields (and of the samples): 16 fields in a 512-pixel source.
FIELD_SIZE = 128
#: Share of the fields of the smallest source given to test and to
#: validation (7 and 2 of 16 at the default size); every source gives as many.
TEST_FRACTION = 7 / 16
VALIDATION_FRACTION = 2 / 16
#: Bits per sample of the stored planes (an 8-bit camera).
BIT_DEPTH = 8


def smooth_depth_map(shape, *, rng):
    """Draw a smooth random relief, rescaled to span [0, 1] exactly.

    A cubic upsampling of a coarse 3x3 to 6x6 grid of Gaussian noise gives a
    few hills and valleys; a random tilt (up to half the weight) mimics a
    slide that is not perpendicular to the optical axis.

    Parameters
    ----------
    shape : tuple of int
        (H, W).
    rng : numpy.random.Generator

    Returns
    -------
    depth : ndarray of float32, shape `shape`, min 0 and max 1
    """
    from scipy.ndimage import zoom

    rows, cols = shape
    coarse_size = int(rng.integers(3, 7))
    coarse = rng.standard_normal((coarse_size, coarse_size))
    hills = zoom(coarse, (rows / coarse_size, cols / coarse_size), order=3, mode="reflect", grid_mode=True)
    hills = hills[:rows, :cols]
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:rows, 0:cols]
    tilt = np.cos(angle) * x / cols + np.sin(angle) * y / rows
    weight = rng.uniform(0.0, 0.5)
    depth = (1 - weight) * _rescale(hills) + weight * _rescale(tilt)
    return _rescale(depth).astype(np.float32)


def _rescale(array):
    low, high = array.min(), array.max()
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def render_stack(image, depth, plane_depths, *, depth_range, num_levels=NUM_LEVELS, **optics_options):
    """Image a specimen with relief `depth` at several focal planes (noise-free).

    The space-variant defocus blur is approximated as in layered
    depth-of-field rendering: the image is blurred at `num_levels` defocus
    distances evenly spread over ``[0, depth_range]`` (`optics.defocus_kernel`:
    the source itself at 0), and each pixel interpolates linearly between
    the two levels around its own defocus ``|depth - plane_depth| * depth_range``.

    Parameters
    ----------
    image : ndarray, shape (H, W[, 3])
        Sharp specimen, float in [0, 1], taken to be in focus at its native resolution.
    depth : ndarray, shape (H, W)
        Relief in [0, 1] (fraction of `depth_range`).
    plane_depths : sequence of float
        Focal plane positions in [0, 1].
    depth_range : float
        Physical height (metres) of depth 0 to depth 1.
    num_levels : int, optional
    **optics_options
        Passed to `optics.defocus_psf` (wavelength, numerical_aperture, ...) through `optics.defocus_kernel`.

    Returns
    -------
    stack : ndarray of float32, shape (N, H, W[, 3])
    """
    if num_levels < 2:
        raise InvalidInputError(f"need at least 2 defocus levels, got {num_levels}")
    levels = np.linspace(0.0, depth_range, num_levels)
    blurred = optics.blur_many(image, [optics.defocus_kernel(z, **optics_options) for z in levels])
    rows, cols = np.indices(depth.shape)
    planes = []
    for plane_depth in plane_depths:
        position = np.abs(depth - plane_depth) * (num_levels - 1)
        lower = np.minimum(position.astype(np.intp), num_levels - 2)
        fraction = (position - lower).astype(np.float32)
        if image.ndim == 3:
            fraction = fraction[..., None]
        planes.append((1 - fraction) * blurred[lower, rows, cols] + fraction * blurred[lower + 1, rows, cols])
    return np.stack(planes).astype(np.float32)


def nearest_plane(depth_map, plane_depths):
    """Index ``(H, W)`` of the plane focused nearest to the true depth of each pixel (ties: the first)."""
    plane_depths = np.asarray(plane_depths, dtype=np.float64)
    distance = np.abs(np.asarray(depth_map, dtype=np.float64)[None] - plane_depths[:, None, None])
    return distance.argmin(axis=0)


def nearest_plane_fusion(stack, depth_map, plane_depths):
    """The perfect fusion of `stack` for a known relief: each pixel from the plane focused nearest to it.

    Where two planes are equally far from the specimen both show the same
    defocus, so the seams of the selection are invisible in noise-free planes.

    Parameters
    ----------
    stack : ndarray, shape (N, H, W[, 3])
    depth_map : ndarray, shape (H, W)
    plane_depths : sequence of float
        Focal depth of each plane, in the units of `depth_map`.

    Returns
    -------
    fused : ndarray of float32, shape (H, W[, 3])
    """
    stack = np.asarray(stack, dtype=np.float32)
    index = nearest_plane(depth_map, plane_depths)
    if stack.ndim == 4:
        index = index[..., None]
    return np.take_along_axis(stack, index[None], axis=0)[0]


@lru_cache(maxsize=8)
def _train_positions(source, size):
    """Top-left corners of every `size` crop of `source` lying wholly in its train fields."""
    image = source_images()[source]
    shapes = {name: item.shape for name, item in source_images().items()}
    test, validation = split_counts(shapes, size, test_fraction=TEST_FRACTION,
                                    validation_fraction=VALIDATION_FRACTION)
    fields = split_fields(shapes, size, test=test, validation=validation)["train"]
    return window_positions(split_mask(fields, source, image.shape), size)


class SyntheticBrightfieldFusion(Dataset):
    """Multi-focus z-stacks rendered from bundled bright-field images, noise-free.

    Each source image is cut into fields of `size` pixels
    (`mmdf_bench.data.layout`): the same number per source goes to test (7 of
    16 at the default size) and to validation (2 of 16), the rest to train.
    A test or validation sample is one whole field, so samples of one source
    never overlap; a train sample is a crop anywhere inside the train fields
    of its source. Sources take turns (sample *i* of a split comes from
    source *i* mod 5 while it has fields left). The bootstrap group of a
    sample is its source image.

    Parameters
    ----------
    root : ignored
        Nothing is read from disk.
    seed : int, optional
        Changes every sample (orientation, relief, planes), never the split.
    num_test, num_validation : int, optional
        Samples of these splits, at most (and by default) one per field.
    num_train : int, optional
        Train samples (ids ``train-000``, ...).
    size : int, optional
        Side of the fields and samples.
    min_planes, max_planes : int, optional
        Each sample has a uniformly drawn number of planes in this range.
    """

    name: ClassVar[str] = "synthetic-brightfield-fusion"
    task: ClassVar[str] = "fusion"
    summary: ClassVar[str] = (
        "noise-free bright-field z-stacks rendered with a physical defocus PSF; reference = perfect "
        "fusion of the planes (true depth)"
    )
    citation: ClassVar[str] = (
        "Defocus model: M. Born and E. Wolf, Principles of Optics, 7th ed., section 8.8; as used by "
        "S. J. Yang et al., BMC Bioinformatics 19:77 (2018). Source images: scikit-image data "
        "(S. van der Walt et al., PeerJ 2:e453, 2014)."
    )
    licence: ClassVar[str] = "generated; source images CC0, public domain or without known copyright restrictions"
    version: ClassVar[str] = "2"
    card: ClassVar[str] = "synthetic-brightfield-fusion.md"
    provides: ClassVar[tuple] = ("depth-oracle",)
    #: Camera noise on every plane (the ``-noisy`` variant).
    noise: ClassVar[bool] = False

    def __init__(self, *, root=None, seed=0, num_test=None, num_validation=None, num_train=96, size=FIELD_SIZE,
                 min_planes=2, max_planes=5):
        super().__init__(root=root, seed=seed)
        if not 2 <= min_planes <= max_planes:
            raise InvalidInputError(
                f"{self.name}: need 2 <= min_planes <= max_planes, got {min_planes} and {max_planes}"
            )
        if not 0 <= num_train <= 999:
            raise InvalidInputError(f"{self.name}: num_train must lie in [0, 999], got {num_train}")
        if int(size) != size or size < 8:
            raise InvalidInputError(f"{self.name}: size must be an integer of at least 8, got {size}")
        self.size = int(size)
        self.min_planes = int(min_planes)
        self.max_planes = int(max_planes)
        shapes = {name: image.shape for name, image in source_images().items()}
        try:
            self.fields_per_source = split_counts(shapes, self.size, test_fraction=TEST_FRACTION,
                                                  validation_fraction=VALIDATION_FRACTION)
        except InvalidInputError as error:
            raise InvalidInputError(f"{self.name}: {error}") from None
        test, validation = self.fields_per_source
        self._fields = split_fields(shapes, self.size, test=test, validation=validation)
        self.num_test = self._count("test", num_test)
        self.num_validation = self._count("validation", num_validation)
        self.num_train = int(num_train)

    def _count(self, split, requested):
        return samples_per_field(self._fields[split], split, requested, dataset_name=self.name, word="field")

    def sample_ids(self, split):
        count = {"test": self.num_test, "validation": self.num_validation,
                 "train": self.num_train}[check_split(self, split)]
        return [f"{split}-{index:03d}" for index in range(count)]

    def fields(self, split):
        """The `mmdf_bench.data.layout.Field` of each sample of `split` (None for train: crops roam its fields)."""
        if check_split(self, split) == "train":
            return [None] * self.num_train
        return list(self._fields[split][:len(self.sample_ids(split))])

    def describe(self):
        description = super().describe()
        description["options"] = {
            "size": self.size,
            "min_planes": self.min_planes,
            "max_planes": self.max_planes,
            "noise": self.noise,
            "plane_spacing_um": PLANE_SPACING * 1e6,
            "num_levels": NUM_LEVELS,
            "sources": list(source_images()),
            "test_fields_per_source": self.fields_per_source[0],
            "validation_fields_per_source": self.fields_per_source[1],
        }
        return description

    def _parse(self, sample_id):
        split, _, number = str(sample_id).partition("-")
        if split in ("test", "validation", "train") and number.isdigit():
            index = int(number)
            if index < len(self.sample_ids(split)) and sample_id == f"{split}-{index:03d}":
                return split, index
        ranges = ", ".join(f"{split}-000..{split}-{len(self.sample_ids(split)) - 1:03d}"
                           for split in ("test", "validation", "train") if self.sample_ids(split))
        raise InvalidInputError(f"{self.name}: unknown sample id {sample_id!r}; ids are {ranges}")

    def _rng(self, sample_id):
        digest = hashlib.sha256(sample_id.encode()).digest()
        return np.random.default_rng([int(self.seed), int.from_bytes(digest[:8], "little")])

    def _crop_box(self, split, index, rng):
        """``(source, field name, row, col)`` of sample `index` of `split`."""
        if split != "train":
            field = self._fields[split][index]
            return field.source, field.name, field.top, field.left
        names = list(source_images())
        source = names[index % len(names)]
        positions = _train_positions(source, self.size)
        row, col = (int(value) for value in positions[rng.integers(len(positions))])
        return source, None, row, col

    def generate(self, sample_id):
        """Return ``(sample, depth_map)``; the sample carries the depth map too.

        The depth map (float32 in [0, 1], shape (size, size)) is the relief
        the stack was rendered from, in the orientation of the stack.
        """
        from mmdf_bench.tasks.fusion import FusionSample

        split, index = self._parse(sample_id)
        rng = self._rng(sample_id)
        source_name, field_name, row, col = self._crop_box(split, index, rng)
        crop = source_images()[source_name][row : row + self.size, col : col + self.size]
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        crop = np.rot90(crop, turns)
        if flip:
            crop = crop[:, ::-1]
        crop = np.ascontiguousarray(crop)

        num_planes = int(rng.integers(self.min_planes, self.max_planes + 1))
        depth = smooth_depth_map(crop.shape[:2], rng=rng)
        # Planes one step apart, shifted together by up to a quarter step.
        shift = rng.uniform(-0.25, 0.25)
        plane_depths = (np.arange(num_planes) + 0.5 + shift) / num_planes
        depth_range = num_planes * PLANE_SPACING
        stack = render_stack(crop, depth, plane_depths, depth_range=depth_range)
        if self.noise:  # drawn last: the noisy variant shows the same scenes as the default
            stack = np.stack([optics.add_sensor_noise(plane, rng=rng) for plane in stack])
        # stored as an 8-bit camera stores it: the reference, and the oracle's output, lie on
        # the grid the runner rounds every fused image to, so the oracle matches it exactly
        stack = quantise(stack, bits=BIT_DEPTH)
        reference = nearest_plane_fusion(stack, depth, plane_depths)

        metadata = {
            "source_image": source_name,
            "field": field_name,
            "crop": {"row": row, "col": col, "size": self.size, "rot90": turns, "flip": flip},
            "plane_depths": [round(float(value), 6) for value in plane_depths],
            "plane_z_um": [round(float(value) * depth_range * 1e6, 4) for value in plane_depths],
            "depth_range_um": round(depth_range * 1e6, 4),
            "depth_mean": float(depth.mean()),
            "depth_std": float(depth.std()),
            "depth_median": float(np.median(depth)),
            "reference": "each pixel from the plane focused nearest to the true depth"
                         + (" (noisy planes)" if self.noise else " (noise-free planes)"),
            "optics": {
                "wavelength_um": optics.DEFAULT_WAVELENGTH * 1e6,
                "numerical_aperture": optics.DEFAULT_NUMERICAL_APERTURE,
                "refractive_index": optics.DEFAULT_REFRACTIVE_INDEX,
                "pixel_size_um": optics.DEFAULT_PIXEL_SIZE * 1e6,
                "noise": ({"photons": optics.DEFAULT_PHOTONS, "read_noise": optics.DEFAULT_READ_NOISE}
                          if self.noise else None),
            },
        }
        sample = FusionSample(
            stack=stack,
            sample_id=sample_id,
            reference=reference,
            group=source_name,
            metadata=metadata,
            source=f"{self.name}:{sample_id}",
            bit_depth=BIT_DEPTH,
            depth_map=depth,
            plane_depths=plane_depths,
        )
        return sample, depth

    def load(self, sample_id):
        return self.generate(sample_id)[0]

    def depth_map(self, sample_id):
        """Return the relief (float32 in [0, 1]) that `sample_id` was rendered from."""
        return self.generate(sample_id)[1]


class SyntheticBrightfieldFusionNoisy(SyntheticBrightfieldFusion):
    """The same stacks as `SyntheticBrightfieldFusion` with camera noise on every plane.

    The reference is the perfect fusion of the *noisy* planes (each pixel
    from the noisy plane focused nearest to it): a method is rewarded for
    selecting the right plane, not for removing noise, which no reference
    of a real microscope would show either.
    """

    name: ClassVar[str] = "synthetic-brightfield-fusion-noisy"
    summary: ClassVar[str] = (
        "the synthetic-brightfield-fusion stacks with camera noise; reference = perfect fusion of the noisy planes"
    )
    noise: ClassVar[bool] = True
