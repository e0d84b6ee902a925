"""Ranking one leaderboard table on the samples every method scored.

A table is one (dataset or subset, metric). Its methods are compared on the
*common set*: the samples that every ranked method scored. A method that
fails on the hardest samples would otherwise average over easier ones and
could rank first without being better anywhere. Every ranked method's
value, interval, rank, bold and tie test use the common set; a method that
scored fewer samples than the table holds is marked
``incomplete (k of n)``.

Two kinds of row are shown but never ranked, bolded or used to define the
common set or the best method:

* upper bounds (oracle rows, `mmdf_bench.tasks.base.Method.upper_bound`),
  summarised on the common set;
* methods that scored less than `MIN_COVERAGE` of the table's samples,
  summarised on their own samples: one method that runs on almost nothing
  must not shrink every other comparison to almost nothing.

A proportion (a metric whose per-sample values or components are 0/1
counts, `mmdf_bench.metrics.base.Metric.proportion`) estimated as exactly 0
or 1 has no bootstrap spread; it gets the Wilson interval on the effective number
of groups instead (`mmdf_bench.proportions`).

References
----------
.. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
       Chapman & Hall, 1993, chapters 14 and 16.
"""

import math

import pandas as pd

from mmdf_bench.proportions import boundary_proportion_interval
from mmdf_bench.stats import (bootstrap_mean, bootstrap_statistic, paired_difference,
                              paired_statistic_difference)

__all__ = ["MIN_COVERAGE", "common_samples", "rank_table", "status_text"]

#: A method must score at least this fraction of a table's samples to be ranked.
MIN_COVERAGE = 0.5


def status_text(n_scored, n_samples, *, ranked=True):
    """``"complete"``, ``"incomplete (k of n)"`` or ``"incomplete (k of n), not ranked"``."""
    if n_scored >= n_samples:
        return "complete"
    return f"incomplete ({n_scored} of {n_samples})" + ("" if ranked else ", not ranked")


def _as_statistic(components, aggregate):
    """A metric's ``aggregate(dict of sums, count)`` as a ``statistic(sums (..., k), counts)``."""
    def statistic(sums, counts):
        return aggregate({name: sums[..., i] for i, name in enumerate(components)}, counts)

    return statistic


def _method_tables(block, components):
    """Method -> per-sample component values (sample_id x components), complete rows only."""
    if components is None:
        block = block.assign(component="value")
        components = ("value",)
    tables = {}
    for method, rows in block.groupby("method", sort=True):
        wide = rows.pivot(index="sample_id", columns="component", values="value")
        tables[method] = wide.reindex(columns=list(components)).dropna()
    return tables


def common_samples(tables, *, upper_bounds=(), min_coverage=MIN_COVERAGE):
    """The samples every ranked method scored, and which methods are ranked.

    Parameters
    ----------
    tables : dict
        Method -> table indexed by sample id (the samples it scored).
    upper_bounds : collection of str
        Oracle methods: never ranked, never shrink the common set.
    min_coverage : float
        Fraction of the table's samples a method must have scored to be ranked.

    Returns
    -------
    common : pandas.Index
        Sorted sample ids; empty when the ranked methods share none.
    ranked : list of str
        Methods ranked on `common`.
    n_samples : int
        Samples of the table (scored by any method).
    """
    everything = pd.Index(sorted(set().union(*(set(table.index) for table in tables.values()))))
    ranked = [method for method, table in tables.items()
              if method not in upper_bounds and len(table) >= min_coverage * len(everything)]
    common = everything
    for method in ranked:
        common = common.intersection(tables[method].index)
    return common.sort_values(), ranked, len(everything)


def rank_table(block, higher_is_better, options, aggregator=None, *, upper_bounds=(),
               min_coverage=MIN_COVERAGE, proportion=False):
    """Rows of one (dataset, metric): interval per method, ranks, ties with the best.

    Parameters
    ----------
    block : pandas.DataFrame
        Long scores of one table: method, sample_id, group, component, value.
    higher_is_better : bool
    options : dict
        ``confidence``, ``n_resamples``, ``seed`` of every interval.
    aggregator : tuple, optional
        ``(components, aggregate)`` of a pooled metric.
    upper_bounds : collection of str
    min_coverage : float
    proportion : bool
        The metric's per-sample values (or components) are 0/1 counts
        (`mmdf_bench.metrics.base.Metric.proportion`): a value of exactly 0
        or 1 gets the Wilson interval.

    Returns
    -------
    records : list of dict
        One per method with a finite value: ``n`` (samples summarised),
        ``n_groups``, ``n_scored``, ``n_samples``, ``status``, ``mean``,
        ``ci_*``, ``rank`` (None when not ranked), ``best``,
        ``tied_with_best``, ``diff_to_best_*``, ``upper_bound``.
    undefined : list of dict
        ``(method, n, n_groups, value)`` of methods whose value is not finite.
    """
    components, aggregate = aggregator if aggregator else (None, None)
    tables = _method_tables(block, components)
    group = block.groupby("sample_id")["group"].first()
    statistic = _as_statistic(components, aggregate) if aggregator else None
    common, ranked, n_samples = common_samples(tables, upper_bounds=set(upper_bounds),
                                               min_coverage=min_coverage)
    if not len(common):
        ranked = []  # nothing shared: nothing can be compared

    def interval(table):
        groups = group[table.index]
        if statistic is None:
            result = bootstrap_mean(table["value"], groups=groups, **options)
        else:
            result = bootstrap_statistic(table.to_numpy(), statistic=statistic, groups=groups,
                                         **options)
        if not proportion:
            return result
        return boundary_proportion_interval(table.to_numpy(), groups.to_numpy(), result) or result

    def difference(table, best_table):
        a, b = table.loc[common], best_table.loc[common]
        if statistic is None:
            return paired_difference(a["value"], b["value"], groups=group[common], **options)
        return paired_statistic_difference(a.to_numpy(), b.to_numpy(), statistic=statistic,
                                           groups=group[common], **options)

    records, undefined = {}, []
    for method, table in tables.items():
        on_common = method in ranked or (method in upper_bounds and len(common))
        used = table.loc[table.index.intersection(common)] if on_common else table
        result = interval(used)
        if not math.isfinite(result.estimate):
            undefined.append({"method": method, "n": len(used), "n_groups": result.n,
                              "value": result.estimate})
            continue
        records[method] = {
            "n": len(used), "n_groups": result.n, "n_scored": len(table), "n_samples": n_samples,
            "status": status_text(len(table), n_samples,
                                  ranked=method in ranked or method in upper_bounds),
            "mean": result.estimate, "ci_low": result.low, "ci_high": result.high,
            "ci_method": result.method, "rank": None, "best": False, "tied_with_best": False,
            "diff_to_best_low": math.nan, "diff_to_best_high": math.nan,
            "upper_bound": method in upper_bounds,
        }
    contenders = [method for method in ranked if method in records]
    if not contenders:
        return [{"method": method, **record} for method, record in records.items()], undefined
    means = pd.Series({method: records[method]["mean"] for method in contenders})
    ranks = means.rank(ascending=not higher_is_better, method="min").astype(int)
    best = min(ranks.index[ranks == 1])  # the reference when several share rank 1
    for method in contenders:
        record = records[method]
        record.update(rank=int(ranks[method]), best=bool(ranks[method] == 1))
        if method == best:
            continue
        # Fewer than two shared units, or an undefined difference, give NaN
        # bounds, hence "not tied".
        result = difference(tables[method], tables[best])
        record.update(tied_with_best=result.contains(0.0),
                      diff_to_best_low=result.low, diff_to_best_high=result.high)
    return [{"method": method, **record} for method, record in records.items()], undefined
