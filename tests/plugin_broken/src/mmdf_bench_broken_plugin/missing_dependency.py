"""A module whose dependency is not installed."""

import mmdf_bench_dependency_that_is_not_installed  # noqa: F401
