"""Sample sources: readers for real data, optics and synthetic generators."""
