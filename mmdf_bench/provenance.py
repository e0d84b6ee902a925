"""What a results manifest records about the software that produced it."""

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: Distributions whose versions every manifest records (when installed).
TRACKED_DISTRIBUTIONS = (
    "mmdf-bench", "numpy", "scipy", "pandas", "scikit-image", "pywavelets",
    "opencv-contrib-python-headless", "opencv-python-headless", "torch", "torchvision",
    "pyiqa", "scikit-learn", "tabulate", "tqdm",
)


def package_versions(names=TRACKED_DISTRIBUTIONS):
    """Return ``{distribution: version}`` for the installed ones, without importing them."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit():
    """Return the commit of the source tree mmdf-bench runs from, or of the working folder.

    ``None`` when neither is a git checkout. A ``-dirty`` suffix marks uncommitted changes.
    """
    for folder in (Path(__file__).resolve().parent, Path.cwd()):
        try:
            commit = subprocess.run(
                ["git", "-C", str(folder), "rev-parse", "HEAD"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        return commit + ("-dirty" if dirty else "")
    return None


def environment():
    """Return the facts about this machine worth keeping with results."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "command": " ".join(sys.argv),
    }
