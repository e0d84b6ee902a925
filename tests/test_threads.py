"""Thread count: one per process unless --threads or OMP_NUM_THREADS says otherwise."""

import os
import subprocess
import sys

import pytest

from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.threads import THREAD_VARIABLES, choose_threads, use_threads


def test_an_explicit_choice_wins_then_the_environment_then_one():
    assert choose_threads(3, environ={"OMP_NUM_THREADS": "2"}) == 3
    assert choose_threads(None, environ={"OMP_NUM_THREADS": "2"}) == 2
    assert choose_threads(None, environ={}) == 1
    assert choose_threads(None, environ={"OMP_NUM_THREADS": " "}) == 1


@pytest.mark.parametrize("requested, environ, message", [
    (0, {}, "--threads must be a whole number of at least 1, got 0"),
    (-2, {}, "--threads must be a whole number of at least 1, got -2"),
    (None, {"OMP_NUM_THREADS": "many"}, "OMP_NUM_THREADS must be a whole number of at least 1, "
                                        "got 'many'"),
    (None, {"OMP_NUM_THREADS": "0"}, "OMP_NUM_THREADS must be a whole number"),
])
def test_bad_thread_counts_are_named(requested, environ, message):
    with pytest.raises(MmdfBenchError, match=message):
        choose_threads(requested, environ=environ)


def test_use_threads_sets_loaded_libraries_and_the_environment(monkeypatch):
    import cv2
    import torch

    for variable in THREAD_VARIABLES:
        monkeypatch.setenv(variable, "1")
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        use_threads(2)
        assert torch.get_num_threads() == 2 and cv2.getNumThreads() == 2
        assert all(os.environ[variable] == "2" for variable in THREAD_VARIABLES)
    finally:
        use_threads(1)
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    assert before == (1, 1)


@pytest.mark.parametrize("environment, expected", [({}, "1 1"), ({"OMP_NUM_THREADS": "2"}, "2 2")])
def test_the_command_line_chooses_before_torch_starts(environment, expected):
    # torch alone would start one thread per core; the CLI must choose first, in a fresh process
    code = ("from mmdf_bench.cli import main; main(['list', 'tasks']); import torch, cv2; "
            "print(torch.get_num_threads(), cv2.getNumThreads())")
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    completed = subprocess.run([sys.executable, "-c", code], env={**env, **environment},
                               capture_output=True, text=True, check=True)
    assert completed.stdout.strip().splitlines()[-1] == expected
