"""A broken plugin does not take the tool down: a real broken distribution, installed by pip.

``tests/plugin_broken`` provides methods whose modules fail to import (a
missing dependency, an exception at import), classes that break the
contract (a wrong name, not a method, an attribute that does not exist), a
broken metric and dataset, and one method that works.
"""

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from mmdf_bench import registry
from mmdf_bench.errors import PluginError

PLUGIN = Path(__file__).parent / "plugin_broken"
BROKEN_METHODS = {
    "broken-import": "ModuleNotFoundError: No module named "
                     "'mmdf_bench_dependency_that_is_not_installed'",
    "broken-raises": "RuntimeError: plugin configuration file ~/.broken-plugin.toml not found",
    "broken-misnamed": "says its name is 'another-name'",
    "broken-not-a-method": "it is not a FusionMethod and has no fuse()",
    "broken-attribute": "AttributeError",
}
PROVIDER = "mmdf-bench-broken-plugin 0.0.1"


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory):
    """The broken plugin, installed with pip into a folder of its own."""
    target = tmp_path_factory.mktemp("broken-site")
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
         str(PLUGIN)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return target


def mmdf_bench(arguments, site):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "mmdf_bench.cli", *arguments],
                          capture_output=True, text=True, env=environment)


@pytest.fixture
def broken_registries(broken_site, monkeypatch):
    """The registries of this process, rediscovered with the broken plugin importable."""
    monkeypatch.syspath_prepend(str(broken_site))
    for chosen in registry.REGISTRIES.values():
        monkeypatch.setattr(chosen, "_entries", None)
        monkeypatch.setattr(chosen, "_warned", set())
    yield
    for chosen in registry.REGISTRIES.values():
        chosen.refresh()
    for module in [name for name in sys.modules if name.startswith("mmdf_bench_broken_plugin")]:
        del sys.modules[module]


def test_the_distribution_is_really_installed_and_broken(broken_site):
    [distribution] = metadata.distributions(path=[str(broken_site)])
    assert distribution.metadata["Name"] == "mmdf-bench-broken-plugin"
    names = {entry.name for entry in distribution.entry_points}
    assert set(BROKEN_METHODS) | {"broken-plugin-works", "broken-metric", "broken-dataset"} <= names


@pytest.mark.parametrize("task", [None, "fusion"])
def test_listing_skips_each_broken_method_with_one_warning(broken_site, task):
    listed = mmdf_bench(["list", "methods", *(["--task", task] if task else [])], broken_site)
    assert listed.returncode == 0, listed.stderr
    assert "broken-plugin-works" in listed.stdout and "wavelet" in listed.stdout
    assert "Traceback" not in listed.stderr
    for name, error in BROKEN_METHODS.items():
        assert name not in listed.stdout
        lines = [line for line in listed.stderr.splitlines() if f"method {name!r}" in line]
        assert len(lines) == 1, listed.stderr  # one warning each
        assert PROVIDER in lines[0] and "mmdf_bench_broken_plugin." in lines[0]
        assert error in lines[0]


def test_listing_metrics_and_datasets_skips_the_broken_ones(broken_site):
    for kind, name in (("metrics", "broken-metric"), ("datasets", "broken-dataset")):
        listed = mmdf_bench(["list", kind], broken_site)
        assert listed.returncode == 0, listed.stderr
        assert name not in listed.stdout and f"{kind[:-1]} {name!r} of {PROVIDER}" in listed.stderr


def test_default_selections_skip_the_broken_components(broken_registries, caplog):
    methods = registry.methods.select(None, task="fusion")
    assert "broken-plugin-works" in methods and "average" in methods
    assert not set(BROKEN_METHODS) & set(methods)
    metrics = registry.metrics.select(None, task="fusion")
    assert "broken-metric" not in metrics and "ssim" in metrics
    assert registry.methods.select(["broken-*"], task="fusion") == ["broken-plugin-works"]
    warned = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warned) == len(BROKEN_METHODS) + 1  # once each, although selected twice


@pytest.mark.parametrize("name", sorted(BROKEN_METHODS))
def test_a_broken_method_asked_for_by_name_is_a_named_error(broken_registries, name):
    with pytest.raises(PluginError, match=f"method '{name}' of {PROVIDER}") as caught:
        registry.methods.select([name], task="fusion")
    assert BROKEN_METHODS[name] in str(caught.value)
    with pytest.raises(PluginError):  # remembered, not retried
        registry.methods.load(name)


def test_a_run_goes_on_beside_broken_plugins(broken_site, tmp_path):
    completed = mmdf_bench(["run", "--task", "fusion", "--methods", "average", "broken-*",
                            "--metrics", "std", "--limit", "2", "--quiet", "--out",
                            str(tmp_path / "run")], broken_site)
    assert completed.returncode == 0, completed.stderr
    assert "broken-plugin-works" in (tmp_path / "run" / "leaderboard.md").read_text()
    assert "Traceback" not in completed.stderr


def test_running_a_broken_method_by_name_is_one_line_and_exit_2(broken_site, tmp_path):
    completed = mmdf_bench(["run", "--task", "fusion", "--methods", "broken-raises", "--metrics",
                            "std", "--quiet", "--out", str(tmp_path / "run")], broken_site)
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0, completed.stderr
    assert completed.stderr.startswith("mmdf-bench: error: method 'broken-raises' of " + PROVIDER)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_every_builtin_component_keeps_the_contract():
    for chosen in registry.REGISTRIES.values():
        for name in chosen.names():
            chosen.load(name)  # raises PluginError naming the problem


def test_a_stray_value_error_from_a_method_is_one_line(scratch_registrations, tmp_path, capsys):
    from mmdf_bench.cli import main
    from mmdf_bench.tasks.fusion import FusionMethod

    class Picky(FusionMethod):
        name = "toy-picky"

        def __init__(self):
            raise ValueError("toy-picky needs\n an odd number of planes")

        def fuse(self, stack):
            return stack[0]

    scratch_registrations("methods", Picky)
    assert main(["train", "--method", "toy-picky"]) == 2
    error = capsys.readouterr().err
    assert error == "mmdf-bench: error: ValueError: toy-picky needs an odd number of planes\n"
