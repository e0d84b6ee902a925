"""A sharp micrograph at its native resolution is in focus (issue 13, section 4).

The README's ``mmdf-bench focus-map`` on scikit-image's ``ihc.png`` called 32
of 36 tiles "level 10, out of focus": the synthetic z-stacks blurred their
in-focus plane with the microscope's in-focus PSF, so the CNN learned that
"in focus" is softer than any sharp micrograph and took the extra detail for
dust (artefacts are taught as level 10). The in-focus plane is now the source
itself (`optics.defocus_kernel`). A short training of the MMDF CNN on the
embedded data must call the sharp image in focus, and the same image two
defocus levels away out of focus.
"""

import numpy as np
import pytest
from skimage import data

from mmdf_bench.data import optics
from mmdf_bench.data.sources import source_images
from mmdf_bench.data.synthetic_zstack import LEVEL_SPACING, SyntheticBrightfieldZStack
from mmdf_bench.focus_map import focus_map
from mmdf_bench.methods.focus_cnn import MMDFFocusCNN

#: A shortened cpu profile: enough to learn level 0 against the rest in about a minute.
STEPS = 150


@pytest.fixture(scope="module")
def trained():
    dataset = SyntheticBrightfieldZStack(num_train=800, num_validation=120)
    train = [dataset.load(sample_id) for sample_id in dataset.sample_ids("train")]
    validation = [dataset.load(sample_id) for sample_id in dataset.sample_ids("validation")]
    method = MMDFFocusCNN(profile="cpu", max_steps=STEPS)
    return method.fit(train, seed=0, validation_samples=validation), dataset


def test_the_in_focus_plane_is_the_source_itself():
    assert optics.defocus_kernel(0.0).shape == (1, 1)
    dataset = SyntheticBrightfieldZStack()
    field = dataset._field(dataset.specimen_ids("test")[0])
    stack = dataset.specimen_stack(field.name, noise=False)
    record = dataset._render(field.name)
    native = np.rot90(field.crop(source_images()[field.source]), record["orientation"]["rot90"])
    native = native[:, ::-1] if record["orientation"]["flip"] else native
    # level 0 is the source up to the plane's exposure gain and the field stop's shading
    centre = slice(96, 160)
    ratio = stack[0][centre, centre] / np.maximum(native[centre, centre], 1e-3)
    assert np.std(ratio) < 0.03


def test_a_sharp_micrograph_at_native_resolution_is_in_focus(trained):
    method, _ = trained
    image = (data.immunohistochemistry() / 255.0).astype(np.float32)  # the README's ihc.png
    result = focus_map(image, method)
    assert (result.probability < 0.5).mean() >= 0.8, result.probability.round(2)
    defocused = optics.blur(image, optics.defocus_psf(2 * LEVEL_SPACING))
    assert (focus_map(defocused, method).probability >= 0.5).mean() >= 0.8


def test_held_out_fields_at_native_resolution_are_in_focus(trained):
    method, dataset = trained
    tiles = []
    for field in dataset._fields["test"]:
        native = field.crop(source_images()[field.source])
        tiles += [native[row:row + 84, col:col + 84] for row in (0, 86, 172) for col in (0, 86, 172)]
    textured = [tile for tile in tiles if tile.mean(axis=-1).std() >= 0.03]
    probabilities = np.array([prediction.probability for prediction in method.predict_many(np.stack(textured))])
    assert (probabilities < 0.5).mean() >= 0.8
