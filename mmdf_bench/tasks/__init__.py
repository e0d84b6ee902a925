"""One module per task: its sample type, method protocol and defaults.

`get_task` maps a task name to its `Task` description, which is all the
runner needs to evaluate any method of that task.
"""

from importlib import import_module

from mmdf_bench.errors import UnknownNameError

#: Task name -> module that defines ``TASK``. Modules are imported on demand.
TASK_MODULES = {
    "fusion": "mmdf_bench.tasks.fusion",
    "focus": "mmdf_bench.tasks.focus",
    "deblur": "mmdf_bench.tasks.deblur",
}


def task_names():
    """Return the names of the known tasks."""
    return sorted(TASK_MODULES)


def get_task(name):
    """Return the `Task` called `name`.

    Raises `UnknownNameError` listing the known tasks.
    """
    if name not in TASK_MODULES:
        raise UnknownNameError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return import_module(TASK_MODULES[name]).TASK
