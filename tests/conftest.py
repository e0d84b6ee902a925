"""Shared fixtures: the assets beside the project, and in-memory registrations."""

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def require_asset(variable, relative_path):
    """Return ``$variable/relative_path``; fail (never skip) when it is missing.

    CI sets ``MMDF_BENCH_WEIGHTS=../shared/weights`` and
    ``MMDF_BENCH_DATA=../shared/data``; tests that compare against the real
    data and official weights must run there.
    """
    value = os.environ.get(variable)
    if not value:
        pytest.fail(f"{variable} is not set: point it at the shared assets "
                    f"(e.g. {variable}=../shared/{'weights' if 'WEIGHTS' in variable else 'data'})")
    path = Path(value).expanduser() / relative_path
    if not path.exists():
        pytest.fail(f"asset missing: {path} (from {variable}={value})")
    return path


@pytest.fixture
def shared_data():
    """The real-data folder named by MMDF_BENCH_DATA (the test fails if it is missing)."""
    return require_asset("MMDF_BENCH_DATA", ".")


@pytest.fixture
def shared_weights():
    """The weights folder named by MMDF_BENCH_WEIGHTS (the test fails if it is missing)."""
    return require_asset("MMDF_BENCH_WEIGHTS", ".")


@pytest.fixture
def scratch_registrations():
    """Yield a function that registers into a registry and undoes it afterwards."""
    from mmdf_bench import registry

    added = []

    def register(kind, component, name=None):
        chosen = registry.REGISTRIES[kind]
        chosen.register(component, name=name)
        added.append((chosen, name or component.name))
        return component

    yield register
    for chosen, name in added:
        chosen.unregister(name)


@pytest.fixture
def unwritable_folder(tmp_path, monkeypatch):
    """Yield ``(folder, reason)``: an existing folder that nothing can be written into.

    A read-only tmpfs where the process may mount one (root), a folder without
    write permission for other users; where neither works (root in a container
    without mount rights), writes into it are made to fail as a read-only
    file system would.
    """
    import errno
    import subprocess

    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder, "permission denied"
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    if not mounted:
        real_open, real_mkdir = open, Path.mkdir

        def refuse(path):
            inside = Path(path).resolve()
            if inside == folder.resolve() or folder.resolve() in inside.parents:
                raise OSError(errno.EROFS, "Read-only file system", str(path))

        def fake_open(path, *args, **kwargs):
            mode = args[0] if args else kwargs.get("mode", "r")
            if isinstance(path, (str, Path)) and any(flag in mode for flag in "wax+"):
                refuse(path)
            return real_open(path, *args, **kwargs)

        def fake_mkdir(self, *args, **kwargs):
            if not self.exists():
                refuse(self)
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr("builtins.open", fake_open)
        monkeypatch.setattr(Path, "mkdir", fake_mkdir)
    try:
        yield folder, "the file system is read-only"
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)
