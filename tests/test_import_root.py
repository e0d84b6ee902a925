"""One import root: a user's own ``methods/`` or ``baselines/`` folder hides nothing of mmdf-bench.

Before the deep and classical methods moved under ``mmdf_bench.``, they were
the top-level packages ``methods`` and ``baselines``: Python started in a
folder holding a ``methods/`` package (common in research projects, and in
a notebook's folder) found that one instead, and every deep method failed
to load. The wheel is checked from outside the repository by tox's
``wheel`` environment.
"""

import os
import subprocess
import sys

SHADOW = "raise ImportError('this is the user\\'s own {name} package')\n"


def test_a_users_methods_and_baselines_folders_hide_nothing(tmp_path):
    for name in ("methods", "baselines"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(SHADOW.format(name=name))
    environment = dict(os.environ, OMP_NUM_THREADS="1")

    def python(*arguments):
        # `python -m` and `-c` put the working directory first on sys.path, as a notebook does
        return subprocess.run([sys.executable, *arguments], cwd=tmp_path, capture_output=True,
                              text=True, env=environment)

    shadowed = python("-c", "import methods")
    assert "the user's own methods package" in shadowed.stderr  # the trap is set

    listed = python("-m", "mmdf_bench.cli", "list", "methods", "--task", "fusion")
    assert listed.returncode == 0, listed.stderr
    assert "skipping" not in listed.stderr
    for name in ("ifcnn-max", "fusegan-u", "wavelet", "guided-filter"):
        assert name in listed.stdout

    loaded = python("-c", "from mmdf_bench import registry; "
                          "print(registry.methods.load('ifcnn-max').__module__, "
                          "registry.methods.load('wavelet').__module__)")
    assert loaded.stdout.split() == ["mmdf_bench.methods.ifcnn", "mmdf_bench.baselines.fusion"]

    ran = python("-m", "mmdf_bench.cli", "run", "--task", "fusion", "--methods", "average",
                 "focus-selection", "--metrics", "std", "--limit", "1", "--quiet",
                 "--out", str(tmp_path / "run"))
    assert ran.returncode == 0, ran.stderr
