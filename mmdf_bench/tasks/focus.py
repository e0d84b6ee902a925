"""The focus task: is an image patch in focus, and how far out is it?

A sample is one patch with a binary label (0 in focus, 1 out of focus), an
optional defocus level (0 = in focus, larger = farther) and the specimen it
came from; splits are made by specimen, never by patch. A method returns
P(out of focus) and, if it knows levels, a distribution over them.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import validate_image, write_image
from mmdf_bench.tasks.base import Method, Task

IN_FOCUS, OUT_OF_FOCUS = 0, 1


@dataclass
class FocusSample:
    """One image patch with its focus label.

    Parameters
    ----------
    patch : ndarray, shape (H, W) or (H, W, 3)
        Float32 in [0, 1].
    label : int
        0 in focus, 1 out of focus (defocused, or spoiled by an artefact).
    sample_id : str
    group : str
        The specimen the patch comes from; splits and the bootstrap use it.
    level : int, optional
        Defocus level, 0 = in focus; None when unknown (e.g. artefact patches).
    subset : str
        ``"clean"`` or the artefact kind (``"dust"``, ``"water"``, ``"condensate"``);
        the leaderboard breaks results down by it.
    metadata : dict
    source : str, optional
        File the patch was read from, for error messages.
    """

    patch: np.ndarray
    label: int
    sample_id: str
    group: str = None
    level: int = None
    subset: str = "clean"
    metadata: dict = field(default_factory=dict)
    source: str = None

    def __post_init__(self):
        where = self.source or self.sample_id
        self.patch = validate_image(self.patch, source=where)
        if self.label not in (IN_FOCUS, OUT_OF_FOCUS):
            raise InvalidInputError(f"label must be 0 (in focus) or 1 (out of focus), got {self.label!r} in {where}")
        if self.level is not None and (int(self.level) != self.level or self.level < 0):
            raise InvalidInputError(f"level must be a non-negative integer, got {self.level!r} in {where}")
        if self.group is None:
            self.group = self.sample_id

    @property
    def is_artefact(self):
        return self.subset != "clean"


@dataclass
class FocusPrediction:
    """What a focus method says about one patch.

    Attributes
    ----------
    probability : float
        P(out of focus), in [0, 1]; the decision threshold is 0.5.
    levels : ndarray of float, optional
        Distribution over defocus levels 0..K-1 (sums to 1), for level-aware methods.
    """

    probability: float
    levels: np.ndarray = None

    @property
    def label(self):
        return int(self.probability >= 0.5)


class FocusMethod(Method):
    """Base class of focus methods.

    Implement `predict` (one patch -> `FocusPrediction`). Classical operators
    calibrate their decision on the train split in `fit`; level-aware methods
    set `num_levels` and return a level distribution.
    """

    task: ClassVar[str] = "focus"
    num_levels: ClassVar[int] = None

    def predict(self, patch):
        """Return a `FocusPrediction` for one patch ``(H, W[, 3])``."""
        raise NotImplementedError


def predict(method, sample):
    """Run `method` on `sample` and check the prediction is a usable probability."""
    prediction = method.predict(sample.patch)
    where = f"prediction of {method.name or type(method).__name__} on {sample.sample_id}"
    if not isinstance(prediction, FocusPrediction):
        prediction = FocusPrediction(float(prediction))
    probability = float(prediction.probability)
    if not np.isfinite(probability) or not 0.0 <= probability <= 1.0:
        raise InvalidInputError(f"P(out of focus) must be a finite value in [0, 1], got {probability} ({where})")
    levels = prediction.levels
    if levels is not None:
        levels = np.asarray(levels, dtype=np.float64)
        if levels.ndim != 1 or not np.all(np.isfinite(levels)) or np.any(levels < 0) \
                or not np.isclose(levels.sum(), 1.0, atol=1e-4):
            raise InvalidInputError(f"level distribution must be finite, non-negative and sum to 1 ({where})")
    return FocusPrediction(probability, levels)


def save_output(prediction, path):
    """Write the prediction as ``<path>.json``."""
    import json
    from pathlib import Path

    path = Path(f"{path}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"probability_out_of_focus": prediction.probability,
              "levels": None if prediction.levels is None else [float(v) for v in prediction.levels]}
    path.write_text(json.dumps(record))


def describe_sample(sample):
    """Per-sample facts the runner keeps in ``samples.csv`` (for subset break-downs)."""
    return {"subset": sample.subset, "label": sample.label,
            "level": "" if sample.level is None else int(sample.level)}


TASK = Task(
    name="focus",
    method_base=FocusMethod,
    predict=predict,
    save_output=save_output,
    default_datasets=("synthetic-brightfield-zstack",),
    primary_metrics=("accuracy", "balanced-accuracy", "f1"),
    description="in-focus / out-of-focus classification of image patches (and defocus level)",
    describe_sample=describe_sample,
)
