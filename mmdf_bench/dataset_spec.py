"""``NAME[=PATH][:KEY=VALUE...]``: a dataset, its folder and its options, as the user writes them.

The one parser of dataset arguments (``mmdf-bench run --datasets``,
``mmdf-bench train --dataset``, the manifest's record of a run)::

    zstack-folder                          the registered name, default folder
    zstack-folder=/data/stacks             a folder
    zstack-folder=/data/stacks:bits=12     a folder and an option
    zstack-folder:bits=12:channel=1        options, default folder

Options are keyword arguments of the dataset's constructor (see its
docstring, e.g. `mmdf_bench.data.zstack.ZStackFolder`); values that are
integers become ints. A ``:`` belongs to the path unless what follows it
looks like ``key=value``.
"""

import re
from dataclasses import dataclass, field

from mmdf_bench.errors import UnknownNameError

__all__ = ["DatasetSpec"]

_OPTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=[^=]*")


def _value(text):
    text = text.strip()
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else text


@dataclass
class DatasetSpec:
    """A dataset name with an optional data folder and constructor options.

    Attributes
    ----------
    name : str
    root : str, optional
    options : dict
        Keyword arguments of the dataset's constructor.
    """

    name: str
    root: str = None
    options: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, text):
        """Parse ``NAME[=PATH][:KEY=VALUE...]`` (see the module notes)."""
        parts = text.split(":")
        options = {}
        while len(parts) > 1 and _OPTION.fullmatch(parts[-1].strip()):
            key, _, value = parts.pop().strip().partition("=")
            if key in options:
                raise UnknownNameError(f"dataset option {key!r} given twice in {text!r}")
            options[key] = _value(value)
        name, _, root = ":".join(parts).partition("=")
        if "=" in name or not name.strip():
            raise UnknownNameError(f"cannot read the dataset argument {text!r}: "
                                   "expected NAME[=PATH][:KEY=VALUE...]")
        return cls(name.strip(), root.strip() or None, dict(reversed(list(options.items()))))

    def __str__(self):
        """The argument that parses back to this spec."""
        text = self.name if self.root is None else f"{self.name}={self.root}"
        return text + "".join(f":{key}={value}" for key, value in self.options.items())

    def create(self, registry):
        """Build the dataset from `registry` (a `mmdf_bench.registry.Registry` of datasets).

        An option the dataset does not take is an `UnknownNameError` naming
        the options it does take.
        """
        import inspect

        component = registry.load(self.name)
        accepted = [name for name, parameter in inspect.signature(component).parameters.items()
                    if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("root", "seed")]
        unknown = sorted(set(self.options) - set(accepted))
        if unknown and not any(parameter.kind is inspect.Parameter.VAR_KEYWORD
                               for parameter in inspect.signature(component).parameters.values()):
            takes = f"it takes {', '.join(accepted)}" if accepted else "it takes no options"
            raise UnknownNameError(f"dataset {self.name!r} has no option {', '.join(map(repr, unknown))}; "
                                   f"{takes}")
        return component(root=self.root, **self.options)
