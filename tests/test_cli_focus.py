"""The focus commands of the CLI: stack-from-video, train, focus-map."""

import numpy as np
import pandas as pd

from mmdf_bench.cli import main
from mmdf_bench.data.synthetic_zstack import SyntheticBrightfieldZStack
from mmdf_bench.images import read_image
from tests.test_zstack_readers import SCAN_LEVELS, write_video


def test_stack_from_video_writes_planes_and_the_evidence(tmp_path, capsys):
    dataset = SyntheticBrightfieldZStack(seed=0)
    specimen = dataset.specimen_stack(dataset.specimen_ids("test")[4], noise=False)
    video = tmp_path / "scan.avi"
    write_video(video, [specimen[level] for level in SCAN_LEVELS])

    assert main(["stack-from-video", str(video), "-o", str(tmp_path / "planes"), "--planes", "5"]) == 0
    planes = pd.read_csv(tmp_path / "planes" / "planes.csv")
    assert list(planes.frame) == [4, 6, 8, 10, 12]  # in focus at frame 4, spread over the later side
    scores = pd.read_csv(tmp_path / "planes" / "frame_scores.csv")
    assert len(scores) == len(SCAN_LEVELS) and scores.focus_score.idxmax() == 4
    first = read_image(tmp_path / "planes" / planes.file[0])
    assert np.abs(first - specimen[0]).mean() < 0.02  # the in-focus frame, up to MJPG loss
    assert "5 planes" in capsys.readouterr().out


def test_stack_from_video_names_an_unreadable_file(tmp_path, capsys):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video")
    assert main(["stack-from-video", str(broken), "-o", str(tmp_path / "out")]) == 2
    assert "broken.avi" in capsys.readouterr().err
