"""Leaderboards: per-sample scores -> ranked summaries with confidence intervals.

The runner's long table (one row per dataset, method, sample and metric) is
reduced here to one row per (dataset, metric, method) holding the metric
value, its bootstrap confidence interval, the rank, and whether the method
can be told apart from the best one, all computed on the samples every
ranked method scored (`mmdf_bench.ranking`), and what the method was given
(its ``information``: oracle inputs, training data, pretrained weights,
profile, known deviations). Oracle rows (upper bounds) are shown, never
ranked. Most metrics are means of per-sample
scores; metrics that are not (balanced accuracy, F1) arrive as per-sample
components (rows ``"<metric>:<component>"``) and are pooled through their
aggregator. When the samples come in subsets (clean and artefact patches),
each subset also gets its own table. `to_markdown` prints the result for
people (`mmdf_bench.leaderboard_render`); `write_leaderboard` also stores CSV
and JSON for programs (`mmdf_bench.run_format`, which reads them back).

References
----------
.. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
       Chapman & Hall, 1993.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmdf_bench.data.base import REALISM_ORDER
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.leaderboard_render import to_markdown
from mmdf_bench.baseline_gain import GAIN_COLUMNS, gains_over_baseline
from mmdf_bench.family_gain import FAMILY_GAIN_COLUMNS, deep_vs_classical
from mmdf_bench.run_format import COMPLETED_COLUMNS as SECONDS_COLUMNS
from mmdf_bench.run_format import FAILURE_COLUMNS, SCORE_COLUMNS, write_leaderboard
from mmdf_bench.ranking import MIN_COVERAGE, rank_table

__all__ = ["Leaderboard", "build_leaderboard", "dataset_order", "method_information",
           "subset_dataset_name", "to_markdown", "write_leaderboard"]

#: Columns of `Leaderboard.samples`: which subset table each sample belongs to.
SUBSET_COLUMNS = ("dataset", "sample_id", "subset")
ROW_COLUMNS = (
    "dataset", "metric", "method", "n", "n_groups", "n_scored", "n_samples", "status", "mean",
    "ci_low", "ci_high", "ci_method", "rank", "best", "tied_with_best", "diff_to_best_low",
    "diff_to_best_high", "higher_is_better", "upper_bound", "information",
)
UNDEFINED_COLUMNS = ("dataset", "metric", "method", "n", "n_groups", "value")
_KEY = ["dataset", "method", "sample_id", "metric"]


def _empty(columns):
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


@dataclass
class Leaderboard:
    """Aggregated results of a run.

    Attributes
    ----------
    rows : pandas.DataFrame
        One row per (dataset, metric, method); columns `ROW_COLUMNS`. ``mean``
        holds the metric value (the mean of per-sample scores, or the pooled
        value of a component metric) on the table's common set of samples
        (see `mmdf_bench.ranking`); ``n`` counts those samples, ``n_groups``
        their resampled groups, ``n_scored`` the samples the method scored,
        ``n_samples`` the samples of the table; ``status`` is ``complete``
        or ``incomplete (k of n)``; ``rank`` 1 is best (ties share the lowest
        rank; missing for upper bounds and methods not ranked);
        ``diff_to_best_*`` bound the paired difference ``method - best`` (NaN
        for the best itself and when fewer than two samples are shared);
        ``ci_method`` is ``BCa``, ``percentile``, ``Wilson`` (a proportion
        of 0 or 1, `mmdf_bench.proportions`), ``degenerate`` or ``none``;
        ``upper_bound`` marks oracle rows; ``information`` says what the
        method was given and how it was made. Subset tables appear as
        datasets named by `subset_dataset_name`.
    unavailable : dict
        Metric name -> reason it could not be computed here.
    failures : pandas.DataFrame
        Columns `FAILURE_COLUMNS`; includes non-finite scores (stage ``"score"``).
    seconds : pandas.DataFrame
        Columns dataset, method, mean_seconds (per sample), n; subsets included.
    primary_metric : dict
        Dataset -> the metric its table is sorted by.
    metrics : dict
        The metric descriptions the leaderboard was built with.
    confidence : float
    unavailable_methods : dict
        Method name -> reason it could not run here (e.g. missing weights).
    pooled_metrics : tuple of str
        Metrics computed from pooled components rather than as means.
    subsets : dict
        Subset dataset name -> ``{"dataset": parent, "subset": name}``, in
        table order.
    undefined : pandas.DataFrame
        Columns `UNDEFINED_COLUMNS`: (dataset, metric, method) whose value is
        not finite on those samples (e.g. balanced accuracy of a one-class
        subset); they have no row in `rows` and are neither ranked nor
        compared.
    samples : pandas.DataFrame
        Columns `SUBSET_COLUMNS` of the samples that belong to a subset table.
    gains : pandas.DataFrame
        Columns `mmdf_bench.baseline_gain.GAIN_COLUMNS`: each method's paired
        difference to the task's baseline method (empty without one).
    dataset_realism : dict
        Dataset -> one of `mmdf_bench.data.base.REALISM_ORDER`; tables are
        listed in that order (real microscopy first), see `dataset_order`.
    family_gains : pandas.DataFrame
        Columns `mmdf_bench.family_gain.FAMILY_GAIN_COLUMNS`: per dataset and
        metric, the paired difference of the best deep and the best
        classical method, with its verdict (`mmdf_bench.family_gain`).
    dataset_notes : dict
        Dataset -> lines its description asks every table to carry (e.g.
        how the in-focus planes of a `zstack-folder` were chosen).
    """

    rows: pd.DataFrame
    unavailable: dict
    failures: pd.DataFrame
    seconds: pd.DataFrame
    primary_metric: dict
    metrics: dict
    confidence: float
    unavailable_methods: dict = field(default_factory=dict)
    pooled_metrics: tuple = ()
    subsets: dict = field(default_factory=dict)
    undefined: pd.DataFrame = field(default_factory=lambda: _empty(UNDEFINED_COLUMNS))
    samples: pd.DataFrame = field(default_factory=lambda: _empty(SUBSET_COLUMNS))
    gains: pd.DataFrame = field(default_factory=lambda: _empty(GAIN_COLUMNS))
    dataset_realism: dict = field(default_factory=dict)
    family_gains: pd.DataFrame = field(default_factory=lambda: _empty(FAMILY_GAIN_COLUMNS))
    dataset_notes: dict = field(default_factory=dict)


def dataset_order(leaderboard, names):
    """`names` ordered as summaries list datasets: real microscopy first, synthetic last, then by name.

    Datasets whose realism is unknown (runs written before it was recorded)
    come after the known ones.
    """
    def key(name):
        realism = leaderboard.dataset_realism.get(name)
        rank = REALISM_ORDER.index(realism) if realism in REALISM_ORDER else len(REALISM_ORDER)
        return rank, str(name)

    return sorted(names, key=key)


def method_information(methods, method, dataset):
    """The information text of `method` on `dataset` from a ``methods`` description ('' if none)."""
    information = methods.get(method, {}).get("information", "")
    if isinstance(information, dict):
        information = information.get(dataset, "")
    return str(information or "")


def subset_dataset_name(dataset, subset):
    """Name of the table that restricts `dataset` to one subset of its samples."""
    return f"{dataset} [subset={subset}]"


def _require_columns(frame, columns, name):
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{name} table lacks column(s) {missing}; has {list(frame.columns)}")


def _table(frame, columns, name):
    if frame is None or len(frame) == 0:
        return _empty(columns)
    _require_columns(frame, columns, name)
    return frame.loc[:, list(columns)].reset_index(drop=True)


def _name_components(frame, aggregators):
    """The metric each row belongs to (``base``) and its component (None for plain rows)."""
    base, component = [], []
    for name in frame["metric"].astype(str):
        head, colon, tail = name.partition(":")
        pooled = bool(colon) and head in aggregators
        base.append(head if pooled else name)
        component.append(tail if pooled else None)
    base = pd.Series(base, index=frame.index, dtype=object)
    component = pd.Series(component, index=frame.index, dtype=object)
    pooled = component.notna()
    plain_rows = frame["metric"].isin(list(aggregators))
    if plain_rows.any():
        raise InvalidInputError(
            f"metric(s) {sorted(set(frame.loc[plain_rows, 'metric']))} are pooled from "
            "components but have plain score rows; expected rows named '<metric>:<component>'"
        )
    for name, (components, _) in aggregators.items():
        stray = set(component[pooled & (base == name)]) - set(components)
        if stray:
            raise InvalidInputError(
                f"metric {name} has score rows for unknown component(s) {sorted(stray)}; "
                f"its components are {list(components)}"
            )
    return base, component


def _split_scores(scores, metrics, aggregators):
    """Validated scores of available metrics, and non-finite scores as failure rows."""
    _require_columns(scores, [c for c in SCORE_COLUMNS if c != "group"], "scores")
    frame = scores.copy()
    frame["sample_id"] = frame["sample_id"].astype(str)
    group = frame["group"] if "group" in frame.columns else pd.Series(np.nan, index=frame.index)
    frame["group"] = group.where(group.notna(), frame["sample_id"]).astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="raise").astype(np.float64)
    frame = frame.loc[:, list(SCORE_COLUMNS)]
    frame["base"], frame["component"] = _name_components(frame, aggregators)

    unknown = sorted(set(frame["base"]) - set(metrics))
    if unknown:
        raise InvalidInputError(
            f"scores hold metric(s) {unknown} missing from `metrics`, so their direction "
            "(higher or lower is better) is unknown"
        )
    available = {name for name, info in metrics.items() if info.get("available", True)}
    frame = frame[frame["base"].isin(available)]

    duplicated = frame.duplicated(_KEY, keep=False)
    if duplicated.any():
        example = frame.loc[duplicated, _KEY].head(3).to_dict("records")
        raise InvalidInputError(
            f"{int(duplicated.sum())} score rows repeat a (dataset, method, sample_id, metric) "
            f"key, e.g. {example}"
        )

    finite = np.isfinite(frame["value"].to_numpy())
    bad = frame.loc[~finite]
    bad_rows = pd.DataFrame({
        "dataset": bad["dataset"], "method": bad["method"], "sample_id": bad["sample_id"],
        "stage": "score",
        "error": [f"metric {m} returned {v}" for m, v in zip(bad["metric"], bad["value"])],
    })
    return frame.loc[finite].reset_index(drop=True), bad_rows.reset_index(drop=True)


def _subsets(samples, datasets):
    """Sample table of datasets with more than one subset, and their table names in order."""
    if samples is None or len(samples) == 0 or "subset" not in samples.columns:
        return _empty(SUBSET_COLUMNS), {}
    table = _table(samples, SUBSET_COLUMNS, "samples")
    table = table[table["subset"].notna() & table["dataset"].isin(list(datasets))]
    table = table.astype({"sample_id": str, "subset": str})
    names = {}
    for dataset, rows in table.groupby("dataset", sort=True):
        kinds = sorted(set(rows["subset"]))
        if len(kinds) > 1:
            for kind in kinds:
                names[subset_dataset_name(dataset, kind)] = {"dataset": dataset, "subset": kind}
    keep = table["dataset"].isin({info["dataset"] for info in names.values()})
    return table[keep].reset_index(drop=True), names


def _restrict(frame, samples, subsets):
    """Copies of `frame`'s rows for each subset table, renamed to the table's dataset name."""
    parts = [frame]
    for name, info in subsets.items():
        chosen = samples[(samples["dataset"] == info["dataset"])
                         & (samples["subset"] == info["subset"])]["sample_id"]
        rows = frame[(frame["dataset"] == info["dataset"])
                     & frame["sample_id"].astype(str).isin(set(chosen))]
        parts.append(rows.assign(dataset=name))
    return pd.concat(parts, ignore_index=True)


def build_leaderboard(scores, *, metrics, failures=None, seconds=None, primary_metrics=(),
                      confidence=0.95, n_resamples=9999, seed=0, unavailable_methods=None,
                      aggregators=None, samples=None, baseline=None, gain_metrics=(),
                      methods=None, min_coverage=MIN_COVERAGE, datasets=None):
    """Aggregate per-sample scores into a ranked leaderboard.

    Parameters
    ----------
    scores : pandas.DataFrame
        Columns dataset, method, sample_id, group, metric, value; one row per
        dataset x method x sample x metric. ``group`` (e.g. the specimen) may
        be missing or NaN, in which case each sample is its own group.
        Metrics in `aggregators` have one row per component instead, named
        ``"<metric>:<component>"``.
    metrics : dict
        Metric name -> dict with ``higher_is_better`` (bool), ``available``
        (bool), ``reason`` (str or None), ``summary`` (str) and optionally
        ``proportion`` (bool, per-sample values are 0/1 counts). Component
        metrics are described under their own name.
    failures : pandas.DataFrame, optional
        Columns dataset, method, sample_id, stage, error.
    seconds : pandas.DataFrame, optional
        Columns dataset, method, sample_id, seconds (prediction time).
    primary_metrics : tuple of str, optional
        The first one a dataset has scores for sorts that dataset's table;
        otherwise the first of `metrics` (in order) it has scores for.
    unavailable_methods : dict, optional
        Method name -> reason it could not run here; listed, not ranked.
    confidence, n_resamples, seed
        Passed to the `mmdf_bench.stats` functions for every interval, so the
        result does not depend on the order of methods.
    aggregators : dict, optional
        Metric name -> ``(components, aggregate)`` for metrics that are not
        means of per-sample scores: `components` is the tuple of component
        names and ``aggregate(sums, count)`` maps a dict of component sums
        (ndarrays) and the matching sample counts to the metric value (see
        `mmdf_bench.metrics.base.Metric.aggregate`).
    samples : pandas.DataFrame, optional
        Columns dataset, sample_id, subset (others are ignored). A dataset
        whose samples fall in more than one subset also gets one table per
        subset, named ``subset_dataset_name(dataset, subset)``; samples
        missing from this table belong to no subset table.
    baseline : str, optional
        Method every other one is compared with on `gain_metrics` (paired
        bootstrap, see `mmdf_bench.baseline_gain`).
    gain_metrics : tuple of str
    methods : dict, optional
        Method name -> ``{"upper_bound": bool, "information": ...}``, where
        ``information`` is a string or ``{dataset: string}`` (as the runner
        records it in the manifest). Upper bounds are shown, never ranked.
    min_coverage : float, optional
        Fraction of a table's samples a method must have scored to be
        ranked (see `mmdf_bench.ranking`).
    datasets : dict, optional
        Dataset name -> its description (as in the manifest), whose
        ``realism`` orders the tables (`dataset_order`) and whose ``notes``
        (a list of lines) every rendering of its table carries.

    Returns
    -------
    leaderboard : Leaderboard

    Notes
    -----
    Ranks, the best method and ties are decided on the table's common set:
    the samples that every ranked method scored. A method is *tied with the
    best* when the paired bootstrap interval of its difference to the best
    method on those samples contains 0. Non-finite scores are not aggregated: they become failure rows with
    stage ``"score"``; a sample missing any component of a pooled metric is
    left out of that metric. A metric value that is undefined on a table's
    samples (NaN or infinite, e.g. balanced accuracy of a one-class subset)
    gives no row: it is listed in `Leaderboard.undefined` and shown as "–".

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
           Chapman & Hall, 1993, chapters 14 and 16.
    """
    aggregators = dict(aggregators or {})
    frame, bad_scores = _split_scores(scores, metrics, aggregators)
    sample_table, subsets = _subsets(samples, set(frame["dataset"]))
    frame = _restrict(frame, sample_table, subsets)
    options = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)

    methods = dict(methods or {})
    upper_bounds = {name for name, info in methods.items() if info.get("upper_bound")}

    records, undefined = [], []
    for (dataset, metric), block in frame.groupby(["dataset", "base"], sort=True):
        higher = bool(metrics[metric].get("higher_is_better", True))
        ranked, missing = rank_table(block, higher, options, aggregators.get(metric),
                                     upper_bounds=upper_bounds, min_coverage=min_coverage,
                                     proportion=bool(metrics[metric].get("proportion", False)))
        parent = subsets.get(dataset, {}).get("dataset", dataset)
        records += [{"dataset": dataset, "metric": metric, **record, "higher_is_better": higher,
                     "information": method_information(methods, record["method"], parent)}
                    for record in ranked]
        undefined += [{"dataset": dataset, "metric": metric, **record} for record in missing]
    rows = pd.DataFrame(records, columns=list(ROW_COLUMNS))
    rows["rank"] = rows["rank"].astype("Int64")
    rows = rows.sort_values(["dataset", "metric", "rank", "method"], ignore_index=True)
    undefined = pd.DataFrame(undefined, columns=list(UNDEFINED_COLUMNS))

    primary = {}
    for dataset, names in rows.groupby("dataset")["metric"]:
        present = set(names)
        candidates = ([m for m in primary_metrics if m in present]
                      + [m for m in metrics if m in present])
        primary[dataset] = candidates[0]

    failure_table = _table(failures, FAILURE_COLUMNS, "failures")
    if len(bad_scores):
        failure_table = pd.concat([failure_table, bad_scores], ignore_index=True)
    timing = _table(seconds, SECONDS_COLUMNS, "seconds")
    timing = _restrict(timing.assign(sample_id=timing["sample_id"].astype(str)),
                       sample_table, subsets)
    timing = (timing.assign(seconds=pd.to_numeric(timing["seconds"]))
              .groupby(["dataset", "method"], as_index=False)
              .agg(mean_seconds=("seconds", "mean"), n=("seconds", "size")))

    unavailable = {name: info.get("reason") or "unavailable here (no reason given)"
                   for name, info in metrics.items() if not info.get("available", True)}
    pooled = tuple(name for name in metrics if name in aggregators)
    gains = _empty(GAIN_COLUMNS)
    if baseline is not None and gain_metrics:
        gains = gains_over_baseline(
            frame.assign(metric=frame["base"]), baseline=baseline,
            metrics=[m for m in gain_metrics if m in metrics and m not in aggregators],
            higher_is_better={m: metrics[m].get("higher_is_better", True) for m in metrics}, **options)
    # the verdict of the benchmark: best deep vs best classical, on the whole datasets only
    family_gains = deep_vs_classical(
        frame, rows[~rows["dataset"].isin(list(subsets))], methods=methods,
        higher_is_better={m: metrics[m].get("higher_is_better", True) for m in metrics},
        aggregators=aggregators, **options)
    return Leaderboard(rows=rows, unavailable=unavailable, failures=failure_table,
                       seconds=timing, primary_metric=primary, metrics=dict(metrics),
                       confidence=confidence, unavailable_methods=dict(unavailable_methods or {}),
                       pooled_metrics=pooled, subsets=subsets, undefined=undefined,
                       samples=sample_table, gains=gains,
                       dataset_realism={name: info.get("realism") for name, info in (datasets or {}).items()
                                        if isinstance(info, dict) and info.get("realism")},
                       family_gains=family_gains,
                       dataset_notes={name: [str(line) for line in info["notes"]]
                                      for name, info in (datasets or {}).items()
                                      if isinstance(info, dict) and info.get("notes")})
