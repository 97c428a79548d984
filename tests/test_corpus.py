"""Every command on every broken or awkward input: one clear line naming the file, nothing half-written.

The corpus is generated (tests/corpus/make_corpus.py) once per session. Commands run in-process
through Typer's CliRunner, so TensorFlow is imported once; a user error surfaces as the
EdgeDenoiseError that ``edge_denoise.cli.run`` prints as one red line with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpus.make_corpus import (BAD_CAPTURE_SIZES, BAD_NOISE_SPECS, BAD_NUMBERS, BAD_RUN_NUMBERS, BAD_SIZES, BAD_URIS,
                                build_corpus)
from edge_runtime.errors import EdgeDenoiseError

ROOT = Path(__file__).resolve().parents[1]
IMAGE_NAMES = ["zero_byte.jpg", "truncated.jpg", "truncated.png", "text_named.jpg", "gray.png", "rgba.png",
               "sixteen_bit.png", "one_pixel.png", "huge_10000.png", "huge_10000.jpg", "huge_20000.jpg",
               "exif_rotated.jpg", "cmyk.jpg"]
VIDEO_NAMES = ["good.mp4", "truncated.mp4", "zero_frames.mp4", "zero_byte.mp4", "text_named.mp4"]
MODEL_NAMES = ["zero_byte.tflite", "truncated.tflite", "random.tflite", "random_tfl3.tflite", "gray_channels.tflite",
               "wrong_output.tflite", "zero_byte.keras", "random.keras", "lambda_layer.keras", "unknown_class.keras",
               "truncated.keras"]
TFLITE_NAMES = [n for n in MODEL_NAMES if n.endswith(".tflite")]
ACCEPTED_MODEL_NAMES = ["dynamic_shape.tflite"]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"), models=True)


class Outcome:
    """What a user would see: exit code, the messages (one per error/skip line) and whether a traceback leaked."""

    def __init__(self, result):
        exc = result.exception
        self.error = str(exc) if isinstance(exc, EdgeDenoiseError) else None
        if exc is not None and not isinstance(exc, (EdgeDenoiseError, SystemExit)):
            raise AssertionError(f"traceback for the user: {type(exc).__name__}: {exc}") from exc
        self.code = 2 if self.error is not None else result.exit_code
        text = " ".join(result.stderr.split())  # rich wraps long lines at the terminal width
        self.skipped = [m for m in text.split("skipped ")[1:]]
        self.stdout = result.stdout
        self.messages = ([self.error] if self.error else []) + self.skipped

    def assert_refused(self, *needles: str) -> None:
        assert self.code != 0, f"exit 0 although the user must act: {self.messages} {self.stdout}"
        assert self.error is None or "\n" not in self.error, f"more than one line: {self.error!r}"
        assert any(all(n in m for n in needles) for m in self.messages), (needles, self.messages)
        assert len([m for m in self.messages if all(n in m for n in needles)]) == 1, self.messages


def invoke(*args) -> Outcome:
    return Outcome(CliRunner().invoke(__import__("edge_denoise.cli", fromlist=["app"]).app, [str(a) for a in args]))


def assert_nothing_half_written(folder: Path) -> None:
    leftovers = [p for p in folder.rglob("*") if ".tmp" in p.name]
    assert not leftovers, leftovers
    for report in folder.rglob("*.json"):
        json.loads(report.read_text())


# --- images --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_denoise_on_every_image(corpus, tmp_path, name):
    from edge_runtime.images import read_image_rgb

    item = corpus.images[name]
    out = invoke("denoise", item.path, "--out", tmp_path / "out", "--model", corpus.good_tflite)
    if item.ok:
        assert out.code == 0, out.messages
        written = read_image_rgb(tmp_path / "out" / name)
        assert written.shape == read_image_rgb(item.path).shape
    else:
        out.assert_refused(str(item.path), item.expect)
        assert not (tmp_path / "out" / name).exists()
    assert_nothing_half_written(tmp_path)


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_run_on_every_image(corpus, tmp_path, name):
    item = corpus.images[name]
    report = tmp_path / "run.json"
    out = invoke("run", "--source", item.path, "--model", corpus.good_tflite, "--report", report,
                 "--save", tmp_path / "frames")
    data = json.loads(report.read_text())  # written whole however the run ended
    if item.ok:
        assert out.code == 0 and data["frames"] == 1, out.messages
    else:
        out.assert_refused(str(item.path), item.expect)
        assert data["frames"] == 0
    assert_nothing_half_written(tmp_path)


@pytest.mark.parametrize("name", [n for n in IMAGE_NAMES if n not in ("gray.png", "rgba.png", "sixteen_bit.png",
                                                                      "one_pixel.png", "exif_rotated.jpg", "cmyk.jpg")])
def test_train_on_a_folder_of_one_broken_image_names_it_and_leaves_no_run_folder(corpus, tmp_path, name):
    import shutil

    item = corpus.images[name]
    (tmp_path / "data").mkdir()
    shutil.copy(item.path, tmp_path / "data" / name)
    out = invoke("train", "--data", tmp_path / "data", "--out", tmp_path / "run", "--size", 32, "--width", 4,
                 "--depth", 2, "--epochs", 1)
    out.assert_refused(name, item.expect)
    assert not (tmp_path / "run").exists(), "a run that never started does not block the next try"


def test_train_on_the_whole_image_corpus_skips_the_broken_and_converts_the_rest(corpus, tmp_path):
    out = invoke("train", "--data", corpus.images["gray.png"].path.parent, "--out", tmp_path / "run", "--size", 32,
                 "--width", 4, "--depth", 2, "--epochs", 1, "--batch-size", 2)
    assert out.code == 0, out.messages
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    skipped = {Path(rel).name for rel, _ in config["skipped"]}
    assert skipped == {n for n in IMAGE_NAMES if not corpus.images[n].ok}
    assert {Path(rel).name for rel, _ in config["converted"]} >= {"gray.png", "rgba.png", "sixteen_bit.png", "cmyk.jpg"}
    assert_nothing_half_written(tmp_path)


# --- videos --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", VIDEO_NAMES)
def test_denoise_and_run_on_every_video(corpus, tmp_path, name):
    item = corpus.videos[name]
    out = invoke("denoise", item.path, "--out", tmp_path / "out", "--model", corpus.good_tflite)
    ran = invoke("run", "--source", item.path, "--model", corpus.good_tflite, "--report", tmp_path / "r.json",
                 "--save", tmp_path / "den.mp4")
    if item.ok:
        assert out.code == 0 and ran.code == 0, (out.messages, ran.messages)
        assert (tmp_path / "out" / name).stat().st_size > 0 and (tmp_path / "den.mp4").stat().st_size > 0
    else:
        out.assert_refused(str(item.path), item.expect)
        ran.assert_refused(str(item.path), item.expect)
        assert not (tmp_path / "out" / name).exists() and not (tmp_path / "den.mp4").exists()
    assert_nothing_half_written(tmp_path)


# --- models --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TFLITE_NAMES)
def test_run_and_denoise_refuse_every_broken_tflite_by_name(corpus, tmp_path, name):
    item = corpus.models[name]
    image = corpus.images["gray.png"].path
    ran = invoke("run", "--source", image, "--model", item.path, "--report", tmp_path / "r.json")
    ran.assert_refused(str(item.path), item.expect)
    den = invoke("denoise", image, "--out", tmp_path / "out", "--model", item.path)
    den.assert_refused(str(item.path), item.expect)
    assert not (tmp_path / "out").exists()
    assert_nothing_half_written(tmp_path)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_eval_refuses_every_broken_model_by_name(corpus, tmp_path, name):
    item = corpus.models[name]
    out = invoke("eval", item.path, "--data", corpus.images["gray.png"].path.parent, "--split", "all", "--size", 32,
                 "--no-baselines", "--out", tmp_path / "eval")
    assert out.error is not None and str(item.path) in out.error and item.expect in out.error, out.messages
    assert not (tmp_path / "eval" / "eval.json").exists()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_convert_refuses_every_broken_model_by_name(corpus, tmp_path, name):
    item = corpus.models[name]
    expect = item.expect if name.endswith(".keras") else "already a TFLite file"
    out = invoke("convert", item.path, "--quant", "fp32", "--size", 32, "--out", tmp_path / "tflite")
    out.assert_refused(str(item.path), expect)
    assert not (tmp_path / "tflite").exists()


# --- what the user types ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", BAD_NOISE_SPECS)
def test_every_command_refuses_a_malformed_noise_spec_in_one_line(corpus, tmp_path, spec):
    image = corpus.images["gray.png"].path
    commands = [
        ["train", "--data", image.parent, "--out", tmp_path / "run", "--noise", spec],
        ["eval", corpus.models["random.keras"].path, "--data", image.parent, "--noise", spec],
    ]
    if spec:  # run and convert treat an empty value as "not given"
        commands.append(["run", "--source", image, "--model", corpus.good_tflite, "--add-noise", spec])
        commands.append(["convert", tmp_path / "none.keras", "--noise", spec])
    for args in commands:
        out = invoke(*args)
        out.assert_refused("bad noise spec")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("size", BAD_SIZES)
def test_convert_and_train_refuse_bad_sizes_in_one_line(corpus, tmp_path, size):
    if size != "33":  # a fine size for convert until it sees the model's poolings
        out = invoke("convert", tmp_path / "none.keras", "--size", size)
        out.assert_refused(size)
    if size.lstrip("-").isdigit():
        image = corpus.images["gray.png"].path
        trained = invoke("train", "--data", image.parent, "--out", tmp_path / "run", "--size", size)
        trained.assert_refused(f"--size {size}")
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("size", BAD_CAPTURE_SIZES)
def test_run_refuses_bad_capture_sizes(corpus, size):
    out = invoke("run", "--source", corpus.images["gray.png"].path, "--model", corpus.good_tflite,
                 "--capture-size", size)
    out.assert_refused("--capture-size")


@pytest.mark.parametrize("uri", BAD_URIS)
def test_run_refuses_bad_source_uris_in_one_line(corpus, tmp_path, uri):
    out = invoke("run", "--source", uri, "--model", corpus.good_tflite, "--report", tmp_path / "r.json")
    out.assert_refused(uri.strip() or "source")
    assert_nothing_half_written(tmp_path)


# --- numbers, layouts and models that once misbehaved (issue 21) ---------------------------------------------
@pytest.mark.parametrize("option,value", BAD_NUMBERS)
def test_run_and_denoise_refuse_a_bad_number_in_one_line_naming_the_option(corpus, tmp_path, option, value):
    image = corpus.images["gray.png"].path
    ran = invoke("run", "--source", image, "--model", corpus.good_tflite, option, value, "--report", tmp_path / "r.json")
    ran.assert_refused(f"{option}")
    den = invoke("denoise", image, "--out", tmp_path / "out", "--model", corpus.good_tflite, option, value)
    den.assert_refused(f"{option}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option,value", BAD_RUN_NUMBERS)
def test_run_refuses_a_bad_number_before_loading_anything(corpus, tmp_path, option, value):
    out = invoke("run", "--source", corpus.images["gray.png"].path, "--model", corpus.good_tflite, option, value)
    out.assert_refused(option)


def test_denoise_over_the_awkward_layouts_twice_skips_nothing_and_nests_nothing(corpus, tmp_path):
    cams, inside = corpus.layouts["cams"], corpus.layouts["inside"]
    out = tmp_path / "dn"
    args = ["denoise", str(cams / "*" / "img*.jpg"), inside, inside / "photo0.png", inside / "photo0.png",
            "--out", out, "--model", corpus.good_tflite]
    first = invoke(*args)
    assert first.code == 0 and "4 written, 0 already there" in first.stdout and "0 skipped" in first.stdout, first.stdout
    inner = invoke("denoise", inside, "--out", inside / "dn", "--model", corpus.good_tflite)
    again = invoke("denoise", inside, "--out", inside / "dn", "--model", corpus.good_tflite)
    assert inner.code == again.code == 0 and "0 written, 2 already there" in again.stdout, again.stdout
    assert not list((inside / "dn").rglob("dn")), "outputs were read back as inputs"
    assert_nothing_half_written(tmp_path)


@pytest.mark.parametrize("name", ACCEPTED_MODEL_NAMES)
def test_run_and_denoise_accept_a_dynamic_shape_model_and_keep_the_brightness(corpus, tmp_path, name):
    from edge_runtime.images import read_image_rgb

    item = corpus.models[name]
    image = corpus.images["exif_rotated.jpg"].path
    den = invoke("denoise", image, "--out", tmp_path / "out", "--model", item.path)
    assert den.code == 0, den.messages
    before, after = read_image_rgb(image), read_image_rgb(tmp_path / "out" / image.name)
    inner = (slice(1, -1), slice(1, -1))  # the blur's zero padding darkens the border; 1x1 tiles darkened all
    assert before.shape == after.shape and abs(float(before[inner].mean()) - float(after[inner].mean())) < 1.0
    ran = invoke("run", "--source", image, "--model", item.path, "--report", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert ran.code == 0 and report["frames"] == 1 and report["model"]["backend"] == "interpreter"
