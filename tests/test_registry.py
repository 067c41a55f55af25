"""The experiment registry: an experiment defined in tests/ alone (toy_experiment.py), with no change under src/,
gets a command with --help, a preset table, `nnlab sweep toy seed=0-4` with its statistics, and its part of
index.html; a module that cannot be loaded is a warning, never a broken nnlab."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nnlab import cli, registry

TOY = Path(__file__).with_name("toy_experiment.py")


@pytest.fixture
def toy_app(monkeypatch):
    monkeypatch.setenv(registry.ENVIRONMENT, "toy_experiment")
    registry.reload()
    yield cli.build_app()
    monkeypatch.delenv(registry.ENVIRONMENT)
    registry.reload()


def test_the_built_in_experiments_are_registered_in_order():
    assert registry.names() == ["moons", "mnist", "confidence"]
    assert all(experiment.main_metrics for experiment in registry.experiments())


def test_a_toy_experiment_gets_a_command_with_help_and_a_preset_table(toy_app, tmp_path):
    runner = CliRunner()
    shown = runner.invoke(toy_app, ["toy", "--help"], terminal_width=200)
    assert shown.exit_code == 0 and "Draw a score from the seed." in shown.stdout
    assert "--seed" in shown.stdout and "Seed of the draw. (default: 0)" in shown.stdout and "Toy" in shown.stdout
    assert "toy" in runner.invoke(toy_app, ["--help"]).stdout
    swept = " ".join(runner.invoke(toy_app, ["sweep", "--help"]).stdout.replace("│", " ").split())  # unwrapped
    assert "The command to sweep: moons, mnist, confidence, toy." in swept
    preset = tmp_path / "preset.toml"
    preset.write_text("[toy]\nseed = 3\n[moons]\niters = 2\n")
    done = runner.invoke(toy_app, ["toy", "--config", str(preset), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "out" / "toy" / "toy.json").read_text())["seed"] == 3
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<h2>Toy</h2>" in page and "the toy&#x27;s score" in page
    preset.write_text("[toy]\nsede = 3\n")
    wrong = runner.invoke(toy_app, ["toy", "--config", str(preset)])
    assert wrong.exit_code == 2 and "unknown key 'sede'; did you mean 'seed'?" in wrong.stderr
    bad = runner.invoke(toy_app, ["toy", "--seed", "5000"])
    assert bad.exit_code == 2 and bad.stderr.strip() == "error: --seed 5000: must be an integer >= 0 and <= 1000"


@pytest.mark.cluster
def test_a_toy_experiment_is_swept_with_statistics_and_indexed(toy_app, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(toy_app, ["sweep", "toy", "seed=0-4", "--workers", "1", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "sweep of toy: 5 trials; 0 finished earlier, running 5 on a local cluster of 1 worker\n" in result.stdout
    summary = json.loads((out / "sweep" / "toy" / "summary.json").read_text())
    import random

    scores = [random.Random(seed).random() for seed in range(5)]
    from scipy import stats

    stat = summary["groups"][0]["metrics"]["score"]
    assert stat["n"] == 5 and stat["mean"] == pytest.approx(sum(scores) / 5)
    expected = stats.t.interval(0.95, 4, loc=sum(scores) / 5, scale=stats.sem(scores))
    assert stat["ci95"] == pytest.approx(list(expected))
    assert len(list((out / "sweep" / "toy" / "trials").glob("*.json"))) == 5
    page = (out / "index.html").read_text()
    assert "Sweep of toy: 5 trials in 1 group" in page and "score" in page


def test_a_module_that_cannot_be_loaded_is_a_warning(monkeypatch):
    monkeypatch.setenv(registry.ENVIRONMENT, "no_such_module_here, toy_experiment")
    try:
        assert registry.reload()[-1].name == "toy"
        expected = "cannot load the experiment module 'no_such_module_here' (ModuleNotFoundError: No module named"
        assert registry.problems() == [f"{registry.ENVIRONMENT}: {expected} 'no_such_module_here')"]
    finally:
        monkeypatch.delenv(registry.ENVIRONMENT)
        registry.reload()


def test_the_toy_is_a_small_module():
    assert len(TOY.read_text().splitlines()) <= 60
