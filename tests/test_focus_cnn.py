"""The focus CNNs (Yang et al. 2018, MMDF), their loss, tiling and focus maps."""

import subprocess
import sys

import numpy as np
import pytest

from mmdf_bench.data.optics import add_sensor_noise, blur, defocus_psf
from mmdf_bench.data.synthetic_zstack import LEVEL_SPACING
from mmdf_bench.data.sources import source_images
from mmdf_bench.focus_map import focus_map, focus_map_table, render_focus_map
from mmdf_bench.tasks.focus import FocusPrediction, FocusSample
from tests.conftest import PROJECT_ROOT

import torch  # noqa: E402  (a hard dependency: an ImportError must fail, not skip)

from mmdf_bench.methods import focus_cnn  # noqa: E402
from mmdf_bench.methods.focus_calibration import apply_calibration, fit_calibration  # noqa: E402
from mmdf_bench.methods.focus_cnn import (MMDFFocusCNN, YangFocusCNN, YangSyntheticFocusCNN,  # noqa: E402
                               certainty_weighted_mean, level_certainty, synthetic_defocus, yang_depth_step)
from mmdf_bench.methods.focus_network import (FocusNetwork, MeanAndMaxPooling, in_focus_cross_entropy,  # noqa: E402
                                   predict_distributions, train_network)
from mmdf_bench.methods.losses import ranked_probability_score_loss  # noqa: E402

SIZE = 84
MARGIN = 24  # blur a larger crop, keep the centre: no border effects


def make_samples(count, *, seed, levels=(0, 10), artefacts=0):
    """Grey-level bright-field crops: in focus, defocused with the PSF, or spoiled by a dark 'dust' blob."""
    rng = np.random.default_rng(seed)
    # densely textured sources: a crop of the sparse Hubble field may hold no structure at all
    images = [source_images()[name] for name in ("immunohistochemistry", "gravel", "grass")]
    step = LEVEL_SPACING
    samples = []
    for index in range(count + artefacts):
        image = images[index % len(images)]
        top, left = rng.integers(0, image.shape[0] - SIZE - 2 * MARGIN, size=2)
        crop = image[top:top + SIZE + 2 * MARGIN, left:left + SIZE + 2 * MARGIN]
        if index < count:
            level = int(levels[index % len(levels)])
            crop = blur(crop, defocus_psf(level * step))
            patch, label, subset = crop[MARGIN:-MARGIN, MARGIN:-MARGIN], int(level > 0), "clean"
        else:
            level, label, subset = None, 1, "dust"
            patch = crop[MARGIN:-MARGIN, MARGIN:-MARGIN].copy()
            rows, cols = np.indices((SIZE, SIZE))
            blob = np.exp(-((rows - 42) ** 2 + (cols - 42) ** 2) / (2 * 18.0 ** 2))
            patch = patch * (1 - 0.8 * blob[..., None])
        patch = add_sensor_noise(patch, rng=rng)
        samples.append(FocusSample(patch, label, f"s{seed}-{index}", group=f"g{index % 3}", level=level,
                                   subset=subset))
    return samples


@pytest.fixture(scope="module")
def easy_split():
    return make_samples(96, seed=1, artefacts=8), make_samples(40, seed=2)


@pytest.fixture(scope="module")
def trained(easy_split):
    method = MMDFFocusCNN(profile="smoke")
    method.fit(easy_split[0], seed=0)
    return method


# -- ranked probability score ----------------------------------------------------------------------
def reference_rps(probabilities, levels):
    """Plain-loop numpy RPS, averaged over the K-1 thresholds and the batch."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    scores = []
    for row, level in zip(probabilities, levels):
        k = len(row)
        truth = np.zeros(k)
        truth[level] = 1.0
        scores.append(sum((row[:t + 1].sum() - truth[:t + 1].sum()) ** 2 for t in range(k - 1)) / (k - 1))
    return float(np.mean(scores))


def test_rps_hand_cases():
    k = 11
    eye = torch.eye(k, dtype=torch.float64)
    levels = torch.arange(k)
    assert ranked_probability_score_loss(eye, levels, from_logits=False).item() == 0.0
    one_off = torch.roll(eye, 1, dims=1)[:-1]  # level j predicted as j + 1
    assert ranked_probability_score_loss(one_off, levels[:-1], from_logits=False).item() == pytest.approx(1 / (k - 1))
    # predicting the far end for level 0 costs the maximum, 1
    far = eye[[k - 1]]
    assert ranked_probability_score_loss(far, torch.tensor([0]), from_logits=False).item() == pytest.approx(1.0)


def test_rps_matches_numpy_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(16, 11)) * 2
    levels = rng.integers(0, 11, 16)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = reference_rps(probabilities, levels)
    from_logits = ranked_probability_score_loss(torch.tensor(logits), torch.tensor(levels))
    from_probs = ranked_probability_score_loss(torch.tensor(probabilities), torch.tensor(levels), from_logits=False)
    soft = ranked_probability_score_loss(torch.tensor(probabilities), torch.eye(11, dtype=torch.float64)[levels],
                                         from_logits=False)
    assert from_logits.item() == pytest.approx(expected, rel=1e-12)
    assert from_probs.item() == pytest.approx(expected, rel=1e-12)
    assert soft.item() == pytest.approx(expected, rel=1e-12)
    weights = np.zeros(16)
    weights[3] = 2.0
    weighted = ranked_probability_score_loss(torch.tensor(logits), torch.tensor(levels), weights=torch.tensor(weights))
    assert weighted.item() == pytest.approx(reference_rps(probabilities[[3]], levels[[3]]), rel=1e-12)


def test_in_focus_cross_entropy_hand_cases():
    k = 11
    uniform = torch.zeros(2, k, dtype=torch.float64)
    # p(level 0) = 1/11: in focus costs ln 11, out of focus costs -ln(10/11), whatever the level
    assert in_focus_cross_entropy(uniform[:1], torch.tensor([0])).item() == pytest.approx(np.log(11))
    assert in_focus_cross_entropy(uniform[:1], torch.tensor([7])).item() == pytest.approx(-np.log(10 / 11))
    # all the mass on level 1 is as wrong for an in-focus patch as all of it on level 10
    near, far = torch.full((1, k), -30.0), torch.full((1, k), -30.0)
    near[0, 1], far[0, 10] = 30.0, 30.0
    assert in_focus_cross_entropy(near, torch.tensor([0])).item() == pytest.approx(60.0, rel=1e-6)
    assert in_focus_cross_entropy(far, torch.tensor([0])).item() == pytest.approx(60.0, rel=1e-6)
    # weights select samples
    both = in_focus_cross_entropy(uniform, torch.tensor([0, 3]), weights=torch.tensor([0.0, 1.0]))
    assert both.item() == pytest.approx(-np.log(10 / 11))


def test_focus_weight_needs_integer_levels():
    network = FocusNetwork(11, batch_norm=True, pooling="average")
    patches = np.zeros((4, SIZE, SIZE), np.float32)
    with pytest.raises(ValueError, match="focus_weight"):
        train_network(network, patches, np.full((4, 11), 1 / 11), epochs=1, batch_size=4, learning_rate=1e-3,
                      seed=0, focus_weight=1.0)


def test_focus_weight_adds_the_in_focus_cross_entropy_to_the_loss():
    # no dropout, no augmentation, a zero step size and one batch: the recorded loss is that of the
    # initial weights, which can be recomputed here
    rng = np.random.default_rng(0)
    patches = rng.uniform(0.2, 0.8, (6, SIZE, SIZE)).astype(np.float32)
    levels = np.array([0, 0, 1, 4, 10, 0])

    def recorded_loss(focus_weight):
        torch.manual_seed(0)
        network = FocusNetwork(11, batch_norm=True, dropout=0.0, pooling="average-max")
        initial = {key: value.clone() for key, value in network.state_dict().items()}
        history = train_network(network, patches, levels, epochs=1, batch_size=6, learning_rate=0.0, seed=0,
                                focus_weight=focus_weight)
        network.load_state_dict(initial)
        network.train()
        with torch.no_grad():
            logits = network(torch.as_tensor(patches).unsqueeze(1))
        return history[0], logits

    plain, logits = recorded_loss(0.0)
    weighted, _ = recorded_loss(2.0)
    target = torch.as_tensor(levels)
    assert plain == pytest.approx(ranked_probability_score_loss(logits, target).item(), rel=1e-5)
    expected = ranked_probability_score_loss(logits, target) + 2.0 * in_focus_cross_entropy(logits, target)
    assert weighted == pytest.approx(expected.item(), rel=1e-5)


def test_cpu_profile_wiring(easy_split, monkeypatch):
    # the cpu profile's network and loss, without its minutes of training
    from mmdf_bench.methods import focus_network

    captured = {}

    def no_training(network, patches, targets, **options):
        captured.update(options)
        return []

    monkeypatch.setattr(focus_network, "train_network", no_training)
    method = MMDFFocusCNN(profile="cpu").fit(easy_split[0], seed=0)
    assert method._network.architecture["pooling"] == "average-max"
    assert method._network.architecture["standardize"] is False
    assert captured["focus_weight"] == 1.0 and tuple(captured["gain_range"]) == (0.9, 1.1)
    assert method._calibration is not None
    # the paper profile keeps the published recipe: Yang et al.'s layers, the score alone
    paper = MMDFFocusCNN(profile="paper").hyperparameters
    assert paper["learning_rate"] == 5e-6 and paper["focus_weight"] == 0.0
    assert "pooling" not in paper and "standardize" not in paper


# -- calibration -----------------------------------------------------------------------------------
def distributions_with(out_of_focus):
    """Level distributions with the given P(out of focus), its mass spread 1:2:...:10 over levels 1-10."""
    out_of_focus = np.asarray(out_of_focus, dtype=np.float64)
    shares = np.arange(1, 11) / np.arange(1, 11).sum()
    return np.column_stack([1 - out_of_focus, out_of_focus[:, None] * shares])


def test_calibration_moves_a_biased_threshold():
    # a network that rates every in-focus train patch 0.6-0.7 and every defocused one 0.8-0.95:
    # at 0.5 all in-focus patches are wrong; the calibration moves the 0.5 crossing between the two
    rng = np.random.default_rng(0)
    probabilities = np.concatenate([rng.uniform(0.6, 0.7, 40), rng.uniform(0.8, 0.95, 40)])
    labels = np.repeat([False, True], 40)
    calibration = fit_calibration(distributions_with(probabilities), labels)
    test = distributions_with([0.62, 0.68, 0.82, 0.93])
    calibrated = apply_calibration(test, calibration)
    np.testing.assert_array_equal(1 - calibrated[:, 0] >= 0.5, [False, False, True, True])
    assert np.all(np.diff(1 - calibrated[:, 0]) > 0)  # monotone in the raw probability
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    # the shares of the out-of-focus levels are kept
    np.testing.assert_allclose(calibrated[:, 2:] / calibrated[:, 1:2], test[:, 2:] / test[:, 1:2])
    # a row certain of level 0 still gets a valid distribution
    certain = apply_calibration(np.eye(11)[:1], calibration)
    assert certain.sum() == pytest.approx(1.0) and np.all(certain >= 0)
    with pytest.raises(Exception, match="in-focus and out-of-focus"):
        fit_calibration(distributions_with([0.7, 0.8]), [True, True])


def test_calibration_is_fitted_on_the_train_split(easy_split):
    train = easy_split[0]
    method = MMDFFocusCNN(profile="smoke", calibrate=True).fit(train, seed=0)
    # the smoke profile keeps every one of these 104 patches (84x84: the crop is the whole patch)
    grey = np.stack([focus_cnn.to_gray(sample.patch) for sample in train])
    raw = predict_distributions(method._network, grey)
    labels = np.array([sample.label for sample in train]).astype(bool)
    assert method._calibration == pytest.approx(fit_calibration(raw, labels), rel=1e-6)
    test = np.stack([sample.patch for sample in easy_split[1]])
    np.testing.assert_allclose(method.predict_levels(test),
                               apply_calibration(predict_distributions(method._network, focus_cnn.to_gray(test)),
                                                 method._calibration), atol=1e-12)
    prediction = method.predict(easy_split[1][0].patch)
    assert prediction.probability == pytest.approx(1 - prediction.levels[0])
    restored = MMDFFocusCNN(profile="smoke", calibrate=True)
    restored.load_state_dict(method.state_dict())
    np.testing.assert_array_equal(restored.predict_levels(test), method.predict_levels(test))


# -- network ---------------------------------------------------------------------------------------
def test_mean_and_max_pooling():
    features = torch.zeros(2, 3, 4, 4)
    features[0, 1, 2, 3] = 8.0  # one bright pixel: its mean is 8/16, its maximum 8
    features[1] = -1.0
    pooled = MeanAndMaxPooling()(features)
    assert pooled.shape == (2, 6)
    np.testing.assert_allclose(pooled[0].numpy(), [0, 0.5, 0, 0, 8, 0])
    np.testing.assert_allclose(pooled[1].numpy(), [-1] * 6)
    network = FocusNetwork(11, batch_norm=True, pooling="average-max").eval()
    assert network(torch.zeros(3, 1, SIZE, SIZE)).shape == (3, 11)
    assert network.classifier[2].in_features == 2 * 64


@pytest.mark.parametrize("pooling", ["flatten", "average", "average-max"])
def test_checkpoint_layout_is_stable(pooling):
    # checkpoints made before the mean-and-max pooling existed name the dense layers classifier.2 and .5
    names = [name for name in FocusNetwork(11, pooling=pooling).state_dict() if name.startswith("classifier")]
    assert names == ["classifier.2.weight", "classifier.2.bias", "classifier.5.weight", "classifier.5.bias"]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_network_shapes(batch_norm):
    network = FocusNetwork(11, batch_norm=batch_norm).eval()
    assert network(torch.zeros(5, 1, SIZE, SIZE)).shape == (5, 11)
    # Yang et al.'s layer sizes: 5x5x32, 5x5x32x64, (21*21*64)x1024, 1024xK
    shapes = [tuple(p.shape) for name, p in network.named_parameters() if name.endswith("weight") and p.ndim > 1]
    assert shapes == [(32, 1, 5, 5), (64, 32, 5, 5), (1024, 21 * 21 * 64), (11, 1024)]


# -- training --------------------------------------------------------------------------------------
def test_smoke_training_learns_sharp_versus_blurred(trained, easy_split):
    history = trained._history
    assert history[-1] < history[0]
    test = easy_split[1]
    predicted = np.array([trained.predict(sample.patch).label for sample in test])
    truth = np.array([sample.label for sample in test])
    assert (predicted == truth).mean() >= 0.8  # chance is 0.5


def test_state_dict_round_trip_gives_identical_predictions(trained, easy_split):
    patches = np.stack([sample.patch for sample in easy_split[1][:8]])
    restored = MMDFFocusCNN(profile="smoke")
    restored.load_state_dict(trained.state_dict())
    np.testing.assert_array_equal(restored.predict_levels(patches), trained.predict_levels(patches))


def test_same_seed_gives_identical_weights(easy_split):
    def weights(seed):
        method = YangFocusCNN(profile="smoke", epochs=1, max_patches=48)
        method.fit(easy_split[0], seed=seed)
        return method.state_dict()["network"]

    first, second, other = weights(3), weights(3), weights(4)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not all(torch.equal(first[key], other[key]) for key in first)


def test_predictions_are_probabilities(trained, easy_split):
    sample = easy_split[1][0]
    for patch in (sample.patch, sample.patch.mean(axis=-1), np.tile(sample.patch, (2, 2, 1))):
        prediction = trained.predict(patch)
        assert isinstance(prediction, FocusPrediction)
        assert 0.0 <= prediction.probability <= 1.0
        assert prediction.levels.shape == (11,)
        assert prediction.levels.sum() == pytest.approx(1.0)
        assert prediction.probability == pytest.approx(1.0 - prediction.levels[0])


def test_training_sets_follow_the_methods_rules(easy_split):
    train = easy_split[0]  # 96 clean (levels 0 and 10) + 8 dust patches
    patches, levels, weights = YangFocusCNN(profile="smoke").training_set(train, rng=np.random.default_rng(0))
    assert len(patches) == 96 and weights is None  # artefacts left out
    patches, levels, weights = MMDFFocusCNN(profile="smoke").training_set(train, rng=np.random.default_rng(0))
    assert len(patches) == 104 and (levels[-8:] == 10).all()  # artefacts taught as the top level
    in_focus = levels == 0
    assert weights[in_focus].sum() == pytest.approx(weights[~in_focus].sum())


def test_synthetic_defocus_is_deterministic_and_blurs_with_level():
    sharp = np.stack([s.patch.mean(axis=-1) for s in make_samples(3, seed=5, levels=(0,))])
    first = synthetic_defocus(sharp, levels_per_patch=11, rng=np.random.default_rng(7))
    second = synthetic_defocus(sharp, levels_per_patch=11, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(first[0], second[0])
    patches, levels = first
    assert patches.shape == (33, SIZE, SIZE) and sorted(levels[:11]) == list(range(11))
    # with the exposure fixed and the noise negligible, detail can only fall with the level
    patches, levels = synthetic_defocus(sharp, levels_per_patch=11, rng=np.random.default_rng(7),
                                        gain_range=(1.0, 1.0), photons=1e9)
    detail = [np.mean(np.diff(patches[levels == level], axis=-1) ** 2) for level in (0, 3, 10)]
    assert detail[0] > detail[1] > detail[2]


def test_yang_synthetic_trains_on_in_focus_patches_only(easy_split):
    method = YangSyntheticFocusCNN(profile="smoke")
    patches, levels, _ = method.training_set(easy_split[0], rng=np.random.default_rng(0))
    assert len(patches) == 48 * 2  # 48 in-focus patches, 2 synthetic levels each
    assert set(levels) > {0, 10}


# -- whole images and focus maps -------------------------------------------------------------------
def test_predict_image_weights_tiles_by_certainty(trained, monkeypatch):
    sure = np.eye(11)[2]
    unsure = np.full(11, 1 / 11)
    half = np.zeros(11)
    half[[0, 5]] = 0.5
    tiles = np.stack([sure, unsure, half, half])
    monkeypatch.setattr(trained, "predict_levels", lambda patches: tiles[: len(patches)])
    distribution, certainty, table = trained.predict_image(np.zeros((2 * SIZE, 2 * SIZE)))
    weights = np.array([1.0, 0.0, 1 - np.log(2) / np.log(11), 1 - np.log(2) / np.log(11)])
    np.testing.assert_allclose(level_certainty(tiles), weights, atol=1e-12)
    np.testing.assert_allclose(distribution, weights @ tiles / weights.sum(), atol=1e-12)
    assert certainty == pytest.approx(level_certainty(distribution))
    assert list(table["row"]) == [0, 0, SIZE, SIZE] and list(table["col"]) == [0, SIZE, 0, SIZE]
    np.testing.assert_allclose(certainty_weighted_mean(np.stack([unsure, unsure])), unsure)


class _ProbabilityOnly:
    """A classical-style method: the mean intensity of a tile as P(out of focus)."""

    name = "mean-intensity"

    def predict(self, patch):
        return FocusPrediction(float(np.mean(patch)))


def test_focus_map_for_a_probability_only_method():
    image = np.zeros((2 * SIZE + 10, 3 * SIZE + 5), dtype=np.float32)
    image[:SIZE, :SIZE] = 0.9
    image[SIZE:2 * SIZE, SIZE:2 * SIZE] = 0.5
    result = focus_map(image, _ProbabilityOnly())
    assert result.probability.shape == (2, 3) and result.level is None
    np.testing.assert_allclose(result.certainty, np.abs(2 * result.probability - 1))
    assert result.probability[0, 0] == pytest.approx(0.9) and result.certainty[1, 1] == pytest.approx(0.0)
    table = focus_map_table(result)
    assert len(table) == 6 and table["level"].isna().all()
    assert list(table.loc[table["tile_row"] == 1, "y"]) == [SIZE] * 3


def test_focus_map_and_render_for_the_cnn(trained, easy_split):
    image = np.concatenate([np.concatenate([s.patch for s in easy_split[1][i:i + 3]], axis=1) for i in (0, 3)])
    result = focus_map(image, trained)
    assert result.level.shape == (2, 3) and result.distributions.shape == (2, 3, 11)
    expected = np.stack([trained.predict(easy_split[1][i].patch).levels for i in range(6)])
    np.testing.assert_allclose(result.distributions.reshape(6, 11), expected, atol=1e-6)
    rendered = render_focus_map(image, result)
    assert rendered.shape == image.shape and rendered.dtype == np.float32
    assert rendered.min() >= 0.0 and rendered.max() <= 1.0
    assert not np.allclose(rendered, np.repeat(image.mean(axis=-1, keepdims=True), 3, axis=-1))
    table = focus_map_table(result)
    assert {"level", "expected_level", "certainty", "p10"} <= set(table.columns) and len(table) == 6


def test_registered_module_does_not_import_torch():
    code = ("import sys, mmdf_bench.methods.focus_cnn, mmdf_bench.focus_map; "
            "print('torch' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": ""}, check=True)
    assert output.stdout.strip() == "False"


def test_untrained_method_says_so():
    with pytest.raises(Exception, match="not trained"):
        focus_cnn.YangFocusCNN(profile="smoke").predict(np.zeros((SIZE, SIZE), np.float32))
