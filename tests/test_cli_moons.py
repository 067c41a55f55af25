import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nnlab.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_moons_writes_pictures_metrics_and_table(tmp_path):
    result = run("moons", "--iters", "8", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "error E" in result.output and "accuracy" in result.output
    folder = tmp_path / "moons"
    expected = {f"iteration_{i:03d}.png" for i in (0, 1, 2, 4, 8)} | {"snapshots.png", "metrics.json"}
    assert {p.name for p in folder.iterdir()} == expected
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["command"] == "moons"
    assert metrics["config"]["iters"] == 8 and metrics["config"]["hidden"] == 50
    assert [row["iteration"] for row in metrics["history"]] == list(range(9))
    assert set(metrics["history"][0]) == {"iteration", "error", "accuracy"}
    assert len(metrics["files"]) == 7 and all(os.path.exists(f) for f in metrics["files"])
    assert metrics["snapshots"] == [0, 1, 2, 4, 8]
    assert metrics["seconds"] > 0


def test_snapshot_png_size_and_overview_is_wider(tmp_path):
    from PIL import Image

    assert run("moons", "--iters", "2", "--snapshots", "0,2", "--out", str(tmp_path)).exit_code == 0
    tile = Image.open(tmp_path / "moons" / "iteration_002.png")
    overview = Image.open(tmp_path / "moons" / "snapshots.png")
    assert tile.size[0] * 2 == overview.size[0] and tile.size[1] == overview.size[1]


def test_animation_gif_has_a_frame_per_iteration(tmp_path):
    from PIL import Image

    assert run("moons", "--iters", "5", "--animate", "--out", str(tmp_path)).exit_code == 0
    gif = Image.open(tmp_path / "moons" / "training.gif")
    assert gif.format == "GIF" and gif.n_frames == 6


def test_a_new_run_replaces_the_previous_set(tmp_path):
    assert run("moons", "--iters", "8", "--animate", "--out", str(tmp_path)).exit_code == 0
    assert run("moons", "--iters", "2", "--out", str(tmp_path)).exit_code == 0
    names = {p.name for p in (tmp_path / "moons").iterdir()}
    assert names == {"iteration_000.png", "iteration_001.png", "iteration_002.png", "snapshots.png", "metrics.json"}
    metrics = json.loads((tmp_path / "moons" / "metrics.json").read_text())
    assert {os.path.basename(f) for f in metrics["files"]} == names


def test_config_file_and_flags(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text("[moons]\niters = 3\nhidden = 7\n")
    assert run("moons", "--config", str(preset), "--hidden", "9", "--out", str(tmp_path)).exit_code == 0
    config = json.loads((tmp_path / "moons" / "metrics.json").read_text())["config"]
    assert config["iters"] == 3 and config["hidden"] == 9


BAD_OPTIONS = [
    (["--iters", "-1"], "--iters -1: must be an integer >= 0"),
    (["--iters", "1000001"], "--iters 1000001: must be an integer >= 0 and <= 1000000"),
    (["--hidden", "0"], "--hidden 0: must be an integer >= 1"),
    (["--hidden", "100000000"], "--hidden 100000000: must be an integer >= 1 and <= 100000"),
    (["--samples", "1"], "--samples 1: must be an integer >= 2"),
    (["--lr", "0"], "--lr 0.0: must be a finite number > 0"),
    (["--lr", "nan"], "--lr nan: must be a finite number > 0"),
    (["--lr", "inf"], "--lr inf: must be a finite number > 0"),
    (["--noise", "-1"], "--noise -1.0: must be a finite number >= 0"),
    (["--seed", str(2**70)], f"--seed {2**70}: must be an integer >= 0 and <= 4294967295"),
    (["--snapshots", "0,33"], "--snapshots 33: must be iterations between 0 and --iters (32)"),
    (["--snapshots", "a,b"], "--snapshots 'a,b': must be comma-separated integers"),
    (["--snapshots", ""], "--snapshots '': must be a non-empty list of at most 32 integers >= 0"),
    (["--snapshots", ","], "--snapshots '': must be a non-empty list"),
    (["--animate", "--iters", "5000"], "--iters 5000: must be at most 1000 with --animate"),
    (["--iters", "ten"], "Invalid value for '--iters'"),
    (["--seed", "1.5"], "Invalid value for '--seed'"),
    (["--bogus"], "No such option: --bogus"),
    (["--config", "missing.toml"], "--config missing.toml: no such file"),
    (["--out", ""], "--out '': must be a path, not an empty text"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_options_give_one_line_exit_2_and_write_nothing(tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    result = run("moons", *args, "--out", str(tmp_path / "out")) if "--out" not in args else run("moons", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and fragment in result.stderr
    assert result.output.strip().count("\n") == 0, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_config_typo_names_the_key(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text("[mnist]\nepoch = 3\n")
    result = run("moons", "--config", str(preset), "--out", str(tmp_path))
    assert result.exit_code == 2
    assert f"--config {preset} [mnist]: unknown key 'epoch'; did you mean 'epochs'?" in result.stderr


def test_a_preset_value_out_of_range_names_the_file_and_key(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text("[moons]\niters = -4\n")
    result = run("moons", "--config", str(preset), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert f"--config {preset} [moons]: key 'iters' must be an integer >= 0 and <= 1000000, not -4" in result.stderr


def test_unwritable_out_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("moons", "--out", str(blocker))
    assert result.exit_code == 1
    assert f"--out {blocker}: is a file, not a folder; choose another --out" in result.stderr
    assert blocker.read_text() == "not a folder"


def test_diverging_run_keeps_the_previous_results(tmp_path):
    assert run("moons", "--iters", "2", "--out", str(tmp_path)).exit_code == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "moons").iterdir()}
    result = run("moons", "--iters", "2", "--lr", "1000", "--out", str(tmp_path))
    assert result.exit_code == 1 and "the error exploded" in result.stderr and "try a smaller --lr" in result.stderr
    after = {p.name: p.read_bytes() for p in (tmp_path / "moons").iterdir()}
    assert after == before


def _imported_modules(importtime_stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in importtime_stderr.splitlines() if line.startswith("import time:")}


def test_help_and_moons_never_import_torch(tmp_path):
    for args in (["--help"], ["moons", "--iters", "2", "--out", str(tmp_path)]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "nnlab", *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        imported = {name.split(".")[0] for name in _imported_modules(done.stderr)}
        assert not imported & {"torch", "torchvision", "sklearn", "dask", "distributed"}, args
    assert (tmp_path / "moons" / "metrics.json").exists()


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "nnlab", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("nnlab ")


def test_help_shows_every_default():
    output = runner.invoke(app, ["moons", "--help"], env={"COLUMNS": "300"}).output
    text = " ".join(output.replace("│", " ").split())
    for fragment in (
        "(default: 32)",
        "(default: 1.0)",
        "(default: 50)",
        "(default: 100)",
        "(default: outputs)",
        "(default: no-animate)",
        "(default: 0, the powers of two below iters, and iters)",
    ):
        assert fragment in text, fragment


def test_names_too_long_for_the_filesystem_are_named(tmp_path):
    long = tmp_path / ("x" * 300)
    result = run("moons", "--out", str(long))
    assert result.exit_code == 1 and result.stderr.startswith(f"error: --out {long}: cannot create the folder (File")
    result = run("moons", "--config", str(long) + ".toml", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "cannot read it (File name too long)" in result.stderr
    result = runner.invoke(app, ["confidence", "--checkpoint", str(long) + ".pt", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "cannot be looked at (File name too long)" in result.stderr
    result = run("moons", "--out", str(tmp_path / "caf\udce9"))  # bytes that are not UTF-8, as a shell passes them
    assert result.exit_code == 2 and "must be a path that is valid UTF-8" in result.stderr
