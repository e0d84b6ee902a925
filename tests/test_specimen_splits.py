"""Independent specimens and the three splits of every dataset (issue 10, points 2 and 4).

A bootstrap group is an independent specimen (a source image), never a crop
or tile of one; test samples of one specimen do not overlap; train,
validation and test are disjoint by field; every dataset answers the
validation split.
"""

import itertools

import numpy as np
import pytest

from mmdf_bench import registry
from mmdf_bench.data.base import SPLITS
from mmdf_bench.data.layout import Field, field_grid, interleave, split_counts, split_fields, split_mask
from mmdf_bench.data.sources import SOURCES, source_images
from mmdf_bench.errors import InvalidInputError

SYNTHETIC = ("synthetic-brightfield-fusion", "synthetic-brightfield-fusion-noisy", "synthetic-brightfield-zstack",
             "synthetic-brightfield-deblur")


def _boxes(dataset_name, samples):
    """``(field, top, left, size)`` of each sample's pixels in its field's frame."""
    boxes = []
    for sample in samples:
        metadata = sample.metadata
        if dataset_name.endswith("zstack"):
            boxes.append((metadata["field"], metadata["row"], metadata["col"], sample.patch.shape[0]))
        elif "fusion" in dataset_name:
            crop = metadata["crop"]
            boxes.append((metadata["source_image"], crop["row"], crop["col"], crop["size"]))
        else:
            region = metadata["region"]
            boxes.append((metadata["source_image"], region["row"], region["col"], region["size"]))
    return boxes


def test_splits_are_train_validation_test():
    assert SPLITS == ("train", "validation", "test")


def test_every_bundled_specimen_is_used():
    images = source_images()
    assert list(images) == list(SOURCES) and len(images) >= 5
    for name, image in images.items():
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3, name
        assert min(image.shape[:2]) >= 512, name
        assert 0 <= image.min() and image.max() <= 1 and not image.flags.writeable, name


@pytest.mark.parametrize("name", SYNTHETIC)
def test_groups_are_the_source_images_and_test_samples_do_not_overlap(name):
    dataset = registry.datasets.create(name)
    samples = [dataset.load(sample_id) for sample_id in dataset.sample_ids("test")]
    groups = {sample.group for sample in samples}
    assert groups == set(source_images()), "one bootstrap group per source image, no crop or tile"
    boxes = _boxes(name, samples)
    for (one, top, left, size), (other, other_top, other_left, other_size) in itertools.combinations(boxes, 2):
        if one == other:
            assert top + size <= other_top or other_top + other_size <= top or \
                left + size <= other_left or other_left + other_size <= left, (one, top, left)
    # any prefix (--limit) takes the sources in turn
    assert {sample.group for sample in samples[:len(groups)]} == groups


@pytest.mark.parametrize("name", SYNTHETIC)
def test_validation_is_a_split_of_its_own(name):
    dataset = registry.datasets.create(name)
    ids = {split: dataset.sample_ids(split) for split in SPLITS}
    assert all(ids[split] for split in SPLITS)
    assert not set(ids["validation"]) & (set(ids["train"]) | set(ids["test"]))
    fields = {}
    for split in SPLITS:
        for sample_id in ids[split][:12]:
            metadata = dataset.load(sample_id).metadata
            fields.setdefault(split, set()).add(metadata.get("field"))
    fields["train"].discard(None)  # fusion train crops roam the train fields
    assert not fields["validation"] & (fields["train"] | fields["test"])
    assert dataset.describe()["splits"]["validation"] == len(ids["validation"])


@pytest.mark.parametrize("name", [name for name in registry.list_datasets() if name not in SYNTHETIC])
def test_folder_datasets_have_no_validation_split(name, tmp_path):
    dataset = registry.datasets.create(name, root=tmp_path)
    assert dataset.sample_ids("validation") == [] and dataset.sample_ids("train") == []
    with pytest.raises(InvalidInputError, match="unknown split"):
        dataset.sample_ids("holdout")


def test_field_grid_is_centred():
    assert field_grid((512, 512), 128) == ([0, 128, 256, 384], [0, 128, 256, 384])
    assert field_grid((872, 1000), 170) == ([11, 181, 351, 521, 691], [75, 245, 415, 585, 755])


def test_split_fields_closed_form():
    shapes = {"a": (512, 512, 3), "b": (512, 768, 3)}
    assert split_counts(shapes, 256, test_fraction=0.5, validation_fraction=0.25) == (2, 1)
    fields = split_fields(shapes, 256, test=2, validation=1)
    counts = {split: [sum(field.source == source for field in fields[split]) for source in shapes]
              for split in fields}
    assert counts == {"test": [2, 2], "validation": [1, 1], "train": [1, 3]}
    every = [field for split in fields for field in fields[split]]
    assert not any(one.overlaps(other) for one, other in itertools.combinations(every, 2))
    assert [field.source for field in fields["test"]] == ["a", "b", "a", "b"]
    # the same layout whatever is asked later: it depends on the source and cell only
    assert split_fields(shapes, 256, test=2, validation=1) == fields
    mask = split_mask(fields["train"], "b", shapes["b"])
    assert mask.sum() == 3 * 256 * 256
    with pytest.raises(InvalidInputError, match="too few"):
        split_fields({"a": (256, 512)}, 256, test=1, validation=1)
    with pytest.raises(InvalidInputError, match="too large"):
        split_counts(shapes, 400, test_fraction=0.5, validation_fraction=0.25)


def test_field_overlap_and_interleave():
    one = Field("a", "test", 0, 0, 0, 0, 10)
    assert one.overlaps(Field("a", "train", 0, 1, 5, 9, 10))
    assert not one.overlaps(Field("a", "train", 0, 1, 0, 10, 10))
    assert not one.overlaps(Field("b", "train", 0, 0, 0, 0, 10))
    assert one.name == "a-r0c0"
    assert interleave([[1, 2, 3], [4], [5, 6]]) == [1, 4, 5, 2, 6, 3]
