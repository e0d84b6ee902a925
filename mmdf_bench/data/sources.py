"""Sharp source images for the synthetic datasets, shipped inside installed packages.

Every bundled image of an installed package that can pass for a bright-field
specimen is used; nothing is downloaded, so the default benchmark runs
offline. scikit-image reads these files from its own package folder (its
pooch cache is only consulted for images that are *not* bundled, and none of
those is used here). Each source image is one independent specimen: the
synthetic datasets cut their train, validation and test fields from
disjoint parts of it, and the bootstrap resamples source images, never
fields or crops (`mmdf_bench.data.layout`).

``immunohistochemistry`` (``skimage.data.immunohistochemistry``)
    Colonic glands, immunohistochemistry (DAB) with haematoxylin
    counterstain, bright field, acquired at the Center for Microscopy And
    Molecular Imaging (CMMI); 512x512 RGB. "No known copyright
    restrictions" (scikit-image documentation).
``gravel`` (``skimage.data.gravel``)
    Grey gravel texture from CC0Textures (Gravel04), CC0; 512x512. A
    granular structure standing in for a dense smear of particles.
``grass`` (``skimage.data.grass``)
    Grey grass texture from DeviantArt ("Grass 01" by linolafett), CC0;
    512x512. A fibrous structure standing in for fibres or hyphae.
``brick`` (``skimage.data.brick``)
    Grey brick-wall texture from CC0Textures (Bricks25), CC0; 512x512.
    Inverted, the mortar becomes thin stained walls around pale cells, as
    in a plant epidermis.
``hubble_deep_field`` (``skimage.data.hubble_deep_field``)
    The Hubble eXtreme Deep Field (NASA, public domain); 872x1000 RGB.
    Its luminance inverted, the galaxies become sparse stained particles on
    clear glass, as in a thin smear.

The grey images are rendered as if they were a haematoxylin-stained
specimen seen in bright field: darker texture means more stain, and the
transmitted light follows the Beer–Lambert law with the haematoxylin colour
vector of Ruifrok & Johnston.

Left out on purpose, with the reason:

- ``cell`` (a quantitative phase image, CC0) and ``moon``: almost
  featureless; 86 % and 81 % of their 84-pixel windows vary by less than the
  focus datasets' content threshold (luminance standard deviation 0.03), so
  they give no focus cue.
- ``retina`` (a fundus photograph, 1411x1411): smooth except for a few
  vessels; 63 % of its windows inside the fundus fall below that threshold.
- ``microaneurysms`` (102x102): too small for disjoint train, validation and
  test fields.
- ``coins`` (303x384) and every photograph or drawing (``astronaut``,
  ``camera``, ``coffee``, ``chelsea``, ``rocket``, ``motorcycle_*``, ``horse``,
  ``logo``, ``page``, ``text``, ``clock_motion``, ``chessboard_*``, ``color``,
  ``phantom``, ``lfw_subset``; matplotlib's ``grace_hopper``; scikit-learn's
  ``china`` and ``flower``; pyiqa's calibration and test photographs): they do
  not look like a specimen, and the small ones cannot hold three disjoint
  splits.
- ``skin``, ``human_mitosis``, ``cells3d`` and similar are not bundled: they
  are downloaded on first use.

References
----------
.. [1] S. van der Walt et al., "scikit-image: image processing in Python",
       PeerJ 2:e453, 2014. :doi:`10.7717/peerj.453`
.. [2] A. C. Ruifrok and D. A. Johnston, "Quantification of histochemical
       staining by color deconvolution", Analytical and Quantitative Cytology
       and Histology 23(4): 291-299, 2001.
"""

from functools import lru_cache

import numpy as np

from mmdf_bench.images import to_gray

#: Name -> (scikit-image function, how the image is made RGB): "rgb" as it is,
#: "stain" grey rendered as stain (dark = dense), "inverted-stain" the
#: luminance inverted first (bright = dense).
SOURCES = {
    "immunohistochemistry": ("immunohistochemistry", "rgb"),
    "gravel": ("gravel", "stain"),
    "grass": ("grass", "stain"),
    "brick": ("brick", "inverted-stain"),
    "hubble_deep_field": ("hubble_deep_field", "inverted-stain"),
}

#: Short provenance and licence notes, for dataset cards and metadata.
PROVENANCE = {
    "immunohistochemistry": "scikit-image data.immunohistochemistry: IHC of colonic glands, CMMI; "
    "no known copyright restrictions",
    "gravel": "scikit-image data.gravel: CC0Textures Gravel04, CC0; rendered as a haematoxylin stain",
    "grass": "scikit-image data.grass: DeviantArt 'Grass 01' by linolafett, CC0; rendered as a haematoxylin stain",
    "brick": "scikit-image data.brick: CC0Textures Bricks25, CC0; inverted and rendered as a haematoxylin stain",
    "hubble_deep_field": "scikit-image data.hubble_deep_field: Hubble eXtreme Deep Field, NASA, public domain; "
    "luminance inverted and rendered as a haematoxylin stain",
}

# Optical density of the most stained pixel; exp(-2 * 0.7) leaves ~25 % of
# the green light, a dark but not saturated stain.
_MAX_OPTICAL_DENSITY = 2.0


def stain_render(gray, *, max_optical_density=_MAX_OPTICAL_DENSITY):
    """Render a grey texture as a haematoxylin-stained bright-field image.

    Parameters
    ----------
    gray : ndarray, shape (H, W)
        Float image in [0, 1]; 0 is rendered as the densest stain.
    max_optical_density : float, optional
        Stain density (natural log) reached where `gray` is 0.

    Returns
    -------
    rgb : ndarray of float32, shape (H, W, 3), in [0, 1]

    References
    ----------
    .. [1] Ruifrok and Johnston, "Quantification of histochemical staining
           by color deconvolution", 2001.
    """
    from skimage.color import rgb_from_hed

    colour = rgb_from_hed[0] / np.linalg.norm(rgb_from_hed[0])
    density = max_optical_density * (1.0 - np.asarray(gray, dtype=np.float64))
    return np.exp(-density[..., None] * colour).astype(np.float32)


def _load(function_name, mode):
    import skimage.data

    image = np.asarray(getattr(skimage.data, function_name)())
    image = image.astype(np.float32) / np.iinfo(image.dtype).max
    if mode == "rgb":
        return image[..., :3]
    grey = to_gray(image[..., :3]) if image.ndim == 3 else image
    return stain_render(1.0 - grey if mode == "inverted-stain" else grey)


@lru_cache(maxsize=1)
def source_images():
    """Return the sharp source images, float32 RGB in [0, 1], keyed by name.

    The arrays are read-only and shared between calls: copy before editing.

    Returns
    -------
    images : dict of str -> ndarray, shape (H, W, 3)
    """
    images = {}
    for name, (function_name, mode) in SOURCES.items():
        image = np.ascontiguousarray(_load(function_name, mode))
        image.flags.writeable = False
        images[name] = image
    return images
