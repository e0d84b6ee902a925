"""Shared fixtures: the assets beside the project, and in-memory registrations."""

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def require_asset(variable, relative_path):
    """Return ``$variable/relative_path``; fail (never skip) when it is missing.

    CI sets ``MMDF_BENCH_WEIGHTS=../shared/weights`` and
    ``MMDF_BENCH_DATA=../shared/data``; tests that compare against the real
    data and official weights must run there.
    """
    value = os.environ.get(variable)
    if not value:
        pytest.fail(f"{variable} is not set: point it at the shared assets "
                    f"(e.g. {variable}=../shared/{'weights' if 'WEIGHTS' in variable else 'data'})")
    path = Path(value).expanduser() / relative_path
    if not path.exists():
        pytest.fail(f"asset missing: {path} (from {variable}={value})")
    return path


@pytest.fixture
def shared_data():
    """The real-data folder named by MMDF_BENCH_DATA (the test fails if it is missing)."""
    return require_asset("MMDF_BENCH_DATA", ".")


@pytest.fixture
def shared_weights():
    """The weights folder named by MMDF_BENCH_WEIGHTS (the test fails if it is missing)."""
    return require_asset("MMDF_BENCH_WEIGHTS", ".")


@pytest.fixture
def scratch_registrations():
    """Yield a function that registers into a registry and undoes it afterwards."""
    from mmdf_bench import registry

    added = []

    def register(kind, component, name=None):
        chosen = registry.REGISTRIES[kind]
        chosen.register(component, name=name)
        added.append((chosen, name or component.name))
        return component

    yield register
    for chosen, name in added:
        chosen.unregister(name)
