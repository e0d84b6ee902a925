"""The focus task: is an image patch in focus, and how far out is it?

A sample is one patch with a binary label (0 in focus, 1 out of focus), an
optional defocus level (0 = in focus, larger = farther) and the specimen it
came from; splits are made by specimen, never by patch. A method returns
P(out of focus) and, if it knows levels, a distribution over them.

Datasets made of real z-stacks also hold one `FocusStackSample` per field:
the whole planes of the field with their z in micrometres. On those, every
method scores each plane with its `FocusMethod.focus_score`, the plane with
the highest score is the method's autofocus choice (`AutofocusPrediction`),
and the autofocus metrics (`mmdf_bench.metrics.autofocus`) measure how far
it lies from the true focus, in micrometres. That is what a microscope's
autofocus needs, and it is meaningful for every focus method: classifiers
rank planes by their in-focus probability or level, operators by their raw
score, which needs no calibrated threshold.
"""

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import validate_image
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
    group: str | None = None
    level: int | None = None
    subset: str = "clean"
    metadata: dict = field(default_factory=dict)
    source: str | None = None

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
    levels: np.ndarray | None = None

    @property
    def label(self):
        return int(self.probability >= 0.5)


@dataclass
class FocusStackSample:
    """One field's z-stack: whole planes at known z, for the autofocus metrics.

    Planes are read one at a time through `read_plane`, so that a stack of
    large frames never has to be held in memory.

    Parameters
    ----------
    sample_id : str
    z_um : ndarray of float, shape (N,)
        z of each plane (µm), ascending.
    focus_z_um : float
        z of the field's focal plane (µm).
    read_plane : callable
        ``read_plane(index) -> image`` (float32 in [0, 1]); picklable, so
        the sample can travel to worker processes.
    group : str, optional
        The field; defaults to `sample_id`.
    tolerance_um : float
        A choice within this distance of focus counts as a success.
    metadata : dict
    source : str, optional
        The stack's folder or files, for error messages.
    """

    #: Planes of one stack are ranked by the raw operator: no calibrated threshold is needed.
    calibration_free: ClassVar[bool] = True

    sample_id: str
    z_um: np.ndarray
    focus_z_um: float
    read_plane: Callable
    group: str | None = None
    tolerance_um: float = 1.0
    metadata: dict = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self):
        where = self.source or self.sample_id
        self.z_um = np.asarray(self.z_um, dtype=np.float64)
        if self.z_um.ndim != 1 or self.z_um.size < 2 or not np.all(np.isfinite(self.z_um)):
            raise InvalidInputError(f"a z-stack needs at least 2 finite plane positions (µm) in {where}")
        if np.any(np.diff(self.z_um) <= 0):
            raise InvalidInputError(f"plane positions must be strictly increasing in {where}")
        if self.group is None:
            self.group = self.sample_id

    @property
    def num_planes(self):
        return int(self.z_um.size)

    def planes(self):
        """Yield the planes in z order, one at a time."""
        for index in range(self.num_planes):
            yield validate_image(self.read_plane(index), source=f"{self.source or self.sample_id} plane {index}")


@dataclass
class AutofocusPrediction:
    """A method's focus score of every plane of a z-stack.

    Attributes
    ----------
    scores : ndarray of float, shape (N,)
        `FocusMethod.focus_score` of each plane; larger is closer to focus.
    z_um : ndarray of float, shape (N,)
        z of each plane (µm).
    """

    scores: np.ndarray
    z_um: np.ndarray

    @property
    def chosen(self):
        """Indices of the planes with the highest score (several on an exact tie)."""
        return np.flatnonzero(self.scores == self.scores.max())

    def errors_um(self, focus_z_um):
        """Distance (µm) from focus of each chosen plane."""
        return np.abs(self.z_um[self.chosen] - focus_z_um)


class FocusMethod(Method):
    """Base class of focus methods.

    Implement `predict` (one patch -> `FocusPrediction`). Classical operators
    calibrate their decision on the train split in `fit`; level-aware methods
    set `num_levels` and return a level distribution. `focus_score` ranks
    whole planes for the autofocus metrics; override it when the method has
    a better per-image score than the default.
    """

    task: ClassVar[str] = "focus"
    num_levels: ClassVar[int | None] = None

    def predict(self, patch: np.ndarray) -> "FocusPrediction":
        """Return a `FocusPrediction` for one patch ``(H, W[, 3])``."""
        raise NotImplementedError

    def focus_score(self, image: np.ndarray) -> float:
        """How close to focus a whole image is: larger is closer.

        The autofocus metrics pick, per z-stack, the plane with the highest
        score, so only the order of the scores of one stack's planes
        matters. The default asks `predict` about the whole image (so the
        method must accept images larger than a patch) and returns minus the
        expected defocus level when the method gives levels, else
        ``1 - P(out of focus)``.

        Parameters
        ----------
        image : ndarray, shape (H, W) or (H, W, 3)
            A whole plane, float32 in [0, 1].

        Returns
        -------
        score : float
        """
        prediction = self.predict(image)
        if not isinstance(prediction, FocusPrediction):
            return 1.0 - float(prediction)
        if prediction.levels is not None:
            levels = np.asarray(prediction.levels, dtype=np.float64)
            return -float(levels @ np.arange(levels.size))
        return 1.0 - float(prediction.probability)


def patch_samples(samples):
    """Yield the patch samples of `samples`, skipping z-stack samples.

    Methods that learn from or calibrate on patches iterate their train
    samples through it: an evaluation-only dataset calibrated on its own
    (other) specimens also holds z-stack samples.
    """
    for sample in samples:
        if isinstance(sample, FocusStackSample):
            continue
        yield sample


def focus_score(method, image):
    """`method.focus_score(image)`, or the default rule for methods without one (duck-typed plugins)."""
    scorer = getattr(method, "focus_score", None)
    if scorer is None:
        return FocusMethod.focus_score(method, image)
    return scorer(image)


def predict_stack(method, sample):
    """Score every plane of a `FocusStackSample`; return an `AutofocusPrediction`."""
    where = f"focus score of {getattr(method, 'name', '') or type(method).__name__} on {sample.sample_id}"
    scores = []
    for index, plane in enumerate(sample.planes()):
        score = float(focus_score(method, plane))
        if not np.isfinite(score):
            raise InvalidInputError(f"focus score must be finite, got {score} on plane {index} ({where})")
        scores.append(score)
    return AutofocusPrediction(np.asarray(scores, dtype=np.float64), sample.z_um.copy())


def predict(method, sample):
    """Run `method` on `sample` and check the prediction is a usable probability.

    A `FocusStackSample` is scored plane by plane instead (`predict_stack`).
    """
    if isinstance(sample, FocusStackSample):
        return predict_stack(method, sample)
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


def save_output(prediction, path, *, bit_depth=None):
    """Write the prediction as ``<path>.json`` (`bit_depth` is for image outputs; unused)."""
    import json
    from pathlib import Path

    path = Path(f"{path}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(prediction, AutofocusPrediction):
        record = {"z_um": [float(v) for v in prediction.z_um],
                  "focus_scores": [float(v) for v in prediction.scores],
                  "chosen_z_um": [float(prediction.z_um[k]) for k in prediction.chosen]}
    else:
        record = {"probability_out_of_focus": prediction.probability,
                  "levels": None if prediction.levels is None else [float(v) for v in prediction.levels]}
    path.write_text(json.dumps(record))


def describe_sample(sample):
    """Per-sample facts the runner keeps in ``samples.csv`` (for subset break-downs)."""
    if isinstance(sample, FocusStackSample):
        return {"subset": "clean", "label": "", "level": ""}
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
    method_call="predict",
)
