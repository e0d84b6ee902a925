"""The registry: entry-point discovery, wildcards, task filters, collisions, errors."""

import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

from mmdf_bench import registry
from mmdf_bench.errors import NameCollisionError, UnknownNameError
from mmdf_bench.registry import Registry
from mmdf_bench.tasks.fusion import FusionMethod

BUILTIN_FUSION_METHODS = {"average", "wavelet", "laplacian-pyramid", "guided-filter",
                          "harris-selection", "focus-selection", "ifcnn-max", "ifcnn-mean"}


def test_builtins_are_found_through_the_projects_own_entry_points():
    names = set(registry.list_methods(task="fusion"))
    assert BUILTIN_FUSION_METHODS <= names
    entry = registry.methods.get("ifcnn-max")
    assert entry.distribution == "mmdf-bench"
    assert entry.version == metadata.version("mmdf-bench")
    assert {"synthetic-brightfield-fusion", "lytro", "fusion-folder"} <= set(
        registry.list_datasets(task="fusion"))
    assert {"psnr", "ssim", "brisque", "cnniqa-koniq", "cnniqa-live", "qabf", "qabf-mirror", "nmi", "qy"} <= set(
        registry.list_metrics(task="fusion"))


def test_wildcards_are_shell_style_and_case_insensitive():
    assert registry.list_methods("ifcnn-*") == ["ifcnn-max", "ifcnn-mean"]
    assert registry.list_methods("IFCNN-M?X") == ["ifcnn-max"]
    assert registry.methods.select(["ifcnn-*", "average", "ifcnn-max"], task="fusion") == [
        "ifcnn-max", "ifcnn-mean", "average"]


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'wavelet'"):
        registry.methods.get("wavelett")
    with pytest.raises(UnknownNameError, match="matches no method"):
        registry.methods.select(["nothing-like-this-*"], task="fusion")


def test_selecting_a_component_of_another_task_is_an_error(scratch_registrations):
    class FocusThing(FusionMethod):
        name = "focus-thing"
        task = "focus"

    scratch_registrations("methods", FocusThing)
    with pytest.raises(UnknownNameError, match="not 'fusion'"):
        registry.methods.select(["focus-thing"], task="fusion")
    assert "focus-thing" not in registry.list_methods(task="fusion")
    assert "focus-thing" in registry.list_methods(task="focus")


def test_decorator_registers_a_notebook_method(scratch_registrations):
    @registry.register_method
    class Darkest(FusionMethod):
        name = "notebook-darkest"

        def fuse(self, stack):
            return stack.min(axis=0)

    try:
        method = registry.create_method("notebook-darkest")
        stack = np.stack([np.full((4, 4), 0.2, np.float32), np.full((4, 4), 0.7, np.float32)])
        assert np.allclose(method.fuse(stack), 0.2)
        assert registry.methods.get("notebook-darkest").distribution == "__main__"
    finally:
        registry.methods.unregister("notebook-darkest")


def test_name_collisions_are_errors():
    class Impostor(FusionMethod):
        name = "average"

    with pytest.raises(NameCollisionError, match="average"):
        registry.register_method(Impostor)


def test_two_distributions_claiming_one_name_is_an_error(monkeypatch):
    def fake_entry_points(group):
        first = metadata.EntryPoint("twin", "package_a:Method", group)
        second = metadata.EntryPoint("twin", "package_b:Method", group)
        return [first, second]

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    with pytest.raises(NameCollisionError, match="twin"):
        Registry("method", "mmdf_bench.methods").names()


def test_listing_imports_no_torch():
    code = ("import sys\n"
            "from mmdf_bench.cli import main\n"
            "for kind in ('methods', 'datasets', 'metrics'):\n"
            "    assert main(['list', kind, '--task', 'fusion']) == 0\n"
            "heavy = [name for name in ('torch', 'pyiqa', 'torchvision') if name in sys.modules]\n"
            "assert not heavy, heavy\n")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert "ifcnn-max" in completed.stdout and "lytro" in completed.stdout


def test_default_selection_leaves_out_opt_in_methods_but_names_and_patterns_reach_them(scratch_registrations):
    class SlowAblation(FusionMethod):
        name = "zz-slow-ablation"
        in_default_run = False

    scratch_registrations("methods", SlowAblation)
    assert "zz-slow-ablation" in registry.list_methods(task="fusion")
    assert "zz-slow-ablation" not in registry.methods.select(None, task="fusion")
    assert registry.methods.select(["zz-slow-ablation"], task="fusion") == ["zz-slow-ablation"]
    assert registry.methods.select(["zz-*"], task="fusion") == ["zz-slow-ablation"]


def test_default_fusion_run_trains_only_the_upgraded_fusegan():
    selected = registry.methods.select(None, task="fusion")
    assert "fusegan-u" in selected
    assert not {"fusegan", "fusegan-s", "fusegan-u-focusmask"} & set(selected)
    assert {"fusegan", "fusegan-s", "fusegan-u", "fusegan-u-focusmask"} <= set(registry.list_methods("fusegan*"))
