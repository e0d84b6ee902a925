"""What a leaderboard row knew: the ``information`` column.

Methods are only comparable when they are given the same things. A
non-blind deconvolution that receives the exact blur kernel, a CNN trained
on the simulator that also made the test set, a network with pretrained
ImageNet weights and one trained from scratch in minutes on a CPU do not
stand on equal ground, and the leaderboard says so in every row.
`row_information` composes, in this order:

1. what the method is given beyond the task's input (its ``information``,
   e.g. ``psf-oracle``, ``depth-oracle``);
2. pretrained files it uses (``pretrained <file>``);
3. how it was fitted on this run: ``trained on <dataset> (<splits>)`` for a
   deep method, ``calibrated on <dataset> (<splits>)`` for a classical one,
   ``calibrated leave-one-specimen-out on <dataset>`` where the dataset has
   no train split (`mmdf_bench.specimen_folds`);
4. the profile of a deep method (``profile smoke|cpu|paper``);
5. its known deviations from the published method (``deviations: ...``).

``information`` and ``deviations`` are read from the instance, so a method
can report what it found at run time (e.g. DeblurGAN without the VGG19
weights uses its critic's features for the perceptual loss).
"""

from pathlib import PurePosixPath
from urllib.parse import urlparse

__all__ = ["method_deviations", "pretrained_source", "row_information", "splits_text"]


def splits_text(splits):
    """``"train split"``, ``"train + validation splits"``, ... from ``{split: count}``."""
    used = [name for name, count in (splits or {"train": 1}).items() if count]
    if not used:
        return "no samples"
    return " + ".join(used) + (" split" if len(used) == 1 else " splits")


def pretrained_source(method):
    """``"pretrained <file>"`` for a method that loads published weights, else None.

    A method with a `weights_source` that it does not train itself (no
    ``fit``) loads pretrained weights; a URL is shortened to its file name.
    """
    source = getattr(method, "weights_source", "")
    if not source or method.needs_training():
        return None
    parsed = urlparse(source)
    name = PurePosixPath(parsed.path).name if parsed.scheme in ("http", "https") else source
    return f"pretrained {name}"


def method_deviations(method):
    """The method's known deviations from the published method, one line ('' when none)."""
    return " ".join(str(getattr(method, "deviations", "") or "").split())


def _read_data(training):
    """False when every fitted choice says it came from no split (e.g. only the run seed)."""
    choices = training.get("choices")
    if not choices:
        return True
    return any(split in str(source) for source in choices.values()
               for split in ("train", "validation", "test"))


def row_information(method, training=None):
    """The ``information`` text of `method`'s rows on one dataset.

    Parameters
    ----------
    method : Method
        Built (and fitted) as it was evaluated.
    training : dict, optional
        What `mmdf_bench.runner.prepare_method` returned for this dataset:
        ``trained_on``, ``splits``, ``profile``, ``calibration``, ``folds``.

    Returns
    -------
    str
        Items joined by ``"; "``; empty for a method given nothing but the input.
    """
    items = [str(item) for item in getattr(method, "information", ()) or ()]
    pretrained = pretrained_source(method)
    if pretrained:
        items.append(pretrained)
    training = training or {}
    if training.get("calibration") == "leave-one-specimen-out":
        items.append(f"calibrated leave-one-specimen-out on {training['trained_on']} "
                     f"({training['folds']} folds)")
    elif training.get("calibration") == "defaults":
        items.append(f"not calibrated: documented defaults ({training.get('reason', 'no data')})")
    elif training.get("trained_on") and _read_data(training):
        verb = "trained" if "profile" in training else "calibrated"
        items.append(f"{verb} on {training['trained_on']} ({splits_text(training.get('splits'))})")
    if training.get("profile"):
        items.append(f"profile {training['profile']}")
    deviations = method_deviations(method)
    if deviations:
        items.append(f"deviations: {deviations}")
    return "; ".join(items)
