"""Synthetic fast-scan deblurring pairs from bundled bright-field images.

Each sample imitates one frame of a phone held to a microscope eyepiece: a
specimen region (`mmdf_bench.data.sources`) seen through a circular field
stop with a dark surround (`field_of_view.apply_vignette`). The frame is
preprocessed as the MMDF authors preprocess real frames: the circular field
of view is detected (`field_of_view.circular_field_of_view`), the square
around it is cropped and resized to 256x256. That is the sharp target; the
blurred input is the target convolved with a fast-scan blur kernel
(`blur_kernels`) and degraded by camera noise (`optics.add_sensor_noise`).
Everything follows from the dataset seed and the sample id.

References
----------
.. [1] A. Kornilova et al., "Deep learning framework for mobile
       microscopy", IEEE ISBI 2021, arXiv:2007.13701.
.. [2] G. Boracchi and A. Foi, "Modeling the performance of image
       restoration from motion blur", IEEE TIP 21(8): 3502-3517, 2012.
.. [3] O. Kupyn et al., "DeblurGAN: blind motion deblurring using
       conditional adversarial networks", CVPR 2018.
"""

import hashlib
from typing import ClassVar

import numpy as np

from mmdf_bench.data import blur_kernels, optics
from mmdf_bench.data.base import Dataset, check_split
from mmdf_bench.data.layout import samples_per_field, split_counts, split_fields
from mmdf_bench.data.field_of_view import apply_vignette, circular_field_of_view, crop_to_field_of_view
from mmdf_bench.data.sources import source_images
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import quantise

#: Side of the sharp and blurred images, as in the MMDF preprocessing.
IMAGE_SIZE = 256
#: Bits per sample of the stored blurred and sharp images (and so of every restored one).
BIT_DEPTH = 8
#: Side of the square regions (fields) cut from the sources: 9 in a
#: 512-pixel source, 25 in the Hubble field (`mmdf_bench.data.layout`).
REGION_SIZE = 170
#: Share of the regions of the smallest source given to test and validation
#: (4 and 2 of 9); every source gives as many, the rest is train.
TEST_FRACTION = 4 / 9
VALIDATION_FRACTION = 2 / 9
#: Field-stop radius as a fraction of the region side: the whole disc stays
#: inside the region (with its soft edge and the centre jitter), so the
#: field holds specimen everywhere.
RADIUS_RANGE = (0.43, 0.47)
#: Largest offset (pixels) of the field centre from the centre of the frame.
CENTER_JITTER = 3.0
#: Dark frame around the region, pixels above/below; the frame is 4:3.
FRAME_MARGIN = 8

#: Blur kinds (with the Gaussian scale) and their share of every split:
#: half fast-scan lines, a quarter random trajectories, an eighth each
#: small and large Gaussian.
BLUR_PATTERN = ((("linear-motion", None),) * 4 + (("trajectory-motion", None),) * 2
                + (("gaussian", "small"), ("gaussian", "large")))
BLUR_KINDS = ("linear-motion", "trajectory-motion", "gaussian")
#: Length of the fast-scan line (pixels of the 256-pixel image).
LINEAR_LENGTH_RANGE = (5.0, 21.0)
#: Angle of the scan axis (along the sensor rows) and its jitter, degrees.
SCAN_ANGLE = 0.0
SCAN_ANGLE_JITTER = 5.0
#: Path length of the random shake trajectories (pixels).
TRAJECTORY_LENGTH_RANGE = (8.0, 24.0)
#: Each Gaussian sigma is the nominal small or large one times a factor in this range.
GAUSSIAN_SIGMA_SPREAD = (0.8, 1.2)



def _digest(*parts):
    text = "/".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def draw_blur_kernel(kind, *, rng, scale=None):
    """Draw one kernel of the dataset's mixture.

    Parameters
    ----------
    kind : {"linear-motion", "trajectory-motion", "gaussian"}
    rng : numpy.random.Generator
    scale : {"small", "large"}, optional
        For Gaussian kernels; drawn with equal odds when omitted.

    Returns
    -------
    kernel : ndarray of float64, odd-sized, summing to 1
    parameters : dict
        What was drawn (lengths and angles in pixels and degrees).
    """
    if kind == "linear-motion":
        return blur_kernels.scan_motion_kernel(
            rng=rng, min_length=LINEAR_LENGTH_RANGE[0], max_length=LINEAR_LENGTH_RANGE[1],
            scan_angle=SCAN_ANGLE, angle_jitter=SCAN_ANGLE_JITTER, return_parameters=True)
    if kind == "trajectory-motion":
        length = float(rng.uniform(*TRAJECTORY_LENGTH_RANGE))
        return blur_kernels.random_trajectory_kernel(rng=rng, max_length=length, return_parameters=True)
    if kind == "gaussian":
        if scale is None:
            scale = "small" if rng.uniform() < 0.5 else "large"
        nominal = {"small": blur_kernels.SMALL_GAUSSIAN_SIGMA, "large": blur_kernels.LARGE_GAUSSIAN_SIGMA}.get(scale)
        if nominal is None:
            raise InvalidInputError(f"Gaussian scale must be 'small' or 'large', got {scale!r}")
        sigma = nominal * float(rng.uniform(*GAUSSIAN_SIGMA_SPREAD))
        return blur_kernels.gaussian_kernel(sigma), {"scale": scale, "sigma": sigma}
    raise InvalidInputError(f"unknown blur kind {kind!r}; known: {', '.join(BLUR_KINDS)}")


def phone_frame(region, *, rng):
    """Show a specimen region as a phone sees it through an eyepiece.

    The region is placed in a 4:3 frame with a dark margin and a circular
    field stop (`apply_vignette`: soft edge, gentle fall-off inside, 1-5 %
    light outside) lies inside it.

    Parameters
    ----------
    region : ndarray, shape (S, S, 3)
    rng : numpy.random.Generator

    Returns
    -------
    frame : ndarray of float32
    field_of_view : tuple of float
        The true ``(center_row, center_col, radius)`` in frame pixels.
    """
    side = region.shape[0]
    height = side + 2 * FRAME_MARGIN
    width = round(height * 4 / 3)
    top, left = FRAME_MARGIN, (width - side) // 2
    # Outside the region only the dark surround shows: a flat fill is enough.
    frame = np.empty((height, width, 3), dtype=np.float32)
    frame[...] = region.mean(axis=(0, 1))
    frame[top : top + side, left : left + side] = region
    center = (top + (side - 1) / 2 + rng.uniform(-CENTER_JITTER, CENTER_JITTER),
              left + (side - 1) / 2 + rng.uniform(-CENTER_JITTER, CENTER_JITTER))
    radius = float(rng.uniform(*RADIUS_RANGE) * side)
    frame = apply_vignette(frame, center=center, radius=radius, rng=rng)
    return frame, (float(center[0]), float(center[1]), radius)


def preprocess_frame(frame, *, size=IMAGE_SIZE):
    """The MMDF preprocessing: detect the circular field, crop the square around it, resize.

    Parameters
    ----------
    frame : ndarray, shape (H, W[, 3])
    size : int, optional

    Returns
    -------
    image : ndarray of float32, shape (size, size[, 3]), in [0, 1]
    field_of_view : tuple of float
        The detected ``(center_row, center_col, radius)``.
    """
    from skimage.transform import resize

    field_of_view = circular_field_of_view(frame)
    crop = crop_to_field_of_view(frame, field_of_view=field_of_view)
    # Channel by channel: a 3-D spline would also run along the colour
    # axis (identity there) at ten times the cost.
    channels = crop[..., None] if crop.ndim == 2 else crop
    image = np.stack([resize(channels[..., channel], (size, size), order=3, mode="reflect", anti_aliasing=True)
                      for channel in range(channels.shape[-1])], axis=-1)
    image = image[..., 0] if crop.ndim == 2 else image
    return np.clip(image, 0.0, 1.0).astype(np.float32), field_of_view


class SyntheticBrightfieldDeblur(Dataset):
    """Sharp/blurred 256x256 pairs from phone-microscope frames of bundled bright-field images.

    Regions: each source is cut into 170-pixel regions (`mmdf_bench.data.layout`);
    every source gives 4 regions to *test*, 2 to *validation* and the rest
    to *train*, so the splits share no specimen pixel. A test or validation
    sample is one whole region (one per region: samples of one specimen
    never overlap), the sources taking turns; train samples cycle through
    the train regions, sources in turn, each with its own orientation,
    field stop and kernel. A sample's ``group`` is its source image, which
    the bootstrap resamples; ``metadata["field"]`` names the region.

    Blur kinds follow `BLUR_PATTERN` exactly in every block of eight
    samples (order shuffled per split): 1/2 linear fast-scan motion, 1/4
    random-trajectory motion, 1/8 small and 1/8 large Gaussian.

    Parameters
    ----------
    root : ignored
    seed : int, optional
        Changes every sample, never which regions belong to which split.
    num_test, num_validation : int, optional
        At most (and by default) one per region of the split.
    num_train : int, optional
    noise : bool, optional
        Add photon and read noise to the blurred images (default). Without
        it, ``blurred == optics.blur(reference, psf)`` exactly.
    """

    name: ClassVar[str] = "synthetic-brightfield-deblur"
    task: ClassVar[str] = "deblur"
    summary: ClassVar[str] = (
        "256x256 bright-field phone-microscope crops blurred by fast-scan motion, shake trajectories "
        "and Gaussian kernels, with sharp targets and PSFs"
    )
    citation: ClassVar[str] = (
        "Preprocessing and blur kinds: A. Kornilova et al., IEEE ISBI 2021 (arXiv:2007.13701). Trajectories: "
        "G. Boracchi and A. Foi, IEEE TIP 21(8), 2012, as used by O. Kupyn et al., DeblurGAN, CVPR 2018. "
        "Source images: scikit-image data (S. van der Walt et al., PeerJ 2:e453, 2014)."
    )
    licence: ClassVar[str] = "generated; source images CC0, public domain or without known copyright restrictions"
    version: ClassVar[str] = "3"
    card: ClassVar[str] = "synthetic-brightfield-deblur.md"

    def __init__(self, *, root=None, seed=0, num_test=None, num_validation=None, num_train=200, noise=True):
        super().__init__(root=root, seed=seed)
        if not 0 <= num_train <= 999:
            raise InvalidInputError(f"{self.name}: num_train must lie in [0, 999], got {num_train}")
        self.noise = bool(noise)
        self.region_size = REGION_SIZE
        shapes = {name: image.shape for name, image in source_images().items()}
        test, validation = split_counts(shapes, REGION_SIZE, test_fraction=TEST_FRACTION,
                                        validation_fraction=VALIDATION_FRACTION)
        self._regions = split_fields(shapes, REGION_SIZE, test=test, validation=validation)
        self.num_test = self._count("test", num_test)
        self.num_validation = self._count("validation", num_validation)
        self.num_train = int(num_train)
        self._plans = {}

    def _count(self, split, requested):
        return samples_per_field(self._regions[split], split, requested, dataset_name=self.name, word="region")

    def sample_ids(self, split):
        count = {"test": self.num_test, "validation": self.num_validation,
                 "train": self.num_train}[check_split(self, split)]
        return [f"{split}-{index:03d}" for index in range(count)]

    def region_ids(self, split):
        """Return the ids ``<source>-r<row>c<col>`` of the regions (fields) of `split`."""
        return [region.name for region in self._regions[check_split(self, split)]]

    def describe(self):
        description = super().describe()
        description["options"] = {
            "image_size": IMAGE_SIZE,
            "region_size": self.region_size,
            "noise": self.noise,
            "blur_pattern": [kind if scale is None else f"{kind}-{scale}" for kind, scale in BLUR_PATTERN],
            "linear_length_px": list(LINEAR_LENGTH_RANGE),
            "trajectory_length_px": list(TRAJECTORY_LENGTH_RANGE),
            "gaussian_sigma_px": [blur_kernels.SMALL_GAUSSIAN_SIGMA, blur_kernels.LARGE_GAUSSIAN_SIGMA],
            "sources": list(source_images()),
            **{f"{split}_regions": len(self._regions[split]) for split in ("test", "validation", "train")},
        }
        return description

    def plan(self, split):
        """Return ``[(region, (blur_kind, gaussian_scale)), ...]`` for the samples of `split`, in id order.

        A region is a `mmdf_bench.data.layout.Field`; the scale is None except for Gaussian blur.
        """
        check_split(self, split)
        if split not in self._plans:
            rng = np.random.default_rng([int(self.seed), _digest("plan", split)])
            count = len(self.sample_ids(split))
            regions = list(self._regions[split][:count])  # one per region, sources in turn
            if split == "train":
                # sources in turn, then each source's regions in turn: the Hubble field's many
                # regions do not outweigh the other specimens
                names = list(source_images())
                own = [[region for region in self._regions["train"] if region.source == name] for name in names]
                regions = [own[index % len(names)][(index // len(names)) % len(own[index % len(names)])]
                           for index in range(count)]
            # Exact proportions in every block of eight, in a shuffled order.
            kinds = []
            for start in range(0, count, len(BLUR_PATTERN)):
                block = [BLUR_PATTERN[position] for position in rng.permutation(len(BLUR_PATTERN))]
                kinds += block[: count - start]
            self._plans[split] = [(regions[index % len(regions)], kinds[index]) for index in range(count)]
        return self._plans[split]

    def _parse(self, sample_id):
        split, _, number = str(sample_id).partition("-")
        if split in ("test", "validation", "train") and number.isdigit() \
                and sample_id == f"{split}-{int(number):03d}" and int(number) < len(self.sample_ids(split)):
            return split, int(number)
        ranges = ", ".join(f"{split}-000..{split}-{len(self.sample_ids(split)) - 1:03d}"
                           for split in ("test", "validation", "train") if self.sample_ids(split))
        raise InvalidInputError(f"{self.name}: unknown sample id {sample_id!r}; ids are {ranges}")

    def generate(self, sample_id):
        """Return ``(sample, frame)``: the pair and the phone frame its target was cut from."""
        from mmdf_bench.tasks.deblur import DeblurSample

        split, index = self._parse(sample_id)
        field, (kind, scale) = self.plan(split)[index]
        source = field.source
        rng = np.random.default_rng([int(self.seed), _digest("sample", sample_id)])
        region = field.crop(source_images()[source])
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        region = np.rot90(region, turns)
        region = np.ascontiguousarray(region[:, ::-1] if flip else region)

        frame, true_field = phone_frame(region, rng=rng)
        sharp, found_field = preprocess_frame(frame)
        # A camera stores both images at 8 bits, and the runner rounds every
        # restored image to its input's bits before scoring: on the same grid, a
        # perfect restoration scores perfectly and `identity` returns its input.
        sharp = quantise(sharp, bits=BIT_DEPTH)
        kernel, parameters = draw_blur_kernel(kind, rng=rng, scale=scale)
        blurred = optics.blur(sharp, kernel)
        if self.noise:
            blurred = optics.add_sensor_noise(blurred, rng=rng)
        blurred = quantise(blurred, bits=BIT_DEPTH)

        metadata = {
            "blur": kind,
            "kernel": {key: (round(value, 6) if isinstance(value, float) else value)
                       for key, value in parameters.items()},
            "psf_shape": list(kernel.shape),
            "source_image": source,
            "field": field.name,
            "region": {"row": field.top, "col": field.left, "size": field.size, "rot90": turns, "flip": flip},
            "field_of_view": {"true": [round(value, 3) for value in true_field],
                              "detected": [round(value, 3) for value in found_field]},
            "frame_shape": list(frame.shape[:2]),
            "noise": ({"photons": optics.DEFAULT_PHOTONS, "read_noise": optics.DEFAULT_READ_NOISE}
                      if self.noise else None),
        }
        sample = DeblurSample(
            blurred=blurred,
            reference=sharp,
            sample_id=sample_id,
            psf=kernel,
            group=source,
            metadata=metadata,
            source=f"{self.name}:{sample_id}",
        )
        return sample, frame

    def load(self, sample_id):
        return self.generate(sample_id)[0]
