"""Physical blur and noise models of a bright-field microscope.

Lengths are in metres. The defaults describe a small mobile microscope: a
0.25 numerical-aperture objective in air (``refractive_index=1``), green
light (550 nm) and a camera pixel that maps to 0.5 µm in the sample plane,
which samples the in-focus Airy pattern at about the Nyquist rate
(``wavelength / (4 * numerical_aperture)`` = 0.55 µm). With these values the
depth of field, ``wavelength * refractive_index / numerical_aperture**2``,
is about 8.8 µm.

References
----------
.. [1] M. Born and E. Wolf, *Principles of Optics*, 7th ed., Cambridge
       University Press, 1999, section 8.8 (the three-dimensional light
       distribution near focus).
.. [2] S. J. Yang, M. Berndl, D. M. Ando, M. Barch, A. Narayanaswamy,
       E. Christiansen, S. Hoyer, C. Roat, J. Hung, C. T. Rueden,
       A. Shankar, S. Finkbeiner and P. Nelson, "Assessing microscope image
       focus quality with deep learning", BMC Bioinformatics 19:77, 2018.
"""

from functools import lru_cache

import numpy as np

from mmdf_bench.errors import InvalidInputError

DEFAULT_WAVELENGTH = 0.55e-6
DEFAULT_NUMERICAL_APERTURE = 0.25
DEFAULT_REFRACTIVE_INDEX = 1.0
DEFAULT_PIXEL_SIZE = 0.5e-6
DEFAULT_PHOTONS = 2000.0
DEFAULT_READ_NOISE = 3.0


@lru_cache(maxsize=64)
def _legendre_nodes(num_nodes):
    from scipy.special import roots_legendre

    nodes, weights = roots_legendre(num_nodes)
    # Map [-1, 1] onto the pupil radius [0, 1].
    return (nodes + 1) / 2, weights / 2


def defocus_profile(
    radius,
    defocus,
    *,
    wavelength=DEFAULT_WAVELENGTH,
    numerical_aperture=DEFAULT_NUMERICAL_APERTURE,
    refractive_index=DEFAULT_REFRACTIVE_INDEX,
    num_nodes=None,
):
    """Unnormalised intensity of the scalar paraxial defocus PSF at given radii.

    Evaluates ``|∫0^1 J0(k NA r ρ) exp(-i k z NA² ρ² / (2 n)) ρ dρ|²`` with
    ``k = 2π / wavelength`` by Gauss–Legendre quadrature over the pupil
    radius ρ. In focus (``z = 0``) this is ``(J1(v) / v)²`` with
    ``v = k NA r``, i.e. the Airy pattern divided by 4.

    Parameters
    ----------
    radius : array_like
        Distances from the optical axis in the sample plane (metres).
    defocus : float
        Distance of the object from the focal plane (metres); the sign does
        not matter for an aberration-free system.
    wavelength, numerical_aperture, refractive_index : float, optional
        Vacuum wavelength (metres), objective NA and immersion index.
    num_nodes : int, optional
        Quadrature nodes. By default enough to resolve the oscillations of
        both the Bessel function and the defocus phase over the pupil.

    Returns
    -------
    intensity : ndarray of float64, shaped like `radius`

    References
    ----------
    .. [1] Born and Wolf, *Principles of Optics*, section 8.8.1.
    """
    from scipy.special import j0

    radius = np.asarray(radius, dtype=np.float64)
    wavenumber = 2 * np.pi / wavelength
    v = wavenumber * numerical_aperture * radius
    u = wavenumber * defocus * numerical_aperture**2 / refractive_index
    if num_nodes is None:
        # Each unit of v or u adds about 1/π oscillation over the pupil; a
        # few nodes per oscillation give ~1e-10 accuracy.
        largest_v = float(v.max(initial=0.0))
        num_nodes = 32 + int(np.ceil(largest_v + abs(u)))
    rho, weights = _legendre_nodes(num_nodes)
    pupil = weights * rho * np.exp(-0.5j * u * rho**2)
    amplitude = j0(v.reshape(-1, 1) * rho) @ pupil
    return (np.abs(amplitude) ** 2).reshape(radius.shape)


def geometric_blur_radius(
    defocus, *, numerical_aperture=DEFAULT_NUMERICAL_APERTURE, refractive_index=DEFAULT_REFRACTIVE_INDEX
):
    """Radius (metres) of the paraxial geometric blur disc: ``|z| NA / n``."""
    return abs(defocus) * numerical_aperture / refractive_index


@lru_cache(maxsize=256)
def _defocus_psf_cached(defocus, wavelength, numerical_aperture, refractive_index, pixel_size, size, oversample):
    if size is None:
        # The geometric disc plus two diffraction widths (λ/NA, ~3.3 Airy
        # radii) holds all but a few per cent of the energy.
        reach = (
            geometric_blur_radius(defocus, numerical_aperture=numerical_aperture, refractive_index=refractive_index)
            + 2 * wavelength / numerical_aperture
        )
        half = int(np.ceil(reach / pixel_size))
        size = 2 * half + 1
    # Sub-pixel sample positions, in units of 1 / (2 * oversample) pixel, as
    # integers so that equal radii are found exactly (keeps the PSF symmetric).
    pixel = np.arange(size) - size // 2
    offset = 2 * np.arange(oversample) + 1 - oversample
    steps = (2 * oversample * pixel[:, None] + offset[None, :]).ravel()
    squared = steps[:, None] ** 2 + steps[None, :] ** 2
    unique, inverse = np.unique(squared, return_inverse=True)
    radii = np.sqrt(unique) * pixel_size / (2 * oversample)
    profile = defocus_profile(
        radii,
        defocus,
        wavelength=wavelength,
        numerical_aperture=numerical_aperture,
        refractive_index=refractive_index,
    )
    fine = profile[inverse].reshape(squared.shape)
    # Each camera pixel integrates the intensity over its area.
    psf = fine.reshape(size, oversample, size, oversample).sum(axis=(1, 3))
    psf /= psf.sum()
    psf.flags.writeable = False
    return psf


def defocus_psf(
    defocus,
    *,
    wavelength=DEFAULT_WAVELENGTH,
    numerical_aperture=DEFAULT_NUMERICAL_APERTURE,
    refractive_index=DEFAULT_REFRACTIVE_INDEX,
    pixel_size=DEFAULT_PIXEL_SIZE,
    size=None,
    oversample=3,
):
    """Point-spread function of a defocused bright-field microscope on a pixel grid.

    The scalar paraxial model of Born & Wolf, as used by Yang et al. (2018)
    to simulate out-of-focus microscope images: see `defocus_profile`.

    Parameters
    ----------
    defocus : float
        Object distance from the focal plane (metres).
    wavelength : float, optional
        Vacuum wavelength (metres); default 550 nm.
    numerical_aperture : float, optional
        Default 0.25, a typical low-magnification objective of a mobile
        microscope.
    refractive_index : float, optional
        Of the immersion medium; default 1 (air).
    pixel_size : float, optional
        Camera pixel size projected onto the sample (metres); default 0.5 µm.
    size : int, optional
        Odd side length in pixels. By default large enough for the geometric
        blur disc plus two diffraction widths (``λ / NA``).
    oversample : int, optional
        Samples per pixel side; each pixel averages ``oversample²`` point
        values, as a sensor pixel integrates light over its area.

    Returns
    -------
    psf : ndarray of float64, shape (size, size)
        Non-negative, sums to 1, symmetric under flips and transposition.

    References
    ----------
    .. [1] Born and Wolf, *Principles of Optics*, section 8.8.
    .. [2] Yang et al., "Assessing microscope image focus quality with deep
           learning", BMC Bioinformatics 19:77, 2018.
    """
    if size is not None and (int(size) != size or size < 1 or size % 2 == 0):
        raise InvalidInputError(f"PSF size must be a positive odd integer, got {size}")
    if not (numerical_aperture > 0 and wavelength > 0 and pixel_size > 0 and refractive_index > 0):
        raise InvalidInputError("wavelength, numerical aperture, pixel size and refractive index must be positive")
    if numerical_aperture > refractive_index:
        raise InvalidInputError(
            f"numerical aperture {numerical_aperture} exceeds the refractive index {refractive_index}"
        )
    if int(oversample) != oversample or oversample < 1:
        raise InvalidInputError(f"oversample must be a positive integer, got {oversample}")
    psf = _defocus_psf_cached(
        abs(float(defocus)),
        float(wavelength),
        float(numerical_aperture),
        float(refractive_index),
        float(pixel_size),
        None if size is None else int(size),
        int(oversample),
    )
    return psf.copy()


def defocus_kernel(defocus, **options):
    """Kernel that turns an in-focus micrograph, at its native resolution, into the same field at `defocus`.

    The synthetic datasets start from sharp micrographs (`mmdf_bench.data.sources`),
    which already show their own microscope's in-focus blur. Blurring them
    again with the in-focus PSF of the default optics (an Airy disc of
    2.7 pixels radius, 2.25 pixels r.m.s.) would make every simulated "in
    focus" image softer than any sharp micrograph a user brings, and a
    model trained on such data calls sharp micrographs out of focus. So the
    in-focus plane is the source itself (the identity kernel) and a plane
    at defocus z is the source blurred by `defocus_psf` at z, as Yang et
    al. (2018) defocused their in-focus images. The diffraction part of
    that PSF then adds to the source's own in-focus blur: at the 6 µm of the
    first defocus level the geometric disc (3 pixels radius) already
    exceeds it.

    Parameters
    ----------
    defocus : float
        Metres from focus; 0 gives the 1x1 identity kernel.
    **options
        Passed to `defocus_psf`.

    Returns
    -------
    kernel : ndarray of float64, odd-sized, summing to 1

    References
    ----------
    .. [1] Yang et al., "Assessing microscope image focus quality with deep
           learning", BMC Bioinformatics 19:77, 2018.
    """
    if float(defocus) == 0.0:
        return np.ones((1, 1))
    return defocus_psf(defocus, **options)


def gaussian_psf(sigma, *, size=None):
    """Normalised isotropic Gaussian PSF, a cheap stand-in for `defocus_psf`.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels; 0 gives a single-pixel delta.
    size : int, optional
        Odd side length; default ``2 * ceil(3 * sigma) + 1``.

    Returns
    -------
    psf : ndarray of float64, shape (size, size), summing to 1
    """
    if sigma < 0:
        raise InvalidInputError(f"sigma must be non-negative, got {sigma}")
    if size is None:
        size = 2 * int(np.ceil(3 * sigma)) + 1
    if int(size) != size or size < 1 or size % 2 == 0:
        raise InvalidInputError(f"PSF size must be a positive odd integer, got {size}")
    offsets = np.arange(size) - size // 2
    if sigma == 0:
        profile = (offsets == 0).astype(np.float64)
    else:
        profile = np.exp(-0.5 * (offsets / sigma) ** 2)
    psf = np.outer(profile, profile)
    return psf / psf.sum()


def blur(image, psf):
    """Convolve an image with a PSF, reflecting the image at its borders.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Float image; each channel is blurred with the same PSF.
    psf : ndarray, shape (h, w)
        Odd-sized kernel.

    Returns
    -------
    blurred : ndarray of float32, shaped like `image`, clipped to [0, 1]
    """
    from scipy.signal import fftconvolve

    image = np.asarray(image, dtype=np.float32)
    psf = np.asarray(psf, dtype=np.float64)
    if psf.ndim != 2 or psf.shape[0] % 2 == 0 or psf.shape[1] % 2 == 0:
        raise InvalidInputError(f"the PSF must be a 2-D array of odd sizes, got shape {psf.shape}")
    if image.ndim not in (2, 3):
        raise InvalidInputError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    half_rows, half_cols = psf.shape[0] // 2, psf.shape[1] // 2
    padding = [(half_rows, half_rows), (half_cols, half_cols)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image.astype(np.float64), padding, mode="reflect")
    kernel = psf.reshape(psf.shape + (1,) * (image.ndim - 2))
    blurred = fftconvolve(padded, kernel, mode="valid", axes=(0, 1))
    # FFT round-off can step a hair outside the input range.
    return np.clip(blurred, 0.0, 1.0).astype(np.float32)


def blur_many(image, psfs):
    """Blur one image with several PSFs, sharing its Fourier transform.

    Gives the same result as ``[blur(image, psf) for psf in psfs]`` (to
    float32 round-off), about twice as fast for many PSFs.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    psfs : sequence of ndarray
        Odd-sized 2-D kernels, possibly of different sizes.

    Returns
    -------
    blurred : ndarray of float32, shape (len(psfs), H, W[, C]), clipped to [0, 1]
    """
    from scipy import fft

    image = np.asarray(image, dtype=np.float32)
    psfs = [np.asarray(psf, dtype=np.float64) for psf in psfs]
    for psf in psfs:
        if psf.ndim != 2 or psf.shape[0] % 2 == 0 or psf.shape[1] % 2 == 0:
            raise InvalidInputError(f"the PSF must be a 2-D array of odd sizes, got shape {psf.shape}")
    if image.ndim not in (2, 3):
        raise InvalidInputError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    half_rows = max(psf.shape[0] for psf in psfs) // 2
    half_cols = max(psf.shape[1] for psf in psfs) // 2
    padding = [(half_rows, half_rows), (half_cols, half_cols)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image, padding, mode="reflect")
    shape = padded.shape[:2]
    spectrum = fft.rfft2(padded, axes=(0, 1))
    rows, cols = image.shape[:2]
    results = []
    for psf in psfs:
        # Centre every kernel in the largest support: the circular convolution
        # of the padded image is then exact on the same central window.
        kernel = np.zeros(shape, dtype=np.float32)
        top = half_rows - psf.shape[0] // 2
        left = half_cols - psf.shape[1] // 2
        kernel[top : top + psf.shape[0], left : left + psf.shape[1]] = psf
        kernel_spectrum = fft.rfft2(kernel)
        if image.ndim == 3:
            kernel_spectrum = kernel_spectrum[..., None]
        full = fft.irfft2(spectrum * kernel_spectrum, s=shape, axes=(0, 1))
        results.append(full[2 * half_rows : 2 * half_rows + rows, 2 * half_cols : 2 * half_cols + cols])
    return np.clip(np.stack(results), 0.0, 1.0).astype(np.float32)


def add_sensor_noise(image, *, rng, photons=DEFAULT_PHOTONS, read_noise=DEFAULT_READ_NOISE):
    """Add camera noise: photon (Poisson) shot noise and Gaussian read noise.

    Parameters
    ----------
    image : ndarray
        Float image in [0, 1]; 1 means `photons` photo-electrons.
    rng : numpy.random.Generator
        The only source of randomness.
    photons : float, optional
        Photo-electrons collected at full scale. The default (2000) suits
        the small pixels of a phone camera: about 36 dB PSNR at mid-grey.
    read_noise : float, optional
        Standard deviation of the read noise, in electrons.

    Returns
    -------
    noisy : ndarray of float32, clipped to [0, 1]

    References
    ----------
    .. [1] EMVA Standard 1288, *Standard for Characterization of Image
           Sensors and Cameras*, release 4.0, 2021 (linear camera model).
    """
    if photons <= 0 or read_noise < 0:
        raise InvalidInputError(f"photons must be positive and read noise non-negative, got {photons}, {read_noise}")
    image = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    electrons = rng.poisson(image * photons).astype(np.float64)
    if read_noise > 0:
        electrons += rng.normal(0.0, read_noise, size=image.shape)
    return np.clip(electrons / photons, 0.0, 1.0).astype(np.float32)
