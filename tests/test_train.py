"""Training end to end on a handful of sample photos: run folder, eval, resume, tune, CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_runtime.errors import EdgeDenoiseError
from train.config import TrainConfig, load_config
from train.training import train

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(model="unet", width=4, depth=2, size=32, batch_size=4, epochs=2, max_images=6)


def cli(*args, cwd=ROOT):
    """Run the installed console entry point as a user would."""
    return subprocess.run([sys.executable, "-m", "edge_denoise", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny U-Net run shared by the tests that only read its folder."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    data = ROOT / "edge_runtime" / "samples"
    result = train(TrainConfig(data=str(data), out=str(out), **TINY), verbose=0)
    return result


def test_a_run_folder_says_how_it_was_made_and_how_well_it_did(tiny_run):
    run = tiny_run.run_dir
    for name in ("model.keras", "config.json", "manifest.json", "history.csv", "curves.png", "samples.png", "metrics.json"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["width"] == 4 and config["manifest_hash"] and "keras" in config["versions"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 < metrics["model"]["ssim_mean"] <= 1 and metrics["model"]["count"] > 0
    assert not list(run.glob("*.tmp*")), "no temp files left behind"
    assert load_config(run / "config.json") == TrainConfig(**config["train"])


def test_eval_scores_the_model_and_every_baseline_on_the_same_images(tiny_run, tmp_path):
    result = cli("eval", tiny_run.run_dir / "model.keras", "--data", ROOT / "edge_runtime" / "samples",
                 "--size", 32, "--noise", "gaussian:0.1", "--noise", "saltpepper:0.05", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    methods = {r["method"] for r in report["rows"]}
    assert {"model", "noisy input", "median", "gaussian blur", "bilateral", "nlmeans"} <= methods
    assert {r["noise"] for r in report["rows"]} == {"gaussian:0.1", "saltpepper:0.05"}
    assert (tmp_path / "eval.md").is_file() and (tmp_path / "eval.png").is_file()
    assert "model" in result.stdout


def test_max_side_trains_on_crops_of_larger_images_and_eval_scores_at_a_frame_size(tmp_path):
    config = TrainConfig(data=str(ROOT / "edge_runtime" / "samples"), out=str(tmp_path / "run"), max_side=64, crop=16,
                         **{**TINY, "epochs": 1})
    result = train(config, verbose=0)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["max_side"] == 64 and load_config(tmp_path / "run" / "config.json") == config.replace(
        data=saved["train"]["data"])
    assert result.metrics["model"]["count"] > 0
    report = cli("eval", tmp_path / "run" / "model.keras", "--data", ROOT / "edge_runtime" / "samples", "--size", "24x32",
                 "--no-baselines", "--out", tmp_path / "eval")
    assert report.returncode == 0, report.stderr
    assert json.loads((tmp_path / "eval" / "eval.json").read_text())["size"] == [24, 32]


def test_an_existing_run_folder_is_never_overwritten_by_accident(tiny_run):
    with pytest.raises(EdgeDenoiseError, match="already exists"):
        train(TrainConfig(data=str(ROOT / "edge_runtime" / "samples"), out=str(tiny_run.run_dir), **TINY), verbose=0)


def test_interrupted_training_resumes_from_the_last_epoch(tmp_path):
    import keras

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    config = TrainConfig(data=str(ROOT / "edge_runtime" / "samples"), out=str(tmp_path / "run"), **{**TINY, "epochs": 3})
    first = train(config, callbacks=[StopAfterFirstEpoch()], verbose=0)
    assert first.interrupted and (tmp_path / "run" / "model.keras").is_file()
    assert (tmp_path / "run" / "backup").is_dir(), "a backup to resume from"
    second = train(config, resume=True, verbose=0)
    epochs = [line.split(",")[0] for line in (tmp_path / "run" / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1", "2"], "epoch 0 is not trained twice"
    assert not second.interrupted and second.metrics["model"]["count"] > 0


def test_tune_writes_a_best_config_that_train_reuses(tmp_path):
    out = tmp_path / "tune"
    result = cli("tune", "--data", ROOT / "edge_runtime" / "samples", "--out", out, "--size", 32, "--max-images", 4,
                 "--max-trials", 2, "--max-epochs", 1, "--widths", "4", "--depths", "2", "--algorithm", "bayesian")
    assert result.returncode == 0, result.stderr
    best = load_config(out / "best.json")
    assert best.width == 4 and best.depth == 2 and (out / "trials.md").is_file()
    run = cli("train", "--config", out / "best.json", "--epochs", 1, "--out", tmp_path / "again")
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "again" / "config.json").read_text())["train"]["size"] == 32


@pytest.mark.parametrize("args, says", [
    (["train", "--noise", "gausian:0.1"], "unknown kind 'gausian'"),
    (["train", "--data", "/no/such/folder", "--out", "{tmp}/x"], "data folder not found"),
    (["train", "--model", "resnet", "--out", "{tmp}/y", "--data", str(ROOT / "edge_runtime" / "samples")], "unknown model 'resnet'"),
    (["train", "--size", "30", "--out", "{tmp}/z", "--data", str(ROOT / "edge_runtime" / "samples")], "multiple of 8"),
    (["eval", "/no/model.keras", "--data", str(ROOT / "edge_runtime" / "samples")], "no such model file"),
    (["train", "--config", "/no/best.json"], "no such config file"),
    (["train", "--size", "32", "--max-side", "32", "--out", "{tmp}/w", "--data", str(ROOT / "edge_runtime" / "samples")],
     "--max-side 32: must be larger than --size 32"),
])
def test_user_mistakes_are_one_line_without_a_traceback(args, says, tmp_path):
    result = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def test_the_data_folder_is_given_or_read_from_the_environment_never_assumed(tiny_run, tmp_path, monkeypatch):
    """No command defaults to a folder of the developers' machine: --data, else $EDGE_DENOISE_DATA, else one line."""
    env = {k: v for k, v in os.environ.items() if k != "EDGE_DENOISE_DATA"}
    for args in (["train", "--out", tmp_path / "x"], ["eval", tiny_run.run_dir / "model.keras"]):
        result = subprocess.run([sys.executable, "-m", "edge_denoise", *map(str, args)], capture_output=True, text=True,
                                cwd=tmp_path, env={**env, "COLUMNS": "200"})
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip() == ("error: no data folder: give --data DIR (clean images, flat or one subfolder per "
                                         "class) or set EDGE_DENOISE_DATA=DIR"), result.stderr
    monkeypatch.setenv("EDGE_DENOISE_DATA", str(ROOT / "edge_runtime" / "samples"))
    result = train(TrainConfig(out=str(tmp_path / "from_env"), **{**TINY, "epochs": 1}), verbose=0)
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["train"]["data"] == str(ROOT / "edge_runtime" / "samples")  # convert finds the images from here


def test_a_corrupt_keras_file_is_named_in_one_line(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    result = cli("eval", bad, "--data", ROOT / "edge_runtime" / "samples", "--size", 32)
    assert result.returncode == 2 and str(bad) in result.stderr and "Traceback" not in result.stderr


BLOCK_TF = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
sys.argv = ['edge-denoise'] + sys.argv[1:]
from edge_denoise.cli import app
try:
    app()
except SystemExit as e:
    assert e.code in (0, None), e.code
assert 'tensorflow' not in sys.modules
"""


@pytest.mark.parametrize("command", [[], ["train"], ["tune"], ["eval"]])
def test_help_never_imports_tensorflow(command):
    result = subprocess.run([sys.executable, "-c", BLOCK_TF, *command, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
