"""Synthetic bright-field multi-focus stacks with a known all-in-focus image.

Each sample is a crop of a bundled specimen image (`mmdf_bench.data.sources`)
laid on a smooth random relief and imaged at N focal planes through the
defocus PSF of `mmdf_bench.data.optics`, then degraded by camera noise.
Everything follows from the dataset seed and the sample id, so samples are
generated on demand and identical on every machine.

References
----------
.. [1] Born and Wolf, *Principles of Optics*, section 8.8.
.. [2] Yang et al., "Assessing microscope image focus quality with deep
       learning", BMC Bioinformatics 19:77, 2018.
"""

import hashlib
from typing import ClassVar

import numpy as np

from mmdf_bench.data import optics
from mmdf_bench.data.base import Dataset
from mmdf_bench.data.sources import source_images
from mmdf_bench.errors import InvalidInputError

#: z step between focal planes (metres): about the depth of field of the
#: default optics (λ n / NA² = 8.8 µm), the step a microscopist would pick.
PLANE_SPACING = 8e-6
#: Defocus levels at which the crop is blurred; pixels interpolate between them.
NUM_LEVELS = 8

_SPLIT_CODES = {"test": 0, "train": 1}


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


def render_stack(image, depth, plane_depths, *, depth_range, rng, num_levels=NUM_LEVELS, noise=True, **optics_options):
    """Image a specimen with relief `depth` at several focal planes.

    The space-variant defocus blur is approximated as in layered
    depth-of-field rendering: the image is blurred at `num_levels` defocus
    distances evenly spread over ``[0, depth_range]``, and each pixel
    interpolates linearly between the two levels around its own defocus
    ``|depth - plane_depth| * depth_range``.

    Parameters
    ----------
    image : ndarray, shape (H, W[, 3])
        Sharp specimen, float in [0, 1].
    depth : ndarray, shape (H, W)
        Relief in [0, 1] (fraction of `depth_range`).
    plane_depths : sequence of float
        Focal plane positions in [0, 1].
    depth_range : float
        Physical height (metres) of depth 0 to depth 1.
    rng : numpy.random.Generator
        Drives the sensor noise.
    num_levels : int, optional
    noise : bool, optional
        Add photon and read noise (`optics.add_sensor_noise`) to the planes.
    **optics_options
        Passed to `optics.defocus_psf` (wavelength, numerical_aperture, ...).

    Returns
    -------
    stack : ndarray of float32, shape (N, H, W[, 3])
    reference : ndarray of float32, shape (H, W[, 3])
        The noise-free image blurred by the in-focus PSF: what a microscope
        of unlimited depth of field would record.
    """
    if num_levels < 2:
        raise InvalidInputError(f"need at least 2 defocus levels, got {num_levels}")
    levels = np.linspace(0.0, depth_range, num_levels)
    blurred = optics.blur_many(image, [optics.defocus_psf(z, **optics_options) for z in levels])
    rows, cols = np.indices(depth.shape)
    planes = []
    for plane_depth in plane_depths:
        position = np.abs(depth - plane_depth) * (num_levels - 1)
        lower = np.minimum(position.astype(np.intp), num_levels - 2)
        fraction = (position - lower).astype(np.float32)
        if image.ndim == 3:
            fraction = fraction[..., None]
        plane = (1 - fraction) * blurred[lower, rows, cols] + fraction * blurred[lower + 1, rows, cols]
        planes.append(optics.add_sensor_noise(plane, rng=rng) if noise else plane)
    return np.stack(planes).astype(np.float32), blurred[0]


class SyntheticBrightfieldFusion(Dataset):
    """Multi-focus z-stacks rendered from bundled bright-field images.

    Each source image is cut in two halves along its width: test crops come
    from the left half and train crops from the right half, so the two
    splits never share a pixel of specimen. Within a split, crops of one
    source may overlap.

    Parameters
    ----------
    root : ignored
        Nothing is read from disk.
    seed : int, optional
        Changes every sample.
    num_test, num_train : int, optional
        Samples per split (ids ``test-000``, ``train-000``, ...).
    size : int, optional
        Side of the square crops; at most half the width of the smallest
        source image (256).
    min_planes, max_planes : int, optional
        Each sample has a uniformly drawn number of planes in this range.
    """

    name: ClassVar[str] = "synthetic-brightfield-fusion"
    task: ClassVar[str] = "fusion"
    summary: ClassVar[str] = (
        "bright-field z-stacks rendered with a physical defocus PSF, with an all-in-focus reference"
    )
    citation: ClassVar[str] = (
        "Defocus model: M. Born and E. Wolf, Principles of Optics, 7th ed., section 8.8; as used by "
        "S. J. Yang et al., BMC Bioinformatics 19:77 (2018). Source images: scikit-image data "
        "(S. van der Walt et al., PeerJ 2:e453, 2014)."
    )
    licence: ClassVar[str] = "generated; source images CC0 or without known copyright restrictions"
    version: ClassVar[str] = "1"
    card: ClassVar[str] = "synthetic-brightfield-fusion.md"

    def __init__(self, *, root=None, seed=0, num_test=48, num_train=96, size=256, min_planes=2, max_planes=5):
        super().__init__(root=root, seed=seed)
        if not 2 <= min_planes <= max_planes:
            raise InvalidInputError(
                f"{self.name}: need 2 <= min_planes <= max_planes, got {min_planes} and {max_planes}"
            )
        if num_test < 0 or num_train < 0:
            raise InvalidInputError(f"{self.name}: sample counts must be non-negative")
        self.num_test = int(num_test)
        self.num_train = int(num_train)
        self.size = int(size)
        self.min_planes = int(min_planes)
        self.max_planes = int(max_planes)
        narrowest = min(min(image.shape[0], image.shape[1] // 2) for image in source_images().values())
        if not 8 <= self.size <= narrowest:
            raise InvalidInputError(
                f"{self.name}: crop size must lie in [8, {narrowest}] so that test and train crops "
                f"come from separate halves of the source images, got {size}"
            )

    def sample_ids(self, split):
        if split not in _SPLIT_CODES:
            raise InvalidInputError(f"{self.name}: unknown split {split!r}; use 'train' or 'test'")
        count = self.num_test if split == "test" else self.num_train
        return [f"{split}-{index:03d}" for index in range(count)]

    def describe(self):
        description = super().describe()
        description["options"] = {
            "size": self.size,
            "min_planes": self.min_planes,
            "max_planes": self.max_planes,
            "plane_spacing_um": PLANE_SPACING * 1e6,
            "num_levels": NUM_LEVELS,
        }
        return description

    def _parse(self, sample_id):
        split, _, number = str(sample_id).partition("-")
        if split in _SPLIT_CODES and number.isdigit():
            index = int(number)
            if index < len(self.sample_ids(split)) and sample_id == f"{split}-{index:03d}":
                return split, index
        raise InvalidInputError(
            f"{self.name}: unknown sample id {sample_id!r}; ids are test-000..test-{self.num_test - 1:03d} "
            f"and train-000..train-{self.num_train - 1:03d}"
        )

    def _rng(self, sample_id):
        digest = hashlib.sha256(sample_id.encode()).digest()
        return np.random.default_rng([int(self.seed), int.from_bytes(digest[:8], "little")])

    def _crop_box(self, split, rng, source_name):
        """Draw a crop ``(row, col)`` inside the half of the source reserved for `split`."""
        height, width = source_images()[source_name].shape[:2]
        half = width // 2
        first_col = 0 if split == "test" else half
        last_col = half if split == "test" else width
        row = int(rng.integers(0, height - self.size + 1))
        col = first_col + int(rng.integers(0, last_col - first_col - self.size + 1))
        return row, col

    def generate(self, sample_id):
        """Return ``(sample, depth_map)``; `load` keeps only the sample.

        The depth map (float32 in [0, 1], shape (size, size)) is the relief
        the stack was rendered from, in the orientation of the stack.
        """
        from mmdf_bench.tasks.fusion import FusionSample

        split, index = self._parse(sample_id)
        rng = self._rng(sample_id)
        names = list(source_images())
        # Cycling through the sources keeps every split balanced between them.
        source_name = names[index % len(names)]
        row, col = self._crop_box(split, rng, source_name)
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
        stack, reference = render_stack(crop, depth, plane_depths, depth_range=depth_range, rng=rng)

        metadata = {
            "source_image": source_name,
            "crop": {"row": row, "col": col, "size": self.size, "rot90": turns, "flip": flip},
            "plane_depths": [round(float(value), 6) for value in plane_depths],
            "plane_z_um": [round(float(value) * depth_range * 1e6, 4) for value in plane_depths],
            "depth_range_um": round(depth_range * 1e6, 4),
            "depth_mean": float(depth.mean()),
            "depth_std": float(depth.std()),
            "depth_median": float(np.median(depth)),
            "reference": "noise-free, blurred by the in-focus PSF",
            "optics": {
                "wavelength_um": optics.DEFAULT_WAVELENGTH * 1e6,
                "numerical_aperture": optics.DEFAULT_NUMERICAL_APERTURE,
                "refractive_index": optics.DEFAULT_REFRACTIVE_INDEX,
                "pixel_size_um": optics.DEFAULT_PIXEL_SIZE * 1e6,
                "photons": optics.DEFAULT_PHOTONS,
                "read_noise": optics.DEFAULT_READ_NOISE,
            },
        }
        sample = FusionSample(
            stack=stack,
            sample_id=sample_id,
            reference=reference,
            group=f"{source_name}-{split}-crop{index:03d}",
            metadata=metadata,
            source=f"{self.name}:{sample_id}",
        )
        return sample, depth

    def load(self, sample_id):
        return self.generate(sample_id)[0]

    def depth_map(self, sample_id):
        """Return the relief (float32 in [0, 1]) that `sample_id` was rendered from."""
        return self.generate(sample_id)[1]
