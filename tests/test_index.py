"""The output folder's index.html: built from the metrics files with the terminal's tables, robust to hand-edited or
damaged files, and never running a file's name as HTML."""

import json
import os

import pytest
from typer.testing import CliRunner

from nnlab.cli import app
from nnlab.index import describe, output_files, render_index, write_index

runner = CliRunner()


@pytest.fixture
def moons_run(tmp_path):
    assert runner.invoke(app, ["moons", "--iters", "2", "--out", str(tmp_path)]).exit_code == 0
    return tmp_path


def test_index_lists_and_shows_every_output(moons_run):
    page = (moons_run / "index.html").read_text()
    assert '<img src="moons/snapshots.png"' in page and "moons/metrics.json" in page
    assert "<caption>two moons: 100 samples, 50 hidden units</caption>" in page  # the terminal's table
    assert output_files(moons_run)[0] == "moons/iteration_000.png"
    assert render_index(moons_run) == (page, [])


def test_descriptions():
    assert describe("mnist/conv.pt").startswith("checkpoint of conv")
    assert describe("mnist/confusion_full.png") == "confusion matrix of full on the whole test set"
    assert describe("moons/iteration_016.png").startswith("decision boundary at iteration 16")
    assert describe("mnist-partial/linear.pt").startswith("checkpoint of linear, finished by an interrupted")
    assert describe("moons/iteration_x.png") == "file"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{}", "config"),
        ('{"command": "mnist"}', "command"),
        ("[1, 2]", "the whole file"),
        ('"text"', "the whole file"),
        ("not json", "the whole file"),
        (None, "history.0.error"),
    ],
)
def test_a_damaged_metrics_file_is_left_out_with_a_warning(moons_run, content, problem):
    path = moons_run / "moons" / "metrics.json"
    if content is None:
        metrics = json.loads(path.read_text())
        metrics["history"][0]["error"] = "low"  # a string where a number belongs
        content = json.dumps(metrics)
    path.write_text(content)
    page, warnings = write_index(moons_run)
    assert len(warnings) == 1 and warnings[0].startswith(f"{path}: not a valid nnlab metrics file ({problem}")
    assert "Two moons" not in page.read_text() and "moons/metrics.json" in page.read_text()
    listed = runner.invoke(app, ["index", "--out", str(moons_run)])  # later commands are never blocked
    assert listed.exit_code == 0 and "left out of index.html" in listed.stderr
    again = runner.invoke(app, ["moons", "--iters", "1", "--out", str(moons_run)])
    assert again.exit_code == 0 and "Two moons" in (moons_run / "index.html").read_text()


def test_a_fifo_where_a_summary_belongs_is_left_out_not_waited_on(moons_run):
    folder = moons_run / "sweep" / "moons"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "summary.json")
    page, warnings = write_index(moons_run)
    assert warnings == [f"{folder / 'summary.json'}: is a FIFO, not a file; left out of index.html"]
    assert "Two moons" in page.read_text()


@pytest.fixture
def sweep_run(tmp_path):
    done = runner.invoke(app, ["sweep", "moons", "seed=0-2", "hidden=10,50", "iters=50", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    return tmp_path


@pytest.mark.cluster
def test_a_summary_that_fits_the_schema_but_not_itself_never_blocks_a_command(sweep_run, monkeypatch):
    path = sweep_run / "sweep" / "moons" / "summary.json"
    summary = json.loads(path.read_text())
    del summary["groups"][0]["metrics"]["accuracy"]  # the case: a group without a declared metric
    path.write_text(json.dumps(summary))
    page, warnings = write_index(sweep_run)
    assert warnings == [] and "Sweep of moons" in page.read_text()
    summary["groups"][1]["metrics"]["error"]["ci95"] = []  # an interval is two numbers: the schema says so
    path.write_text(json.dumps(summary))
    _, warnings = write_index(sweep_run)
    assert len(warnings) == 1 and "groups.1.metrics.error.ci95" in warnings[0]

    def contradiction(summary):
        raise KeyError("accuracy")

    monkeypatch.setattr("nnlab.tables.sweep_comparisons_table", contradiction)
    path.write_text(json.dumps(json.loads(path.read_text()) | {"groups": summary["groups"][:1]}))
    assert runner.invoke(app, ["moons", "--iters", "2", "--out", str(sweep_run)]).exit_code == 0
    page, warnings = write_index(sweep_run)
    assert warnings == [f"{path}: cannot be shown (KeyError: 'accuracy'); left out of index.html"]
    assert "Two moons" in page.read_text() and "Sweep of moons" not in page.read_text()


def test_file_names_are_escaped(moons_run):
    hostile = 'a" onmouseover="alert(1).png'
    (moons_run / "moons" / hostile).write_bytes(b"")
    (moons_run / "moons" / "<script>x<\\script>.png").write_bytes(b"")
    page = render_index(moons_run)[0]
    assert 'onmouseover="alert' not in page and "<script>" not in page
    assert 'href="moons/a%22%20onmouseover%3D%22alert%281%29.png"' in page
    assert "a&quot; onmouseover=&quot;alert(1).png" in page


def test_names_that_are_not_utf8_do_not_break_the_index(moons_run):
    os.close(os.open(os.fsencode(moons_run / "moons") + b"/caf\xe9.png", os.O_CREAT | os.O_WRONLY))
    page, _ = write_index(moons_run)
    assert "caf\ufffd.png" in page.read_text(encoding="utf-8") and "caf%E9.png" in page.read_text()
    assert runner.invoke(app, ["index", "--out", str(moons_run)]).exit_code == 0
