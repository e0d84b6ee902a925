"""Guided-filter fusion: mmdf-bench's `guided-filter` against OpenFocus's GFF, side by side.

Both fuse the same 20 Lytro pairs (``$MMDF_BENCH_DATA/lytro``) in one
process, interleaved: in every repeat each pair is fused by both
implementations, the one going first alternating from pair to pair, so that
a change of machine load hits both alike. Each is given the input it takes
in normal use, decoded beforehand: mmdf-bench the float32 RGB stack in
[0, 1] that the runner passes to `fuse`, OpenFocus the list of 8-bit BGR
arrays its command line reads (it converts them to float itself).

The ratio of each repeat is our total time over the peer's (wall time, and
the process's CPU time); the report gives the mean ratio with a 95 % BCa
bootstrap interval over the repeats,
the load average before and after (timings mean little on a busy
machine), and how far apart the two outputs are (PSNR in dB).

OpenFocus (MIT) is not a dependency: install it into a throw-away folder
outside the repository, since it installs generic top-level modules
(``core``, ``utils``, ``fusion_methods``)::

    pip install --no-deps --target /tmp/openfocus-peer openfocus
    OMP_NUM_THREADS=1 nice -n 0 python benchmarks/gff_peer_speed.py --peer /tmp/openfocus-peer \\
        --out benchmarks/results/gff_peer_speed.json
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def lytro_pairs(root):
    """``[(name, [BGR uint8, BGR uint8], float32 RGB stack)]`` of the Lytro pairs under `root`."""
    from mmdf_bench.images import read_image

    pairs = []
    for first in sorted(Path(root).glob("lytro-*-A.jpg")):
        second = first.with_name(first.name.replace("-A.", "-B."))
        raw = [cv2.imread(str(path), cv2.IMREAD_UNCHANGED) for path in (first, second)]
        pairs.append((first.stem[:-2], raw, np.stack([read_image(first), read_image(second)])))
    if not pairs:
        sys.exit(f"no lytro-NN-A.jpg files in {root}")
    return pairs


def psnr(first, second):
    error = float(np.mean((np.asarray(first, np.float64) - second) ** 2))
    return float("inf") if error == 0 else 10 * np.log10(1.0 / error)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", type=Path, required=True, help="folder OpenFocus was pip-installed into (--target)")
    parser.add_argument("--data", type=Path, help="Lytro folder (default $MMDF_BENCH_DATA/lytro)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--opencv-threads", type=int,
                        help="cv2.setNumThreads for both (default: OpenCV's own choice)")
    parser.add_argument("--out", type=Path, help="write the record as JSON here")
    arguments = parser.parse_args(argv)

    if arguments.opencv_threads is not None:
        cv2.setNumThreads(arguments.opencv_threads)
    sys.path.insert(0, str(arguments.peer))
    from fusion_methods.gff import gff_impl  # OpenFocus

    from mmdf_bench.baselines.fusion_selection import fuse_guided_filter
    from scipy import stats

    data = arguments.data or Path(os.environ.get("MMDF_BENCH_DATA", "")) / "lytro"
    pairs = lytro_pairs(data)
    candidates = {"mmdf-bench": lambda raw, stack: fuse_guided_filter(stack),
                  "openfocus": lambda raw, stack: gff_impl(raw, None)}
    separation = []
    for _, raw, stack in pairs:  # warm-up, and how far apart the outputs are
        ours = candidates["mmdf-bench"](raw, stack)
        theirs = cv2.cvtColor(candidates["openfocus"](raw, stack), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
        separation.append(psnr(ours, theirs))

    load_before = os.getloadavg()
    # wall time, and the process's CPU time (less sensitive to other processes on a busy machine)
    totals = {clock: {name: [] for name in candidates} for clock in ("wall", "cpu")}
    for repeat in range(arguments.repeats):
        spent = {clock: dict.fromkeys(candidates, 0.0) for clock in totals}
        for index, (_, raw, stack) in enumerate(pairs):
            order = list(candidates) if (index + repeat) % 2 == 0 else list(candidates)[::-1]
            for name in order:
                wall, cpu = time.perf_counter(), time.process_time()
                candidates[name](raw, stack)
                spent["wall"][name] += time.perf_counter() - wall
                spent["cpu"][name] += time.process_time() - cpu
        for clock, values in spent.items():
            for name, seconds in values.items():
                totals[clock][name].append(seconds)
    load_after = os.getloadavg()

    def ratio(clock):
        ratios = np.array(totals[clock]["mmdf-bench"]) / np.array(totals[clock]["openfocus"])
        interval = stats.bootstrap((ratios,), np.mean, confidence_level=0.95, method="BCa",
                                   random_state=np.random.default_rng(0)).confidence_interval
        return round(float(ratios.mean()), 4), [round(float(interval.low), 4), round(float(interval.high), 4)]

    (wall_ratio, wall_interval), (cpu_ratio, cpu_interval) = ratio("wall"), ratio("cpu")
    record = {
        "pairs": len(pairs), "repeats": arguments.repeats, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "opencv_threads": cv2.getNumThreads(),
        "seconds_per_repeat": {clock: {name: [round(value, 4) for value in values] for name, values in by_name.items()}
                               for clock, by_name in totals.items()},
        "median_seconds_per_pair": {name: round(float(np.median(values)) / len(pairs), 5)
                                    for name, values in totals["wall"].items()},
        "ratio_mean": wall_ratio,
        "ratio_ci95": wall_interval,
        "cpu_time_ratio_mean": cpu_ratio,
        "cpu_time_ratio_ci95": cpu_interval,
        "psnr_between_outputs_db": {"min": round(min(separation), 2), "median": round(float(np.median(separation)), 2)},
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in load_after],
    }
    print(f"mmdf-bench guided-filter / OpenFocus GFF time: {record['ratio_mean']:.3f} "
          f"[{record['ratio_ci95'][0]:.3f}, {record['ratio_ci95'][1]:.3f}] wall, {cpu_ratio:.3f} "
          f"[{cpu_interval[0]:.3f}, {cpu_interval[1]:.3f}] CPU time, with {cv2.getNumThreads()} OpenCV "
          f"thread(s), over {arguments.repeats} interleaved "
          f"repeats of {len(pairs)} pairs; outputs {record['psnr_between_outputs_db']['median']:.1f} dB apart "
          f"(median); load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
