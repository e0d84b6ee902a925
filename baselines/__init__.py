"""Classical (non-learned) baselines of mmdf-bench, one module per task.

These methods need no training and no pretrained files; they set the floor
that deep methods must beat under the same protocol. Each module exposes plain
functions on numpy arrays first (``fuse_wavelet(stack, level=3)``) and thin
registered classes that wrap them for the benchmark runner; the modules do not
import torch.
"""
