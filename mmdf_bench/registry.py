"""Names -> classes, for methods, datasets and metrics.

Built-in and third-party components register the same way: an entry point in
the distribution's ``pyproject.toml``::

    [project.entry-points."mmdf_bench.methods"]
    my-fusion = "my_package.fusion:MyFusion"

Discovery is lazy: listing names reads package metadata only; a component's
module is imported when its class is first needed (to filter by task, to
describe it or to build it). Modules registered here keep heavy imports
(torch, pyiqa) inside functions so listing stays light.

In a notebook, the `register_method` decorator (and its dataset and metric
siblings) adds a class without packaging it. Two components claiming one
name is an error, never a silent override.

A broken plugin does not take the tool down. A class is checked when it is
first loaded (`mmdf_bench.contracts`); one whose module fails to import,
or that breaks the contract, is skipped by listings and by default (and
pattern) selections with one warning naming its distribution, its target
and the error, and raises `PluginError` when it is asked for by name.
"""

import difflib
import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from mmdf_bench.contracts import CHECKS, tasks_of
from mmdf_bench.errors import NameCollisionError, PluginError, UnknownNameError

_log = logging.getLogger(__name__)


@dataclass
class Entry:
    """One registered component.

    Attributes
    ----------
    name : str
    target : str
        ``module:attribute`` of the class, or a description for in-memory registrations.
    distribution : str
        The distribution that provides it (``__main__`` for the decorator).
    version : str or None
        That distribution's version.
    kind : str
        "method", "dataset" or "metric", for messages.
    """

    name: str
    target: str
    distribution: str
    version: str | None = None
    kind: str = "component"
    _loaded: object = None
    _entry_point: object = None
    _check: object = None
    _error: Exception = None

    def origin(self) -> str:
        """``method 'x' of dist 1.0 (module:Class)``: who to blame, for messages."""
        provider = f"{self.distribution} {self.version or ''}".strip()
        return f"{self.kind} {self.name!r} of {provider} ({self.target})"

    def load(self) -> type:
        """Import, check and return the registered class.

        Raises
        ------
        PluginError
            When its module cannot be imported or the class breaks the
            contract (remembered: the import is not tried again).
        """
        if self._loaded is None and self._error is None:
            try:
                component = self._entry_point.load()
            except Exception as error:  # a plugin's bug or missing dependency, not ours
                message = " ".join(str(error).split())
                self._error = PluginError(f"{self.origin()} cannot be loaded: "
                                          f"{type(error).__name__}: {message}")
            else:
                problems = self._check(self.name, component) if self._check else []
                if problems:
                    self._error = PluginError(f"{self.origin()} breaks the {self.kind} contract: "
                                              + "; ".join(problems))
                else:
                    self._loaded = component
        if self._error is not None:
            raise self._error
        return self._loaded

    def provenance(self) -> dict:
        """Where the component comes from, for the results manifest."""
        return {"target": self.target, "distribution": self.distribution, "version": self.version}


class Registry:
    """A named collection of one kind of component, fed by one entry-point group.

    Parameters
    ----------
    kind : str
        Singular noun used in messages ("method").
    group : str
        Entry-point group (``mmdf_bench.methods``).
    """

    def __init__(self, kind: str, group: str, *, retired: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._entries = None
        self._local = {}
        self._warned = set()
        # names that were renamed or removed -> what to use instead
        self.retired = dict(retired or {})

    # discovery -------------------------------------------------------------
    def _discover(self):
        entries = {}
        for entry_point in metadata.entry_points(group=self.group):
            distribution = entry_point.dist
            provider = distribution.metadata["Name"] if distribution else "unknown"
            version = distribution.version if distribution else None
            entry = Entry(entry_point.name, entry_point.value, provider, version, self.kind,
                          _entry_point=entry_point, _check=CHECKS.get(self.kind))
            known = entries.get(entry.name)
            if known is not None:
                if known.target == entry.target:
                    continue  # one distribution seen twice (e.g. an in-tree egg-info)
                raise NameCollisionError(
                    f"{self.kind} name {entry.name!r} is registered twice: by {known.distribution} "
                    f"({known.target}) and by {entry.distribution} ({entry.target}); "
                    f"uninstall one of them or rename its entry point"
                )
            entries[entry.name] = entry
        return entries

    @property
    def entries(self) -> dict[str, Entry]:
        """All entries, name -> `Entry` (entry points first discovered on first use)."""
        if self._entries is None:
            self._entries = self._discover()
            for name, entry in self._local.items():
                self._check_free(name, entry)
        return {**self._entries, **self._local}

    def refresh(self) -> None:
        """Forget discovered entry points (after installing a plugin at run time)."""
        self._entries = None

    def _check_free(self, name, entry):
        known = (self._entries or {}).get(name) or self._local.get(name)
        if known is not None and known is not entry:
            raise NameCollisionError(
                f"{self.kind} name {name!r} is already registered by {known.distribution} "
                f"({known.target}); choose another name"
            )

    # registration ----------------------------------------------------------
    def register(self, component: type | None = None, *, name: str | None = None):
        """Register a class in memory; usable as ``@register`` or ``@register(name=...)``."""

        def decorate(component):
            entry_name = name or getattr(component, "name", "")
            if not entry_name:
                raise ValueError(f"cannot register {component!r}: give it a `name`")
            target = f"{component.__module__}:{component.__qualname__}"
            entry = Entry(entry_name, target, "__main__", None, self.kind, _loaded=component)
            self._check_free(entry_name, entry)
            if self._entries is None:
                self._entries = self._discover()
                self._check_free(entry_name, entry)
            self._local[entry_name] = entry
            return component

        return decorate(component) if component is not None else decorate

    def unregister(self, name: str) -> None:
        """Remove an in-memory registration."""
        self._local.pop(name, None)

    # look-up ---------------------------------------------------------------
    def names(self, pattern: str | None = None, *, task: str | None = None,
              loadable: bool = False) -> list[str]:
        """Sorted names matching a shell-style `pattern` (case-insensitive), optionally of one task.

        Filtering by `task` loads each class; with `loadable` every class is
        loaded even without a task. Either way, a class that cannot be
        loaded is left out, with one warning (`usable`).
        """
        names = sorted(self.entries)
        if pattern:
            names = [name for name in names if fnmatch.fnmatch(name.lower(), pattern.lower())]
        if task or loadable:
            components = {name: self.usable(name) for name in names}
            names = [name for name in names if components[name] is not None
                     and (not task or task in tasks_of(components[name]))]
        return names

    def usable(self, name: str) -> type | None:
        """The class registered as `name`, or None (with one warning) when it cannot be loaded."""
        entry = self.get(name)
        try:
            return entry.load()
        except PluginError as error:
            if name not in self._warned:
                self._warned.add(name)
                _log.warning("skipping %s", error)
            return None

    def get(self, name: str, *, task: str | None = None) -> Entry:
        """Return the `Entry` called `name`; an unknown name gets a "did you mean" error.

        With `task`, the suggestions are names of that task (a fusion typo is not
        answered with a focus method).
        """
        entries = self.entries
        if name in entries:
            return entries[name]
        if name in self.retired:
            raise UnknownNameError(f"{self.kind} {name!r} no longer exists: {self.retired[name]}")
        candidates = list(entries)
        if task:
            try:
                candidates = self.names(task=task) or candidates
            except Exception:  # a component that cannot be loaded: suggest from every name
                pass
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(match) for match in close)}?" if close else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}{hint} (`mmdf-bench list {self.kind}s` shows all)"
        )

    def load(self, name: str) -> type:
        """Return the class registered as `name`."""
        return self.get(name).load()

    def create(self, name: str, **options: Any) -> Any:
        """Build the component registered as `name` with keyword `options`."""
        return self.load(name)(**options)

    def select(self, patterns: Sequence[str] | None = None, *,
               task: str | None = None) -> list[str]:
        """Resolve a list of names or wildcard patterns to registered names of `task`.

        ``None`` selects every component of the task except those whose class
        sets ``in_default_run = False`` (ablations that are slow to train, such
        as three of the four FuseGAN variants); a name or a pattern selects them.
        A plain name that is not registered, or a name of another task, is an
        error; so is a pattern that matches nothing. A component that cannot
        be loaded is skipped by the default selection and by patterns (one
        warning), and raises `PluginError` when it is named.
        """
        if not patterns:
            return [name for name in self.names(task=task, loadable=True)
                    if getattr(self.load(name), "in_default_run", True)]
        selected = []
        for pattern in patterns:
            if any(character in pattern for character in "*?["):
                matches = self.names(pattern, task=task, loadable=True)
                if not matches:
                    raise UnknownNameError(
                        f"pattern {pattern!r} matches no {self.kind}"
                        + (f" of task {task!r}" if task else "")
                    )
            else:
                self.get(pattern, task=task)  # an unknown name: suggestions of this task
                component = self.load(pattern)
                if task and task not in tasks_of(component):
                    raise UnknownNameError(
                        f"{self.kind} {pattern!r} belongs to task(s) "
                        f"{', '.join(tasks_of(component)) or 'none'}, not {task!r}"
                    )
                matches = [pattern]
            selected.extend(match for match in matches if match not in selected)
        return selected

    def describe(self, name: str) -> dict:
        """One-line facts about a component, for listings."""
        component = self.load(name)
        entry = self.get(name)
        return {
            "name": name,
            "tasks": ",".join(tasks_of(component)),
            "summary": getattr(component, "summary", "") or "",
            "provider": f"{entry.distribution} {entry.version or ''}".strip(),
        }


methods = Registry("method", "mmdf_bench.methods", retired={
    "svm-blur-features": ("the SVM on focus measures is now 'svm-focus-measures': it is not the Hsu and "
                          "Chen (2008) blur-extent SVM its old name suggested"),
})
datasets = Registry("dataset", "mmdf_bench.datasets")
metrics = Registry("metric", "mmdf_bench.metrics", retired={
    "cnniqa": ("pyiqa's CNNIQA is now 'cnniqa-koniq' (trained on KonIQ-10k, higher is better, "
               "about 0..1); the LIVE-trained CNNIQA whose values the MMDF paper reports (lower "
               "is better) is 'cnniqa-live'"),
})

REGISTRIES = {"methods": methods, "datasets": datasets, "metrics": metrics}

register_method = methods.register
register_dataset = datasets.register
register_metric = metrics.register


def list_methods(pattern: str | None = None, *, task: str | None = None) -> list[str]:
    """Names of registered methods matching `pattern`, optionally of one task."""
    return methods.names(pattern, task=task)


def list_datasets(pattern: str | None = None, *, task: str | None = None) -> list[str]:
    """Names of registered datasets matching `pattern`, optionally of one task."""
    return datasets.names(pattern, task=task)


def list_metrics(pattern: str | None = None, *, task: str | None = None) -> list[str]:
    """Names of registered metrics matching `pattern`, optionally of one task."""
    return metrics.names(pattern, task=task)


def create_method(name: str, **options: Any) -> Any:
    """Build the method registered as `name`."""
    return methods.create(name, **options)


def create_dataset(name: str, **options: Any) -> Any:
    """Build the dataset registered as `name`."""
    return datasets.create(name, **options)


def create_metric(name: str, **options: Any) -> Any:
    """Build the metric registered as `name`."""
    return metrics.create(name, **options)
