"""Every example in a docstring of the package runs and prints what the docstring says."""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import mmdf_bench
import mmdf_bench.baselines
import mmdf_bench.methods


def _modules_with_examples():
    """Names of the package's modules whose source holds a ``>>>`` example (found without importing them)."""
    names = []
    for package in (mmdf_bench, mmdf_bench.baselines, mmdf_bench.methods):
        if ">>> " in Path(package.__file__).read_text(encoding="utf-8"):
            names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            spec = info.module_finder.find_spec(info.name.rpartition(".")[2])
            if spec and spec.origin and ">>> " in Path(spec.origin).read_text(encoding="utf-8"):
                names.append(info.name)
    return sorted(set(names))


MODULES = _modules_with_examples()


def test_the_examples_are_found():
    assert {"mmdf_bench", "mmdf_bench.stats", "mmdf_bench.metrics.classification"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=True, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (see above)"
