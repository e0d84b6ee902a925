"""Regression check between two runs: paired bootstrap of every score difference.

`compare_runs` is what ``mmdf-bench compare BASE NEW`` calls. The two runs'
long tables are matched on (dataset, method, sample, metric); for each
(dataset, method, metric) the difference ``NEW - BASE`` of the metric over
the samples both runs scored gets a paired bootstrap confidence interval
(`mmdf_bench.stats`), resampling specimens when samples share one. The
difference is

* a **regression** when the whole interval lies beyond the tolerance on the
  worse side (below ``-tolerance`` for a higher-is-better metric, above
  ``+tolerance`` for a lower-is-better one);
* an **improvement** when the whole interval lies beyond the tolerance on
  the better side;
* **unchanged** otherwise.

Samples of a single specimen give no interval; the difference on them (the
point estimate) is then judged against the tolerance in the same way.

A (dataset, method, metric) the base run scored and the new run did not
(``missing``), or scored on fewer samples (``lost samples``), also fails the
check: a method that stops producing results is a regression too. Runs whose
datasets differ in version or options, or that evaluated different samples,
cannot be compared at all: `IncomparableRunsError`.

Each (dataset, method, metric) is judged on its own at the chosen
confidence. Deterministic methods give exactly the same scores on a rerun
(zero-width intervals at 0), so nothing is flagged by chance; for results
that vary from run to run (e.g. retrained networks), set the tolerance to
that variation, or about 5% of the rows will cross a zero tolerance by
chance alone.

References
----------
.. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
       Chapman & Hall, 1993, chapters 14.3 (BCa) and 16 (paired comparisons).
"""

import fnmatch
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmdf_bench.compare_render import FAILING, to_markdown
from mmdf_bench.errors import MmdfBenchError, UnknownNameError
from mmdf_bench.run_folder import IncomparableRunsError, RunTables, check_comparable, load_run
from mmdf_bench.stats import paired_difference, paired_statistic_difference

__all__ = ["Comparison", "IncomparableRunsError", "Tolerance", "compare_runs", "load_run",
           "parse_tolerances", "to_markdown"]

COMPARISON_COLUMNS = (
    "dataset", "method", "metric", "higher_is_better", "n", "n_base", "n_new", "base", "new",
    "difference", "ci_low", "ci_high", "ci_method", "tolerance", "status",
)


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move in the worse direction before it counts.

    Attributes
    ----------
    value : float
        Non-negative; in metric units, or a percentage of the base value when
        `relative`.
    relative : bool
    """

    value: float = 0.0
    relative: bool = False

    def absolute(self, base_value):
        """The tolerance in metric units for a metric whose base value is `base_value`."""
        if not self.relative:
            return self.value
        return self.value / 100.0 * abs(base_value)

    def __str__(self):
        return f"{self.value:g}%" if self.relative else f"{self.value:g}"


def parse_tolerances(texts):
    """Parse ``METRIC=VALUE`` options into ``{metric or pattern: Tolerance}``.

    ``VALUE`` is in the metric's units (``psnr=0.1`` dB) or, with a ``%``
    suffix, relative to the base value (``ssim=0.5%``). ``METRIC`` may be a
    shell-style pattern (``'*=0.001'``); an exact name wins over patterns,
    and the first matching pattern over later ones.

    Raises
    ------
    MmdfBenchError
        On a malformed or negative value.
    """
    tolerances = {}
    for text in texts or ():
        name, equals, value = str(text).partition("=")
        name, value = name.strip(), value.strip()
        relative = value.endswith("%")
        number = value[:-1] if relative else value
        try:
            amount = float(number)
        except ValueError:
            amount = math.nan
        if not equals or not name or not math.isfinite(amount) or amount < 0:
            raise MmdfBenchError(
                f"bad tolerance {text!r}: expected METRIC=VALUE with a non-negative number, "
                "e.g. psnr=0.1 or ssim=0.5%")
        tolerances[name] = Tolerance(amount, relative)
    return tolerances


def _tolerance_for(metric, tolerances):
    if metric in tolerances:
        return tolerances[metric]
    for pattern, tolerance in tolerances.items():
        if fnmatch.fnmatchcase(metric, pattern):
            return tolerance
    return Tolerance()


def _recorded(name, base, new):
    return (new.manifest.get("metrics", {}).get(name)
            or base.manifest.get("metrics", {}).get(name) or {})


def _registered(name):
    from mmdf_bench import registry

    try:
        return registry.metrics.load(name)
    except UnknownNameError:
        return None


def _pooled_metrics(base, new):
    """Metrics whose rows are per-sample components (``<metric>:<component>``)."""
    heads = set()
    for scores in (base.scores, new.scores):
        parts = scores["metric"].str.partition(":")
        heads |= set(parts.loc[parts[1] == ":", 0])
    pooled = set()
    for name in heads:
        component = _registered(name)
        if component is not None:
            if getattr(component, "components", ()):
                pooled.add(name)
        elif _recorded(name, base, new).get("components"):
            raise MmdfBenchError(
                f"metric {name!r} is pooled from components but is not registered here, so "
                "its aggregate cannot be computed; install the package that provides it")
    return pooled


def _metric_facts(names, base, new):
    """Metric -> (higher_is_better, aggregator or None) from the registry, else the manifests."""
    facts = {}
    for name in names:
        component = _registered(name)
        if component is not None:
            components = tuple(getattr(component, "components", ()) or ())
            aggregator = (components, component.aggregate) if components else None
            facts[name] = (bool(component.higher_is_better), aggregator)
            continue
        recorded = _recorded(name, base, new)
        if "higher_is_better" not in recorded:
            raise MmdfBenchError(
                f"metric {name!r} is not registered here and the manifests do not say whether "
                "higher is better; install the package that provides it")
        facts[name] = (bool(recorded["higher_is_better"]), None)
    return facts


def _split_names(scores, pooled_names):
    """The metric each row belongs to and its component ('value' for plain rows)."""
    heads = scores["metric"].str.partition(":")
    pooled = (heads[1] == ":") & heads[0].isin(pooled_names)
    base = heads[0].where(pooled, scores["metric"])
    component = heads[2].where(pooled, "value")
    return scores.assign(base=base, component=component)


def _wide(block, components):
    """sample_id x components of one (dataset, method, metric); complete samples only."""
    table = block.pivot(index="sample_id", columns="component", values="value")
    return table.reindex(columns=list(components)).dropna()


def _status(interval, higher_is_better, tolerance):
    low, high = interval.low, interval.high
    if not (math.isfinite(low) and math.isfinite(high)):
        # one specimen gives no interval, but the difference on its samples is still known:
        # judged on it, a change beyond the tolerance is not waved through as "unresolved"
        if not math.isfinite(interval.estimate):
            return "unresolved"
        low = high = interval.estimate
    # Express the interval as a change for the better (positive) or worse.
    low, high = (low, high) if higher_is_better else (-high, -low)
    if high < -tolerance:
        return "regression"
    if low > tolerance:
        return "improvement"
    return "unchanged"


def compare_runs(base, new, *, tolerances=None, confidence=0.95, n_resamples=9999, seed=0):
    """Compare a new run against a base run, metric by metric.

    Parameters
    ----------
    base, new : RunTables or str or Path
        Results folders (or what `load_run` made of them).
    tolerances : dict or list of str, optional
        ``{metric or pattern: Tolerance}`` or ``METRIC=VALUE`` strings (see
        `parse_tolerances`); metrics without one have tolerance 0, so any
        difference whose interval excludes 0 counts.
    confidence : float, optional
        Coverage of the paired bootstrap intervals.
    n_resamples, seed : int, optional
        Bootstrap resamples and the seed of the resampling generator.

    Returns
    -------
    Comparison

    Raises
    ------
    IncomparableRunsError
        When the runs evaluated different samples or dataset versions.
    MmdfBenchError
        When a tolerance names a metric neither run has, or a metric's
        direction is unknown.
    """
    base = base if isinstance(base, RunTables) else load_run(base)
    new = new if isinstance(new, RunTables) else load_run(new)
    check_comparable(base, new)
    if tolerances is None or isinstance(tolerances, dict):
        tolerances = dict(tolerances or {})
    else:
        tolerances = parse_tolerances(tolerances)

    pooled = _pooled_metrics(base, new)
    old = _split_names(base.scores, pooled)
    now = _split_names(new.scores, pooled)
    facts = _metric_facts(sorted(set(old["base"]) | set(now["base"])), base, new)
    for name in tolerances:
        if name not in facts and not any(fnmatch.fnmatchcase(m, name) for m in facts):
            raise MmdfBenchError(f"--tolerance names metric {name!r}, which neither run has; "
                                 f"their metrics are {', '.join(sorted(facts))}")

    old_blocks = dict(list(old.groupby(["dataset", "method", "base"], sort=True)))
    new_blocks = dict(list(now.groupby(["dataset", "method", "base"], sort=True)))
    options = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    records = []
    for key in sorted(set(old_blocks) | set(new_blocks)):
        dataset, method, metric = key
        higher, aggregator = facts[metric]
        components = aggregator[0] if aggregator else ("value",)
        record = dict(dataset=dataset, method=method, metric=metric, higher_is_better=higher)
        if key not in new_blocks or key not in old_blocks:
            table = _wide(old_blocks.get(key, new_blocks.get(key)), components)
            side = "base" if key in old_blocks else "new"
            record.update({"n": 0, f"n_{side}": len(table), side: _value(table, aggregator),
                           "status": "missing" if side == "base" else "new"})
        else:
            record.update(_compare_block(_wide(old_blocks[key], components),
                                         _wide(new_blocks[key], components),
                                         groups=base.samples.get(dataset, {}),
                                         aggregator=aggregator, higher_is_better=higher,
                                         tolerance=_tolerance_for(metric, tolerances),
                                         options=options))
        records.append(record)
    rows = pd.DataFrame(records, columns=list(COMPARISON_COLUMNS))
    return Comparison(rows=rows, base=base, new=new, confidence=confidence,
                      tolerances=tolerances)


def _value(table, aggregator):
    """The metric on a sample x components table: a mean, or the pooled statistic."""
    if not len(table):
        return math.nan
    if aggregator is None:
        return float(table["value"].mean())
    return float(_as_statistic(aggregator)(table.to_numpy().sum(axis=0), len(table)))


def _compare_block(before, after, *, groups, aggregator, higher_is_better, tolerance, options):
    """Fields of one comparison row from the base and new sample x components tables."""
    shared = before.index.intersection(after.index).sort_values()
    labels = np.array([str(groups.get(sample, sample)) for sample in shared])
    a, b = after.loc[shared].to_numpy(), before.loc[shared].to_numpy()
    if aggregator:
        interval = paired_statistic_difference(a, b, statistic=_as_statistic(aggregator),
                                               groups=labels, **options)
    else:
        interval = paired_difference(a[:, 0], b[:, 0], groups=labels, **options)
    base_value = _value(before.loc[shared], aggregator)
    allowed = tolerance.absolute(base_value) if math.isfinite(base_value) else 0.0
    status = _status(interval, higher_is_better, allowed)
    if status != "regression" and len(shared) < len(before):
        status = "lost samples"
    return dict(n=len(shared), n_base=len(before), n_new=len(after), base=base_value,
                new=_value(after.loc[shared], aggregator), difference=interval.estimate,
                ci_low=interval.low, ci_high=interval.high, ci_method=interval.method,
                tolerance=allowed, status=status)


def _as_statistic(aggregator):
    components, aggregate = aggregator

    def statistic(sums, counts):
        sums = np.asarray(sums, dtype=np.float64)
        return aggregate({name: sums[..., i] for i, name in enumerate(components)}, counts)

    return statistic


@dataclass
class Comparison:
    """The result of `compare_runs`.

    Attributes
    ----------
    rows : pandas.DataFrame
        One row per (dataset, method, metric), columns `COMPARISON_COLUMNS`:
        ``base`` and ``new`` are the metric on the shared samples,
        ``difference`` is ``new - base`` with its interval ``ci_low..ci_high``,
        ``tolerance`` is in metric units, ``status`` one of `STATUSES`.
    base, new : RunTables
    confidence : float
    tolerances : dict
    """

    rows: pd.DataFrame
    base: RunTables
    new: RunTables
    confidence: float
    tolerances: dict

    def count(self, status):
        """Number of rows with `status`."""
        return int((self.rows["status"] == status).sum())

    @property
    def failing(self):
        """Rows that fail the check (regressions, missing results, lost samples)."""
        return self.rows[self.rows["status"].isin(FAILING)]

    @property
    def ok(self):
        """True when nothing regressed and nothing the base run had is missing."""
        return self.failing.empty


