"""Deep methods of mmdf-bench (torch), one module per method family.

Modules here must not import torch at import time: registered classes load
their networks on first use, so that listing the registry stays cheap.
"""
