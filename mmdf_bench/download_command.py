"""``mmdf-bench download NAME``: fetch a public dataset from its official location into the cache.

Datasets that can be downloaded define ``download(root, *, progress, ...)``
(a static method of the registered class; e.g. `mmdf_bench.data.bbbc006`,
`mmdf_bench.data.mfifb`). The files go to ``<cache>/data/<folder>`` unless
``--to`` says otherwise, where the dataset then finds them without
``MMDF_BENCH_DATA``; what was fetched, with its SHA-256, is listed in the
folder's ``download-manifest.csv``.
"""

import inspect

from mmdf_bench.errors import InvalidInputError, UnknownNameError

__all__ = ["DESCRIPTION", "add_arguments", "parse_planes", "run_download"]

DESCRIPTION = ("Download a public dataset from its official location (with a progress bar, checked "
               "against the publisher's checksums where there are some, SHA-256 recorded otherwise) into "
               "<cache>/data/<name>, where the dataset finds it.")


def parse_planes(text):
    """``"14-18,20"`` -> ``[14, 15, 16, 17, 18, 20]``."""
    planes = []
    for part in str(text).split(","):
        low, dash, high = part.strip().partition("-")
        try:
            planes += list(range(int(low), int(high) + 1)) if dash else [int(low)]
        except ValueError:
            raise InvalidInputError(f"--planes: expected numbers and ranges such as 14-18,20, got {text!r}") from None
    return planes


def add_arguments(parser):
    parser.add_argument("dataset", metavar="NAME", help="registered dataset name (bbbc006, mfifb)")
    parser.add_argument("--to", metavar="DIR", help="folder to fill (default <cache>/data/<name>)")
    parser.add_argument("--planes", metavar="LIST",
                        help="for z-stack sets (bbbc006): plane indices, e.g. 14-18 or 0-33 (default all)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_download(arguments):
    """Run the command; return the exit status."""
    from pathlib import Path

    from mmdf_bench import registry
    from mmdf_bench.downloads import data_cache_dir

    component = registry.datasets.load(arguments.dataset)
    download = getattr(component, "download", None)
    if not callable(download):
        downloadable = [name for name in registry.datasets.names()
                        if callable(getattr(registry.datasets.load(name), "download", None))]
        raise UnknownNameError(f"dataset {arguments.dataset!r} has no downloader; these do: "
                               f"{', '.join(downloadable) or 'none'}")
    target = Path(arguments.to).expanduser() if arguments.to else \
        data_cache_dir() / (component.default_folder or component.name)
    options = {}
    if arguments.planes is not None:
        if "planes" not in inspect.signature(download).parameters:
            raise UnknownNameError(f"dataset {arguments.dataset!r} has no planes to choose (--planes)")
        options["planes"] = parse_planes(arguments.planes)
    download(target, progress=not arguments.quiet, **options)
    print(f"{arguments.dataset}: downloaded into {target} (files and SHA-256 in {target}/download-manifest.csv)")
    if arguments.to:
        print(f"use it with --datasets {arguments.dataset}={target}")
    return 0
