"""Real and semi-real fusion data: wafer composites with an exact reference, real stacks without one."""

import numpy as np
import pytest

from mmdf_bench.data.microscopy_stacks import MicroscopyStacks
from mmdf_bench.data.semi_real_fusion import WaferDefocusComposites, region_layout
from mmdf_bench.errors import InvalidInputError
from tests.real_fixtures import FRAME_SHIFTS, write_microscopy_stacks_fixture, write_wafer_pairs_fixture


def test_region_layout_is_a_partition_with_every_region_present():
    labels = region_layout((128, 128), 3, rng=np.random.default_rng(0))
    shares = np.bincount(labels.ravel(), minlength=3) / labels.size
    assert labels.shape == (128, 128) and set(np.unique(labels)) == {0, 1, 2} and shares.min() >= 0.12
    np.testing.assert_array_equal(labels, region_layout((128, 128), 3, rng=np.random.default_rng(0)))


def test_composites_hold_every_reference_pixel_exactly_once_in_focus(tmp_path):
    write_wafer_pairs_fixture(tmp_path / "wafer-defocus")  # planes at -30, -8, 0, 4, 12 µm, shifted
    dataset = WaferDefocusComposites(root=tmp_path / "wafer-defocus", crop_size=96, crops_per_field=2,
                                     step_um=8)
    assert dataset.realism == "semi-real" and dataset.sample_ids("train") == []
    ids = dataset.sample_ids("test")
    assert len(ids) == 4 and [sample_id[-2:] for sample_id in ids] == ["n2", "n2", "n3", "n3"]
    for sample_id in ids:
        sample = dataset.load(sample_id)
        assert sample.group in ("level1_iy000", "level2_iy000") and sample.stack.shape[1:] == (96, 96)
        exact = np.isclose(sample.stack, sample.reference[None], atol=1e-7)
        # every pixel of the reference is in focus in exactly one plane: a perfect selector is exact
        assert exact.any(axis=0).all()
        shares = exact.mean(axis=(1, 2))
        np.testing.assert_allclose(shares, sample.metadata["layout_shares"], atol=0.02)
        # the layout is the true depth map: the depth oracle fuses exactly
        from mmdf_bench import registry

        oracle = registry.methods.create("oracle-depth")
        fused = oracle.fuse(sample.stack, depth_map=sample.depth_map, plane_depths=sample.plane_depths)
        np.testing.assert_allclose(fused, sample.reference, atol=1e-6)
    # the defocused regions come from the registered planes: one step (8 µm) is the -8 and 12 µm
    # planes' nearest, registration undoes the fixture's (0.4, -0.3) shift
    sample = dataset.load(ids[0])
    assert sorted(v for row in sample.metadata["region_defocus_um"] for v in row if v) == [-8.0, 4.0]
    for record in sample.metadata["registration"].values():
        assert record["found"]
        np.testing.assert_allclose(record["shift_px"], (-0.4, 0.3), atol=0.08)


def test_microscopy_stacks_reader_and_the_pseudoscorpion_protocol(tmp_path):
    write_microscopy_stacks_fixture(tmp_path / "microscopy-stacks")
    dataset = MicroscopyStacks(root=tmp_path / "microscopy-stacks", scale=1.0, max_frames=0)
    assert dataset.sample_ids("test") == ["pseudoscorpion", "diatom", "radiolarian"]
    assert dataset.sample_ids("train") == [] and dataset.realism == "real"
    diatom, radiolarian = dataset.load("diatom"), dataset.load("radiolarian")  # the _fus file is never read
    assert diatom.stack.shape == (3, 64, 80, 3) and diatom.reference is None
    assert radiolarian.stack.shape == (3, 40, 50, 3) and radiolarian.group == "radiolarian"
    scorpion = dataset.load("pseudoscorpion")
    assert scorpion.stack.shape == (14, 140, 180, 3)
    assert scorpion.metadata["order"].startswith("acquisition order")
    found = [record["shift_px"] for record in scorpion.metadata["registration"]]
    np.testing.assert_allclose(found, -np.asarray(FRAME_SHIFTS, dtype=float), atol=0.06)
    # registered: every frame lines up with the middle one away from the wrapped borders
    inner = scorpion.stack[:, 10:-10, 10:-10]
    assert np.abs(inner - inner[7]).max() < 0.02
    # by default five frames evenly spread in acquisition order, at half size
    default = MicroscopyStacks(root=tmp_path / "microscopy-stacks").load("pseudoscorpion")
    assert default.stack.shape == (5, 70, 90, 3)
    assert default.metadata["files"] == [f"scorpion_lapse_{k}_half.png" for k in (1, 4, 8, 11, 14)]
    assert default.metadata["registered_to"] == "scorpion_lapse_8_half.png"
    expected = [(-r / 2, -c / 2) for r, c in (np.asarray(FRAME_SHIFTS) - FRAME_SHIFTS[7])[[0, 3, 7, 10, 13]]]
    np.testing.assert_allclose([record["shift_px"] for record in default.metadata["registration"]], expected,
                               atol=0.1)
    raw = MicroscopyStacks(root=tmp_path / "microscopy-stacks", scale=1.0, register=False,
                           max_frames=0).load("pseudoscorpion")
    assert raw.metadata["registration"] == [] and np.abs(raw.stack[0] - raw.stack[7]).max() > 0.1
    with pytest.raises(InvalidInputError, match="scale must lie in"):
        MicroscopyStacks(root=tmp_path, scale=2)
    (tmp_path / "microscopy-stacks" / "pseudoscorpion" / "scorpion_lapse_3_half.png").unlink()
    with pytest.raises(InvalidInputError, match="scorpion_lapse_3_half.png"):
        dataset.load("pseudoscorpion")


# ------------------------------------------------------ the real data (CI)


def test_microscopy_stacks_on_the_shared_data(shared_data):
    dataset = MicroscopyStacks(root=shared_data / "microscopy-stacks")
    shapes = {sample_id: dataset.load(sample_id).stack.shape for sample_id in dataset.sample_ids("test")}
    assert shapes == {"diatom": (3, 229, 305, 3), "radiolarian": (3, 116, 170, 3),
                      "pseudoscorpion": (5, 486, 648, 3)}
    records = MicroscopyStacks(root=shared_data / "microscopy-stacks", max_frames=0).load(
        "pseudoscorpion").metadata["registration"]
    # the animal drifts by a few pixels between hand-focused frames; every frame finds its peak
    assert all(record["found"] for record in records) and records[7]["shift_px"] == [0.0, 0.0]
    assert max(np.abs(record["shift_px"]).max() for record in records) > 1


def test_wafer_composites_on_the_shared_data(shared_data):
    dataset = WaferDefocusComposites(root=shared_data / "wafer-defocus")
    ids = dataset.sample_ids("test")
    assert len(ids) == 27 and len({sample_id.split("-y")[0] for sample_id in ids}) == 7
    sample = dataset.load(ids[7])  # a three-plane composite
    assert sample.num_planes == 3
    assert np.isclose(sample.stack, sample.reference[None], atol=1e-7).any(axis=0).all()
    defocus = [abs(value) for row in sample.metadata["region_defocus_um"] for value in row if value]
    assert min(defocus) >= 4.0  # no nearly-sharp plane stands in for a defocused region


def test_real_stacks_without_reference_are_shown_as_panels_in_the_report(tmp_path):
    """No reference: no-reference metrics only, and the report shows planes and fused images."""
    from mmdf_bench.report import build_report
    from mmdf_bench.runner import run

    write_microscopy_stacks_fixture(tmp_path / "microscopy-stacks")
    out = tmp_path / "run"
    result = run("fusion", methods=["average", "laplacian-pyramid"], metrics=["qabf", "ssim", "entropy"],
                 datasets=[f"microscopy-stacks={tmp_path / 'microscopy-stacks'}:max_frames=0"], save_outputs=True,
                 progress=False, out_dir=out)
    scored = set(result.scores["metric"])
    assert "ssim" not in scored and {"qabf", "entropy"} <= scored  # nothing to compare with
    assert set(result.scores["group"]) == {"diatom", "radiolarian", "pseudoscorpion"}
    page = build_report([out], max_samples=3)
    # every stack is a panel: its planes (at most 8 shown of the 14 frames), then each method's output
    assert "<h4>Samples of microscopy-stacks</h4>" in page
    for heading in ("<h5>diatom</h5>", "<h5>pseudoscorpion</h5>", "<h5>radiolarian</h5>"):
        assert heading in page, heading
    for caption in ("plane 1/3", "plane 1/14", "plane 14/14", "laplacian-pyramid · qabf"):
        assert caption in page, caption
