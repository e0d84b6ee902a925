"""The depth oracle and the reference it defines on the default fusion data (issue 10, point 1)."""

import numpy as np
import pytest

from mmdf_bench import registry, runner
from mmdf_bench.data.synthetic_fusion import SyntheticBrightfieldFusion
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import write_image
from mmdf_bench.tasks.fusion import TASK, FusionSample

REFERENCE_METRICS = ("psnr", "ssim")


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """Every registered fusion method on the whole default test split (trained ones with the smoke profile)."""
    out = tmp_path_factory.mktemp("oracle-run")
    return runner.run("fusion", methods=["*"], metrics=list(REFERENCE_METRICS), out_dir=out,
                      profile="smoke", progress=False)


def test_oracle_is_an_upper_bound_told_the_depth():
    oracle = registry.create_method("oracle-depth")
    assert oracle.upper_bound is True and oracle.information == ("depth-oracle",)
    assert not any(registry.create_method(name).upper_bound for name in registry.list_methods(task="fusion")
                   if name != "oracle-depth")


def test_oracle_ranks_first_on_every_reference_metric_of_the_default_data(default_run):
    scores = default_run.scores
    dataset = SyntheticBrightfieldFusion()
    assert set(scores.dataset) == {dataset.name}
    assert set(scores[scores.method == "oracle-depth"].sample_id) == set(dataset.sample_ids("test"))
    means = scores.groupby(["metric", "method"]).value.mean()
    assert means["ssim"]["oracle-depth"] >= 0.99
    for metric in REFERENCE_METRICS:
        others = means[metric].drop("oracle-depth")
        assert len(others) >= 8
        assert means[metric]["oracle-depth"] > others.max(), metric
    # the plain average of the planes, the floor of the task, is far from it
    assert means["ssim"]["average"] < 0.95


def test_the_oracle_needs_the_depth_map():
    oracle = registry.create_method("oracle-depth")
    stack = np.zeros((2, 8, 8), np.float32)
    with pytest.raises(InvalidInputError, match="depth map.*stack-7"):
        TASK.predict(oracle, FusionSample(stack, "stack-7"))
    with pytest.raises(InvalidInputError, match="plane depths"):
        FusionSample(stack, "s", depth_map=np.zeros((8, 8)))
    with pytest.raises(InvalidInputError, match="3 plane depths for 2 planes"):
        FusionSample(stack, "s", depth_map=np.zeros((8, 8)), plane_depths=[0.1, 0.5, 0.9])


def test_the_oracle_picks_the_plane_nearest_to_the_depth():
    planes = np.stack([np.full((4, 6), value, np.float32) for value in (0.2, 0.6)])
    depth = np.zeros((4, 6), np.float32)
    depth[:, 3:] = 1.0
    fused = TASK.predict(registry.create_method("oracle-depth"),
                         FusionSample(planes, "halves", depth_map=depth, plane_depths=[0.25, 0.75]))
    np.testing.assert_array_equal(fused[:, :3], planes[0, :, :3])
    np.testing.assert_array_equal(fused[:, 3:], planes[1, :, 3:])


def test_the_oracle_is_unavailable_where_no_depth_is_known(tmp_path):
    folder = tmp_path / "stacks" / "one"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(2):
        write_image(folder / f"plane_{index}.png", rng.uniform(0.2, 0.8, (32, 32)).astype(np.float32))
    result = runner.run("fusion", methods=["oracle-depth", "average"], metrics=["std"],
                        datasets=[f"fusion-folder={tmp_path / 'stacks'}"], out_dir=tmp_path / "run", progress=False)
    record = result.manifest["methods"]["oracle-depth"]
    assert record["available"] is False and "depth-oracle" in record["reason"]
    assert result.failures.empty
    assert set(result.scores.method) == {"average"}


def test_fusegan_trains_toward_the_same_reference():
    dataset = SyntheticBrightfieldFusion(num_train=3)
    samples = [dataset.load(sample_id) for sample_id in dataset.sample_ids("train")]
    fusegan = registry.create_method("fusegan", profile="smoke")
    items, targets = fusegan.training_items(samples, seed=0)
    assert targets == ["reference"]
    for (_, _, target), sample in zip(items, samples):
        np.testing.assert_array_equal(target, sample.reference)
