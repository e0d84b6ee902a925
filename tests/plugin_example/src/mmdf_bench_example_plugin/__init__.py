"""An example plugin: per-pixel median of the planes of a stack."""

import numpy as np

from mmdf_bench.tasks.fusion import FusionMethod


class MedianFusion(FusionMethod):
    """Fuse a stack by its per-pixel median (a deliberately simple rule)."""

    name = "example-median"
    summary = "per-pixel median of the planes (example plugin)"
    citation = "none: an example for the plugin mechanism"

    def fuse(self, stack):
        return np.median(stack, axis=0).astype(np.float32)
