"""A third-party package registers a fusion method through its own entry points."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

PLUGIN = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """Install the example plugin with pip into a private folder."""
    target = tmp_path_factory.mktemp("plugin-site")
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
         str(PLUGIN)],
        capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return target


def _mmdf_bench(arguments, site):
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), environment.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "mmdf_bench.cli", *arguments],
                          capture_output=True, text=True, env=environment)


def test_plugin_method_is_listed_with_its_provider(plugin_site):
    listed = _mmdf_bench(["list", "methods", "--task", "fusion", "example-*"], plugin_site)
    assert listed.returncode == 0, listed.stderr
    assert "example-median" in listed.stdout
    assert "mmdf-bench-example-plugin 0.3.1" in listed.stdout


def test_plugin_method_is_run_and_credited(plugin_site, tmp_path):
    completed = _mmdf_bench(["run", "--task", "fusion", "--methods", "example-median", "average",
                             "--metrics", "ssim", "psnr", "--limit", "3", "--quiet",
                             "--out", str(tmp_path)], plugin_site)
    assert completed.returncode == 0, completed.stderr
    scores = pd.read_csv(tmp_path / "scores.csv")
    plugin_rows = scores[scores.method == "example-median"]
    assert len(plugin_rows) == 6  # 3 samples x 2 metrics
    assert plugin_rows.value.notna().all()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    provider = manifest["methods"]["example-median"]
    assert provider["distribution"] == "mmdf-bench-example-plugin"
    assert provider["version"] == "0.3.1"
    assert "example-median" in (tmp_path / "leaderboard.md").read_text()
