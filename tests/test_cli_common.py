import json
import os
import signal
import subprocess
import time
from pathlib import Path

from typer.testing import CliRunner

from nnlab import cli
from nnlab.index import describe, output_files, render_index

runner = CliRunner()


def test_unforeseen_error_is_short_and_saves_the_traceback(tmp_path, monkeypatch):
    def broken(config):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr("nnlab.moons.run_moons", broken)
    result = runner.invoke(cli.app, ["moons", "--out", str(tmp_path)])
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: unexpected RuntimeError: something nobody foresaw (full traceback in ")
    assert "Traceback" not in result.output
    log = message.split("full traceback in ")[1].split(";")[0]
    assert "something nobody foresaw" in Path(log).read_text()
    os.remove(log)


def test_ctrl_c_during_moons_keeps_earlier_results(tmp_path, nnlab_command):
    assert subprocess.run([*nnlab_command, "moons", "--iters", "3", "--out", str(tmp_path)]).returncode == 0
    before = (tmp_path / "moons" / "metrics.json").read_bytes()
    process = subprocess.Popen(
        [*nnlab_command, "moons", "--iters", "10000000", "--snapshots", "0", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(2.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert (tmp_path / "moons" / "metrics.json").read_bytes() == before
    assert not [p for p in (tmp_path / "moons").iterdir() if p.name.startswith(".")]


def test_index_lists_and_shows_every_output(tmp_path):
    assert runner.invoke(cli.app, ["moons", "--iters", "2", "--out", str(tmp_path)]).exit_code == 0
    page = (tmp_path / "index.html").read_text()
    assert '<img src="moons/snapshots.png"' in page and "moons/metrics.json" in page
    assert "error " in page and "Two moons" in page
    assert output_files(tmp_path) == sorted(output_files(tmp_path), key=lambda f: (f.split("/")[0] != "moons", f))
    assert render_index(tmp_path) == page
    listing = runner.invoke(cli.app, ["index", "--out", str(tmp_path)])
    assert listing.exit_code == 0 and "iteration_002.png" in listing.output and "index.html" in listing.output


def test_descriptions():
    assert describe("mnist/conv.pt").startswith("checkpoint of conv")
    assert describe("mnist/confusion_full.png") == "confusion matrix of full on the whole test set"
    assert describe("moons/iteration_016.png").startswith("decision boundary at iteration 16")


def test_index_of_a_missing_folder(tmp_path):
    result = runner.invoke(cli.app, ["index", "--out", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no such folder" in result.stderr


def test_metrics_are_strict_json(tmp_path):
    assert runner.invoke(cli.app, ["moons", "--iters", "1", "--out", str(tmp_path)]).exit_code == 0
    json.loads((tmp_path / "moons" / "metrics.json").read_text(), parse_constant=lambda c: 1 / 0)
