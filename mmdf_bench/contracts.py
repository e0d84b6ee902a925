"""What a registered class must be: the checks the registry makes when it loads one.

A class registered under an entry point is checked when it is first loaded,
before anything uses it, so that a plugin that breaks the contract is named
(distribution, target, problem) instead of failing later on every sample:

* methods derive from their task's method base, or provide the method the
  task calls (``fuse``, ``restore``, ``predict``), and name a known task;
* datasets derive from `mmdf_bench.data.base.Dataset`, or provide
  ``sample_ids`` and ``load``;
* metrics derive from `mmdf_bench.metrics.base.Metric`, or provide
  ``compute``;
* every class's ``name`` is the name it is registered under (results are
  recorded under that name: two names for one thing would split its rows).

Each check returns the list of problems (empty when the class is fine).
"""

__all__ = ["CHECKS", "check_dataset", "check_method", "check_metric", "tasks_of"]


def tasks_of(component):
    """The tasks a registered class declares (``tasks``, else ``task``)."""
    tasks = getattr(component, "tasks", None)
    if tasks:
        return tuple(tasks)
    task = getattr(component, "task", None)
    return (task,) if task else ()


def _is_class(component):
    return isinstance(component, type)


def _common(name, component, kind):
    if not _is_class(component):
        return [f"it is a {type(component).__name__}, not a class"]
    declared = getattr(component, "name", None)
    if declared != name:
        return [f"its class {component.__qualname__} says its name is {declared!r}; a {kind} "
                f"must carry the name it is registered under"]
    return []


def _known_tasks(component):
    from mmdf_bench.tasks import TASK_MODULES

    tasks = tasks_of(component)
    unknown = [task for task in tasks if task not in TASK_MODULES]
    if not tasks:
        return ["it names no task (set `task` or `tasks`)"]
    if unknown:
        return [f"it names unknown task(s) {', '.join(map(repr, unknown))}; known tasks: "
                f"{', '.join(sorted(TASK_MODULES))}"]
    return []


def _provides(component, base, calls):
    """Empty when `component` derives from `base` or has every callable in `calls`."""
    if issubclass(component, base):
        return []
    missing = [call for call in calls if not callable(getattr(component, call, None))]
    if not missing:
        return []
    return [f"it is not a {base.__name__} and has no {', '.join(f'{c}()' for c in missing)}"]


def check_method(name, component):
    """Problems of a method class registered as `name`."""
    problems = _common(name, component, "method")
    if problems:
        return problems
    problems = _known_tasks(component)
    if problems:
        return problems
    from mmdf_bench.tasks import get_task

    for task_name in tasks_of(component):
        task = get_task(task_name)
        problems += _provides(component, task.method_base, [task.method_call])
    return problems


def check_dataset(name, component):
    """Problems of a dataset class registered as `name`."""
    from mmdf_bench.data.base import Dataset

    return (_common(name, component, "dataset") or _known_tasks(component)
            or _provides(component, Dataset, ["sample_ids", "load"]))


def check_metric(name, component):
    """Problems of a metric class registered as `name`."""
    from mmdf_bench.metrics.base import Metric

    return (_common(name, component, "metric") or _known_tasks(component)
            or _provides(component, Metric, ["compute"]))


#: Registry kind -> check.
CHECKS = {"method": check_method, "dataset": check_dataset, "metric": check_metric}
