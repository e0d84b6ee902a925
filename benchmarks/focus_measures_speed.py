"""Measure focus-operator speed: megapixels per second on a frame, patches per second.

Usage::

    python benchmarks/focus_measures_speed.py [--repeats 5] [--out FILE.json]

Each operator runs on a 1024x768 grey float32 frame (megapixels per second)
and on 84x84 grey float32 patches, the input of the focus task (patches per
second). The variance of Laplacian is also compared with the bare OpenCV
calls it wraps, ``cv2.Laplacian`` + ``cv2.meanStdDev`` on the same image
(float32 -> CV_32F and float64 -> CV_64F; OpenCV 5 has no float32 -> CV_64F
Laplacian): the ratio is OpenCV's time over ours, and must be at least 0.8.
Times are the best of `repeats` runs of a batch (the least disturbed one).
"""

import argparse
import json
import platform
import sys
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from mmdf_bench.baselines.focus_measures import FAMILIES, FOCUS_MEASURES, variance_of_laplacian

FRAME_SHAPE = (768, 1024)
PATCH_SIZE = 84
NUM_PATCHES = 200
REQUIRED_RATIO = 0.8


def benchmark_images():
    """A 1024x768 grey frame of the IHC slide (resized) and 84x84 patches cut from it."""
    from skimage import data

    from mmdf_bench.images import to_gray

    slide = to_gray((data.immunohistochemistry() / 255.0).astype(np.float32))
    frame = cv2.resize(slide, FRAME_SHAPE[::-1], interpolation=cv2.INTER_CUBIC).clip(0, 1).astype(np.float32)
    rng = np.random.default_rng(0)
    tops = rng.integers(0, FRAME_SHAPE[0] - PATCH_SIZE, NUM_PATCHES)
    lefts = rng.integers(0, FRAME_SHAPE[1] - PATCH_SIZE, NUM_PATCHES)
    patches = [np.ascontiguousarray(frame[t:t + PATCH_SIZE, x:x + PATCH_SIZE]) for t, x in zip(tops, lefts)]
    return frame, patches


def best_time(function, images, *, repeats):
    """Best over `repeats` of the mean seconds per image of `function` over `images`."""
    for image in images[:3]:
        function(image)  # warm-up: imports, FFT plans, thread pools
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for image in images:
            function(image)
        best = min(best, (time.perf_counter() - started) / len(images))
    return best


def plain_opencv(image, depth):
    _, deviation = cv2.meanStdDev(cv2.Laplacian(image, depth))
    return float(deviation[0, 0]) ** 2


def laplacian_ratios(frame, patches, *, repeats):
    """Time the bare OpenCV calls and our function in alternation, so load spikes hit both alike."""
    rows = []
    for dtype, depth, label in ((np.float32, cv2.CV_32F, "CV_32F"), (np.float64, cv2.CV_64F, "CV_64F")):
        inputs = (("frame", [frame.astype(dtype)] * 50), ("patch", [patch.astype(dtype) for patch in patches]))
        for kind, images in inputs:
            plain, ours = float("inf"), float("inf")
            for _ in range(repeats):
                plain = min(plain, best_time(partial(plain_opencv, depth=depth), images, repeats=1))
                ours = min(ours, best_time(variance_of_laplacian, images, repeats=1))
            rows.append({"input": f"{kind} {np.dtype(dtype).name}", "opencv_call": f"Laplacian {label} + meanStdDev",
                         "opencv_seconds": plain, "ours_seconds": ours, "ratio": plain / ours})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args(argv)

    frame, patches = benchmark_images()
    frame_megapixels = frame.size / 1e6
    operators = []
    for name, function in FOCUS_MEASURES.items():
        frame_seconds = best_time(function, [frame] * 5, repeats=arguments.repeats)
        patch_seconds = best_time(function, patches, repeats=arguments.repeats)
        operators.append({"operator": name, "family": FAMILIES[name],
                          "frame_megapixels_per_second": frame_megapixels / frame_seconds,
                          "patches_per_second": 1.0 / patch_seconds,
                          "patch_megapixels_per_second": PATCH_SIZE**2 / 1e6 / patch_seconds})
    ratios = laplacian_ratios(frame, patches, repeats=arguments.repeats)
    report = {"machine": platform.processor() or platform.machine(), "opencv": cv2.__version__,
              "opencv_threads": cv2.getNumThreads(), "frame": f"{FRAME_SHAPE[1]}x{FRAME_SHAPE[0]} float32 grey",
              "patch": f"{PATCH_SIZE}x{PATCH_SIZE} float32 grey", "repeats": arguments.repeats,
              "operators": operators, "variance_of_laplacian_vs_opencv": ratios}

    print(f"focus operators on a {report['frame']} frame and {report['patch']} patches "
          f"(OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads, best of {arguments.repeats})")
    print(f"{'operator':<26} {'family':<14} {'frame MP/s':>11} {'patches/s':>10} {'patch MP/s':>11}")
    for row in sorted(operators, key=lambda row: -row["frame_megapixels_per_second"]):
        print(f"{row['operator']:<26} {row['family']:<14} {row['frame_megapixels_per_second']:>11.1f} "
              f"{row['patches_per_second']:>10.0f} {row['patch_megapixels_per_second']:>11.2f}")
    print("\nvariance of Laplacian vs the bare OpenCV calls (ratio = OpenCV time / ours, must be >= 0.8)")
    for row in ratios:
        print(f"{row['input']:<14} {row['opencv_call']:<30} opencv {row['opencv_seconds'] * 1e6:9.1f} us  "
              f"ours {row['ours_seconds'] * 1e6:9.1f} us  ratio {row['ratio']:.2f}")
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(json.dumps(report, indent=2))
    slowest = min(row["ratio"] for row in ratios)
    if slowest < REQUIRED_RATIO:
        print(f"FAIL: variance of Laplacian at {slowest:.2f}x the OpenCV call (< {REQUIRED_RATIO})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
