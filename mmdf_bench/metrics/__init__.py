"""Metrics: classification, full-reference, no-reference (pyiqa) and fusion metrics.

Functions (``psnr``, ``ssim``, ``gradient_fusion_quality``, ...) are the API;
the `Metric` classes wrap them for the registry and the runner.
"""
