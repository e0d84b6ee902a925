"""Real z-stacks in the focus task: µm labels, textured patches, field groups, autofocus."""


import numpy as np
import pandas as pd
import pytest

from mmdf_bench import registry
from mmdf_bench.data.defocus_levels import defocus_level, describe_bins, is_in_focus
from mmdf_bench.data.field_focus import patch_contrast
from mmdf_bench.data.sephace import SephaceBrightfield
from mmdf_bench.data.wafer_defocus import WaferDefocus
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.autofocus import (
    AutofocusError,
    AutofocusSuccess,
    autofocus_error,
)
from mmdf_bench.metrics.classification import Accuracy, RankedProbabilityScore
from mmdf_bench.runner import run
from mmdf_bench.tasks.focus import (
    AutofocusPrediction,
    FocusMethod,
    FocusPrediction,
    FocusStackSample,
    predict,
)
from tests.real_fixtures import textured, write_wafer_fixture

# ----------------------------------------------------------------- µm levels


def test_levels_are_micrometre_bins_with_halves_rounded_up():
    z = np.array([0.0, 1.0, -1.0001, 7.4999, 7.5, 12.5, -47.4, 47.5, 300.0])
    np.testing.assert_array_equal(defocus_level(z), [0, 0, 1, 1, 2, 3, 9, 10, 10])
    assert defocus_level(2.0, tolerance_um=2.5) == 0 and defocus_level(2.6, tolerance_um=2.5) == 1
    np.testing.assert_array_equal(is_in_focus([0.5, -1.0, 1.5]), [True, True, False])
    bins = describe_bins()
    assert bins["levels"][0] == [0, 0.0, 1.0] and bins["levels"][2] == [2, 7.5, 12.5]
    assert bins["levels"][-1][2] == float("inf")
    with pytest.raises(InvalidInputError, match="tolerance"):
        defocus_level(1.0, tolerance_um=-1)


def test_patch_contrast_ignores_noise_but_sees_a_feature():
    rng = np.random.default_rng(0)
    noise = np.clip(0.5 + rng.normal(0, 0.004, (84, 168)), 0, 1).astype(np.float32)
    noise[30:40, 120:130] = 0.2  # a small dark feature in the second cell
    contrast = patch_contrast(noise, [(0, 0), (0, 84)], 84)
    assert contrast[0] < 0.015 and contrast[1] > 0.2


# ------------------------------------------------------------ a small fixture


def test_wafer_reader_cuts_textured_patches_labelled_in_micrometres(tmp_path):
    write_wafer_fixture(tmp_path / "wafer")
    dataset = WaferDefocus(root=tmp_path / "wafer", patch_size=32)
    assert dataset.sample_ids("train") == [] and dataset.sample_ids("validation") == []
    ids = dataset.sample_ids("test")
    assert ids[:2] == ["level1_iy000-stack", "level2_iy000-stack"]
    # 96x180 holds a 3x5 grid of 32-pixel cells; the cells of the flat right half
    # (columns 96 and 128) are dropped, those touching the texture (columns 0-89) kept
    assert sorted({col for _, col in dataset.positions("level1_iy000")}) == [0, 32, 64]
    assert len(dataset.positions("level1_iy000")) == 9
    patches = ids[2:]
    assert len(patches) == 2 * 4 * 9
    # the first ids cover every (field, plane) before any repeats
    first = [dataset.load(sample_id).metadata for sample_id in patches[:8]]
    assert {(meta["field"], meta["z_um"]) for meta in first} == {
        (field, z) for field in ("level1_iy000", "level2_iy000") for z in (-6.0, 0.0, 0.8, 12.0)}
    sample = dataset.load("level2_iy000-z+012.000um-y0x0")
    assert sample.patch.shape == (32, 32) and sample.group == "level2_iy000"
    assert (sample.label, sample.level) == (1, 2)
    near = dataset.load("level1_iy000-z+000.800um-y32x32")
    assert (near.label, near.level) == (0, 0)  # 0.8 µm lies within the 1 µm tolerance
    stack = dataset.load("level1_iy000-stack")
    assert isinstance(stack, FocusStackSample) and stack.group == "level1_iy000"
    np.testing.assert_array_equal(stack.z_um, [-6.0, 0.0, 0.8, 12.0])
    assert next(stack.planes()).shape == (96, 180)
    description = dataset.describe()
    assert description["fields"]["level1_iy000"]["patches_per_plane"] == 9
    assert description["options"]["in_focus_tolerance_um"] == 1.0


def test_wafer_reader_errors_name_the_file(tmp_path):
    root = tmp_path / "wafer"
    with pytest.raises(InvalidInputError, match="wafer-defocus: data folder not found"):
        WaferDefocus(root=root).sample_ids("test")
    root.mkdir()
    with pytest.raises(InvalidInputError, match="manifest.csv not found"):
        WaferDefocus(root=root).sample_ids("test")
    rows = write_wafer_fixture(root, fields=("level1_iy000",), z_values=(-3.0, 0.0))
    (root / rows[0]["file"]).unlink()
    with pytest.raises(InvalidInputError, match=r"manifest.csv, line 2: .*is listed but missing"):
        WaferDefocus(root=root).sample_ids("test")
    write_wafer_fixture(root, fields=("level1_iy000",), z_values=(-3.0, 2.0))
    with pytest.raises(InvalidInputError, match="no plane at z_offset_um = 0"):
        WaferDefocus(root=root).sample_ids("test")
    text = (root / "manifest.csv").read_text().replace("z_offset_um", "z")
    (root / "manifest.csv").write_text(text)
    with pytest.raises(InvalidInputError, match="missing column"):
        WaferDefocus(root=root).sample_ids("test")


# ----------------------------------------------------------------- autofocus


class SharpnessByVariance(FocusMethod):
    """Scores a plane by its variance: the in-focus plane of the fixture has the most."""

    name = "toy-variance"

    def predict(self, patch):
        return FocusPrediction(float(np.clip(1 - 20 * patch.var(), 0, 1)))

    def focus_score(self, image):
        return float(image.var())


def test_autofocus_error_is_the_distance_of_the_chosen_plane_with_ties_averaged():
    assert autofocus_error([0.2, 0.9, 0.1], [-4.0, 1.5, 6.0], 0.0) == 1.5
    assert autofocus_error([5.0, 5.0, 1.0], [-4.0, 2.0, 6.0], 0.0) == 3.0
    stack = FocusStackSample("f-stack", [-4.0, 2.0, 6.0], 2.0, read_plane=lambda k: np.zeros((4, 4)),
                             tolerance_um=1.0)
    success = AutofocusSuccess().compute(AutofocusPrediction(np.array([0.0, 1.0, 1.0]), stack.z_um), stack)
    assert success == 0.5  # one of the two tied planes is the focus


def test_autofocus_on_a_stack_and_default_scores(tmp_path):
    write_wafer_fixture(tmp_path / "wafer", fields=("level1_iy000",))
    dataset = WaferDefocus(root=tmp_path / "wafer", patch_size=32)
    stack = dataset.load("level1_iy000-stack")
    output = predict(SharpnessByVariance(), stack)
    assert isinstance(output, AutofocusPrediction)
    assert AutofocusError().compute(output, stack) == 0.0
    # a method that prefers blur picks the farthest plane
    blurry = predict(type("Blurry", (SharpnessByVariance,), {"focus_score": lambda self, im: -im.var()})(), stack)
    assert AutofocusError().compute(blurry, stack) == 12.0
    # the default focus score comes from predict: -expected level, else 1 - P(out of focus)

    class Levels(FocusMethod):
        def predict(self, image):
            return FocusPrediction(0.5, np.array([0.2, 0.3, 0.5]))

    assert Levels().focus_score(np.zeros((4, 4))) == pytest.approx(-(0.3 + 2 * 0.5))
    assert SharpnessByVariance.__mro__[1].focus_score(SharpnessByVariance(), np.zeros((8, 8))) == 0.0
    # patch metrics skip z-stacks, autofocus metrics skip patches
    patch = dataset.load(dataset.sample_ids("test")[1])
    assert not Accuracy().applies_to(stack) and not Accuracy().applies_to_output(output)
    assert not RankedProbabilityScore().applies_to(stack)
    assert not AutofocusError().applies_to(patch) and AutofocusError().applies_to(stack)


def test_operators_rank_planes_without_calibration():
    from mmdf_bench.baselines.focus import FocusMeasureTenengrad

    rng = np.random.default_rng(2)
    sharp, soft = textured((64, 64), rng), textured((64, 64), rng, blur=2.0)
    method = FocusMeasureTenengrad()  # never fitted
    assert method.focus_score(sharp) > method.focus_score(soft)


def test_runner_scores_patches_and_stacks_grouped_by_field(tmp_path, monkeypatch, scratch_registrations):
    write_wafer_fixture(tmp_path / "wafer")
    scratch_registrations("methods", SharpnessByVariance)
    result = run("focus", methods=["toy-variance"], datasets=[f"wafer-defocus={tmp_path / 'wafer'}"],
                 metrics=["accuracy", "autofocus-error", "autofocus-success"], out_dir=tmp_path / "run",
                 progress=False)
    scores = pd.read_csv(tmp_path / "run" / "scores.csv", dtype={"sample_id": str, "group": str})
    autofocus = scores[scores.metric == "autofocus-error"]
    assert sorted(autofocus.sample_id) == ["level1_iy000-stack", "level2_iy000-stack"]
    assert set(autofocus.group) == {"level1_iy000", "level2_iy000"} and np.allclose(autofocus.value, 0.0)
    accuracy = scores[scores.metric == "accuracy"]
    patches = len(WaferDefocus(root=tmp_path / "wafer").sample_ids("test")) - 2
    assert patches >= 8 and len(accuracy) == patches
    assert set(accuracy.group) == {"level1_iy000", "level2_iy000"}
    assert not accuracy.sample_id.str.endswith("-stack").any()
    assert result.ok
    assert result.manifest["datasets"]["wafer-defocus"]["fields"]["level2_iy000"]["planes"] == 4


# ------------------------------------------------------ the real data (CI)


def test_wafer_defocus_on_the_shared_data(shared_data):
    dataset = WaferDefocus(root=shared_data / "wafer-defocus")
    fields = dataset.fields()
    assert len(fields) == 7 and all(len(field) == 11 for field in fields.values())
    assert {name.split("_")[0] for name in fields} == {"level1", "level2"}
    for name, field in fields.items():
        assert field.z_um.min() >= -50 and field.z_um.max() <= 50 and 0.0 in field.z_um
        assert len(dataset.positions(name)) >= 3, name  # every field keeps some textured patches
    ids = dataset.sample_ids("test")
    assert len(ids) == 7 + 11 * sum(len(dataset.positions(name)) for name in fields)
    sample = dataset.load(ids[7])
    assert sample.patch.shape == (84, 84) and sample.patch.dtype == np.float32
    assert sample.group in fields and sample.patch.std() > 0.01


def test_sephace_brightfield_on_the_shared_data(shared_data):
    dataset = SephaceBrightfield(root=shared_data / "sephace-brightfield")
    fields = dataset.fields()
    assert sorted(fields) == ["Set_1", "Set_2"]  # the DAPI images are not planes
    for field in fields.values():
        assert len(field) == 6 and field.metadata["pixel_size_um"] == pytest.approx(0.2004)
        levels = defocus_level(field.defocus_um)
        np.testing.assert_array_equal(levels, [5, 2, 0, 0, 2, 5])


def test_real_autofocus_tells_operators_apart(shared_data):
    """Gradient operators find focus on every field; grey-level variance fails on unstained cells.

    Near focus, unstained cells (phase objects) show the least contrast, so a
    contrast measure picks a far plane: the effect the real data is there to show.
    """
    tenengrad, variance = registry.methods.create("fm-tenengrad"), registry.methods.create("fm-gray-level-variance")
    wafer = WaferDefocus(root=shared_data / "wafer-defocus")
    errors = [AutofocusError().compute(predict(tenengrad, wafer.load(i)), wafer.load(i)) for i in wafer.stack_ids()]
    assert errors == [0.0] * 7
    cells = SephaceBrightfield(root=shared_data / "sephace-brightfield")
    for stack_id in cells.stack_ids():
        stack = cells.load(stack_id)
        assert AutofocusError().compute(predict(tenengrad, stack), stack) == 0.0
        assert AutofocusError().compute(predict(variance, stack), stack) > 20.0
