"""Sharp source images for the synthetic datasets, shipped inside installed packages.

Only images bundled in the scikit-image wheel are used: nothing is
downloaded, so the default benchmark runs offline. scikit-image reads these
files from its own package folder (its pooch cache is only consulted for
images that are *not* bundled, and none of those is used here).

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

The two grey textures are rendered as if they were a haematoxylin-stained
specimen seen in bright field: darker texture means more stain, and the
transmitted light follows the Beer–Lambert law with the haematoxylin colour
vector of Ruifrok & Johnston. Other bundled images were left out on purpose:
``cell`` (a quantitative phase image, CC0) is almost featureless and gives no
focus cue; photographs (astronaut, coffee, ...) do not look like specimens;
``skin``, ``human_mitosis``, ``cells3d`` and similar are downloaded on first
use.

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

#: Name -> (scikit-image function, how the image is made RGB).
SOURCES = {
    "immunohistochemistry": ("immunohistochemistry", "rgb"),
    "gravel": ("gravel", "stain"),
    "grass": ("grass", "stain"),
}

#: Short provenance and licence notes, for dataset cards and metadata.
PROVENANCE = {
    "immunohistochemistry": "scikit-image data.immunohistochemistry: IHC of colonic glands, CMMI; "
    "no known copyright restrictions",
    "gravel": "scikit-image data.gravel: CC0Textures Gravel04, CC0; rendered as a haematoxylin stain",
    "grass": "scikit-image data.grass: DeviantArt 'Grass 01' by linolafett, CC0; rendered as a haematoxylin stain",
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
    if mode == "stain":
        return stain_render(image)
    return image[..., :3]


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
