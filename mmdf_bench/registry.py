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
"""

import difflib
import fnmatch
from dataclasses import dataclass
from importlib import metadata

from mmdf_bench.errors import NameCollisionError, UnknownNameError


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
    """

    name: str
    target: str
    distribution: str
    version: str = None
    _loaded: object = None
    _entry_point: object = None

    def load(self):
        """Import and return the registered class."""
        if self._loaded is None:
            self._loaded = self._entry_point.load()
        return self._loaded

    def provenance(self):
        """Where the component comes from, for the results manifest."""
        return {"target": self.target, "distribution": self.distribution, "version": self.version}


def _tasks_of(component):
    tasks = getattr(component, "tasks", None)
    if tasks:
        return tuple(tasks)
    task = getattr(component, "task", None)
    return (task,) if task else ()


class Registry:
    """A named collection of one kind of component, fed by one entry-point group.

    Parameters
    ----------
    kind : str
        Singular noun used in messages ("method").
    group : str
        Entry-point group (``mmdf_bench.methods``).
    """

    def __init__(self, kind, group, *, retired=None):
        self.kind = kind
        self.group = group
        self._entries = None
        self._local = {}
        # names that were renamed or removed -> what to use instead
        self.retired = dict(retired or {})

    # discovery -------------------------------------------------------------
    def _discover(self):
        entries = {}
        for entry_point in metadata.entry_points(group=self.group):
            distribution = entry_point.dist
            provider = distribution.metadata["Name"] if distribution else "unknown"
            version = distribution.version if distribution else None
            entry = Entry(entry_point.name, entry_point.value, provider, version,
                          _entry_point=entry_point)
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
    def entries(self):
        """All entries, name -> `Entry` (entry points first discovered on first use)."""
        if self._entries is None:
            self._entries = self._discover()
            for name, entry in self._local.items():
                self._check_free(name, entry)
        return {**self._entries, **self._local}

    def refresh(self):
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
    def register(self, component=None, *, name=None):
        """Register a class in memory; usable as ``@register`` or ``@register(name=...)``."""

        def decorate(component):
            entry_name = name or getattr(component, "name", "")
            if not entry_name:
                raise ValueError(f"cannot register {component!r}: give it a `name`")
            target = f"{component.__module__}:{component.__qualname__}"
            entry = Entry(entry_name, target, "__main__", None, _loaded=component)
            self._check_free(entry_name, entry)
            if self._entries is None:
                self._entries = self._discover()
                self._check_free(entry_name, entry)
            self._local[entry_name] = entry
            return component

        return decorate(component) if component is not None else decorate

    def unregister(self, name):
        """Remove an in-memory registration."""
        self._local.pop(name, None)

    # look-up ---------------------------------------------------------------
    def names(self, pattern=None, *, task=None):
        """Sorted names matching a shell-style `pattern` (case-insensitive), optionally of one task."""
        names = sorted(self.entries)
        if pattern:
            names = [name for name in names if fnmatch.fnmatch(name.lower(), pattern.lower())]
        if task:
            names = [name for name in names if task in _tasks_of(self.get(name).load())]
        return names

    def get(self, name):
        """Return the `Entry` called `name`; an unknown name gets a "did you mean" error."""
        entries = self.entries
        if name in entries:
            return entries[name]
        if name in self.retired:
            raise UnknownNameError(f"{self.kind} {name!r} no longer exists: {self.retired[name]}")
        close = difflib.get_close_matches(name, list(entries), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(match) for match in close)}?" if close else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}{hint} (`mmdf-bench list {self.kind}s` shows all)"
        )

    def load(self, name):
        """Return the class registered as `name`."""
        return self.get(name).load()

    def create(self, name, **options):
        """Build the component registered as `name` with keyword `options`."""
        return self.load(name)(**options)

    def select(self, patterns=None, *, task=None):
        """Resolve a list of names or wildcard patterns to registered names of `task`.

        ``None`` selects every component of the task except those whose class
        sets ``in_default_run = False`` (ablations that are slow to train, such
        as three of the four FuseGAN variants); a name or a pattern selects them.
        A plain name that is not registered, or a name of another task, is an
        error; so is a pattern that matches nothing.
        """
        if not patterns:
            return [name for name in self.names(task=task) if getattr(self.load(name), "in_default_run", True)]
        selected = []
        for pattern in patterns:
            if any(character in pattern for character in "*?["):
                matches = self.names(pattern, task=task)
                if not matches:
                    raise UnknownNameError(
                        f"pattern {pattern!r} matches no {self.kind}"
                        + (f" of task {task!r}" if task else "")
                    )
            else:
                component = self.load(pattern)
                if task and task not in _tasks_of(component):
                    raise UnknownNameError(
                        f"{self.kind} {pattern!r} belongs to task(s) "
                        f"{', '.join(_tasks_of(component)) or 'none'}, not {task!r}"
                    )
                matches = [pattern]
            selected.extend(match for match in matches if match not in selected)
        return selected

    def describe(self, name):
        """One-line facts about a component, for listings."""
        component = self.load(name)
        entry = self.get(name)
        return {
            "name": name,
            "tasks": ",".join(_tasks_of(component)),
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


def list_methods(pattern=None, *, task=None):
    """Names of registered methods matching `pattern`, optionally of one task."""
    return methods.names(pattern, task=task)


def list_datasets(pattern=None, *, task=None):
    """Names of registered datasets matching `pattern`, optionally of one task."""
    return datasets.names(pattern, task=task)


def list_metrics(pattern=None, *, task=None):
    """Names of registered metrics matching `pattern`, optionally of one task."""
    return metrics.names(pattern, task=task)


def create_method(name, **options):
    """Build the method registered as `name`."""
    return methods.create(name, **options)


def create_dataset(name, **options):
    """Build the dataset registered as `name`."""
    return datasets.create(name, **options)


def create_metric(name, **options):
    """Build the metric registered as `name`."""
    return metrics.create(name, **options)
