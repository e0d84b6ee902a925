"""The HTML report: content checked in the file, and the page rendered by headless Chromium.

The rendering test needs Debian's ``chromium`` (``apt-get install -y
chromium``, done by ``.ci/run``); without it the test fails, it is not
skipped.
"""

import base64
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

from mmdf_bench.cli import main
from mmdf_bench.images import write_image
from mmdf_bench.report import build_report, write_report
from mmdf_bench.runner import run

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FUSION = "synthetic-brightfield-fusion"
ZSTACK = "synthetic-brightfield-zstack"
METHODS = ["average", "max-abs"]
NUM_SAMPLES = 3


class _Page(HTMLParser):
    """Collects the images (with their attributes) and the leaderboard tables of a page."""

    def __init__(self):
        super().__init__()
        self.images, self.tables, self.figures = [], [], []
        self._table = None
        self._cell = None
        self._figure = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
            if self._figure is not None:
                self._figure["img"] = attrs
        elif tag == "table" and "leaderboard" in (attrs.get("class") or ""):
            self._table = {"dataset": attrs.get("data-dataset"), "rows": []}
        elif tag == "tr" and self._table is not None:
            self._table["rows"].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = {"class": attrs.get("class") or "", "text": ""}
        elif tag == "figure":
            self._figure = {"class": attrs.get("class"), "caption": ""}

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table["rows"][-1].append(self._cell)
            self._cell = None
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None
        elif tag == "figure" and self._figure is not None:
            self.figures.append(self._figure)
            self._figure = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._figure is not None:
            self._figure["caption"] += data


def _parse(text):
    page = _Page()
    page.feed(text)
    return page


def _decode(uri):
    """The image a data URI holds; fails the test naming the URI when it is not one."""
    head, comma, payload = uri.partition(",")
    assert comma and head.startswith("data:image/png;base64"), f"not a PNG data URI: {uri[:60]}"
    return iio.imread(io.BytesIO(base64.b64decode(payload, validate=True)))


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is needed to render the report but was not found on PATH: "
                "install it (Debian: `apt-get install -y chromium`; .ci/run does this)")


def _chromium_run(arguments, tmp_path):
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, \
        f"chromium failed (exit {result.returncode}): {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def fusion_run(tmp_path_factory):
    """Three embedded fusion stacks, two methods, outputs saved, one focus map in the folder."""
    folder = tmp_path_factory.mktemp("report") / "fusion"
    run("fusion", methods=METHODS, metrics=["psnr", "ssim"], limit=NUM_SAMPLES,
        save_outputs=True, progress=False, out_dir=folder)
    picture = np.linspace(0, 1, 120 * 160 * 3, dtype=np.float32).reshape(120, 160, 3)
    write_image(folder / "focus_maps" / "slide.png", picture)
    return folder


@pytest.fixture(scope="module")
def fusion_report(fusion_run):
    out = fusion_run.parent / "report.html"
    assert main(["report", str(fusion_run), "-o", str(out), "--samples", str(NUM_SAMPLES)]) == 0
    return out


def test_report_holds_the_leaderboard_with_its_intervals(fusion_run, fusion_report):
    page = _parse(fusion_report.read_text(encoding="utf-8"))
    assert [table["dataset"] for table in page.tables] == [FUSION]
    header, *body = page.tables[0]["rows"]
    assert [cell["text"].split()[0] for cell in header[:4]] == ["rank", "method", "ssim", "psnr"]
    assert sorted(row[1]["text"] for row in body) == sorted(METHODS)
    leaderboard = pd.read_csv(fusion_run / "leaderboard.csv")
    for metric, column in (("ssim", 2), ("psnr", 3)):
        best = leaderboard[(leaderboard["metric"] == metric) & leaderboard["best"]]["method"]
        marked = [row[1]["text"] for row in body if row[column]["class"] == "best"]
        assert marked == list(best), metric
        for row in body:  # every cell shows "mean [low, high]"
            assert "[" in row[column]["text"] and "]" in row[column]["text"]


def test_every_image_is_embedded_and_decodable(fusion_run, fusion_report):
    page = _parse(fusion_report.read_text(encoding="utf-8"))
    for attributes in page.images:
        image = _decode(attributes["src"])
        assert image.shape[0] > 0 and image.shape[1] > 0
    roles = pd.Series([figure["class"] for figure in page.figures]).value_counts()
    # per sample: every method's output and the reference; planes are inputs
    assert roles["reference"] == NUM_SAMPLES
    assert roles["output"] == NUM_SAMPLES * len(METHODS) + 1  # + the focus map
    samples = pd.read_csv(fusion_run / "samples.csv")
    assert roles["input"] == samples["num_planes"].sum()
    forest = [image for image in page.images if image.get("class") == "forest-plot"]
    assert len(forest) == 1 and _decode(forest[0]["src"]).shape[1] > 300
    captions = " ".join(figure["caption"] for figure in page.figures)
    assert "average · ssim" in captions and "focus_maps/slide.png" in captions


def test_output_tiles_show_the_saved_outputs(fusion_run, fusion_report):
    page = _parse(fusion_report.read_text(encoding="utf-8"))
    tile = next(f for f in page.figures if f["caption"].startswith("max-abs"))
    shown = _decode(tile["img"]["src"]).astype(np.float64) / 255
    saved = iio.imread(fusion_run / "outputs" / FUSION / "max-abs" / "test-000.png") / 255
    # the tile is the saved output shrunk by area averaging: equal means
    assert shown.mean() == pytest.approx(saved.mean(), abs=0.01)


def test_report_renders_in_headless_chromium(fusion_report, tmp_path):
    # Mark every image with whether the browser decoded it, once the page has loaded.
    probe = ("<script>window.addEventListener('load', () => { for (const image of "
             "document.images) { image.setAttribute('data-decoded', "
             "image.complete && image.naturalWidth > 0 ? 'yes' : 'no'); } "
             "document.body.setAttribute('data-probe', 'done'); });</script>")
    probed = tmp_path / "probed.html"
    probed.write_text(fusion_report.read_text(encoding="utf-8").replace("</body>",
                                                                         probe + "</body>"))
    dom = _chromium_run(["--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], tmp_path)
    page = _parse(dom)
    assert 'data-probe="done"' in dom, "the page's load event never fired in chromium"
    assert len(page.tables) == 1 and page.tables[0]["dataset"] == FUSION
    assert page.images, "no images in the rendered page"
    broken = [image.get("alt") for image in page.images if image.get("data-decoded") != "yes"]
    assert not broken, f"images chromium could not load: {broken}"

    screenshot = tmp_path / "report.png"
    _chromium_run([f"--screenshot={screenshot}", "--window-size=1280,2000",
                   fusion_report.as_uri()], tmp_path)
    pixels = iio.imread(screenshot)[..., :3].astype(np.float64)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 20, "the screenshot is (nearly) blank"
    # a good part of the screen is drawn (images, plots, text), not background
    assert (pixels.min(axis=-1) < 200).mean() > 0.05


def test_report_without_outputs_has_tables_and_plots_only():
    committed = PROJECT_ROOT / "results" / "fusion" / FUSION
    page = _parse(build_report([committed]))
    # one header row and one row per method of the committed run
    expected_rows = 1 + len(json.loads((committed / "manifest.json").read_text())["methods"])
    assert len(page.tables) == 1 and len(page.tables[0]["rows"]) == expected_rows
    assert [image.get("class") for image in page.images] == ["forest-plot"]


def test_inputs_are_left_out_with_a_reason_when_the_dataset_changed(fusion_run, tmp_path):
    copy = tmp_path / "changed"
    shutil.copytree(fusion_run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["datasets"][FUSION]["version"] = "0-old"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "leaderboard.json").unlink()  # also exercises computing the leaderboard again
    text = build_report([copy], max_samples=1)
    page = _parse(text)
    assert {figure["class"] for figure in page.figures} == {"output"}
    assert "the run used version 0-old" in text
    assert len(page.tables) == 1


def _focus_run(folder):
    """A hand-made focus run on two embedded patches, with saved predictions of two methods."""
    from mmdf_bench import registry

    dataset = registry.datasets.create(ZSTACK)
    samples = [dataset.load(sample_id) for sample_id in ("test-0000", "test-0002")]
    predictions = {"sure-out": {"probability_out_of_focus": 1.0,
                                "levels": [0.0] * 10 + [1.0]},
                   "unsure": {"probability_out_of_focus": 0.5, "levels": None}}
    rows = []
    for method, record in predictions.items():
        for sample in samples:
            path = folder / "outputs" / ZSTACK / method / f"{sample.sample_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))
            correct = float(int(record["probability_out_of_focus"] >= 0.5) == sample.label)
            rows.append({"dataset": ZSTACK, "method": method, "sample_id": sample.sample_id,
                         "group": sample.group, "metric": "accuracy", "value": correct})
    pd.DataFrame(rows).to_csv(folder / "scores.csv", index=False)
    manifest = {"task": "focus", "datasets": {ZSTACK: dataset.describe()},
                "metrics": {"accuracy": {"higher_is_better": True, "available": True}},
                "primary_metrics": ["accuracy"]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder, samples


def test_focus_predictions_are_drawn_as_focus_maps(tmp_path):
    folder, samples = _focus_run(tmp_path / "focus")
    out = write_report([folder], tmp_path / "focus.html", max_samples=2)
    page = _parse(out.read_text(encoding="utf-8"))
    assert len(page.tables) == 1
    figures = page.figures
    assert sum(f["class"] == "input" for f in figures) == len(samples)
    assert sum(f["class"] == "reference" for f in figures) == len(samples)
    sure = [f for f in figures if f["caption"].startswith("sure-out")]
    assert len(sure) == len(samples) and all("level 10" in f["caption"] for f in sure)
    # A certain prediction of the farthest level is tinted with viridis' yellow end
    # (R and G high, B low); the uncertain one keeps the grey patch nearly untinted.
    tinted = _decode(sure[0]["img"]["src"]).astype(np.float64)
    centre = tinted[tinted.shape[0] // 3: -tinted.shape[0] // 3,
                    tinted.shape[1] // 3: -tinted.shape[1] // 3].mean(axis=(0, 1))
    assert centre[0] > centre[2] + 60 and centre[1] > centre[2] + 60
    truth = [f["caption"] for f in figures if f["class"] == "reference"]
    assert truth[0] == f"truth · level {samples[0].level}"
