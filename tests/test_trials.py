"""trials.py: one trial as a worker runs it, returning plain data; failures are results, not exceptions."""

import pytest
import torch
from idx_helpers import write_idx_folder

from nnlab import registry
from nnlab.sweep.grid import parse_grid, trials
from nnlab.trials import run_trial, run_trials


@pytest.fixture
def one_thread_restored():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def metric_names(command):
    return [metric.name for metric in registry.find(command).metrics]


def settings_of(command, *assignments):
    (trial,) = trials(parse_grid(command, ["seed=0", *assignments]))
    return trial.settings


def test_a_moons_trial_reports_the_commands_metrics():
    result = run_trial("moons", settings_of("moons"))
    assert result["status"] == "ok" and result["reason"] == "" and set(result["metrics"]) == set(metric_names("moons"))
    assert result["metrics"]["accuracy"] == 1.0 and result["metrics"]["zero_error_iteration"] is not None
    assert result["seconds"] > 0 and ":" in result["worker"]
    assert run_trials("moons", [settings_of("moons")] * 2)[1]["metrics"] == result["metrics"]  # reproducible


def test_divergence_and_failure_are_results():
    diverged = run_trial("moons", settings_of("moons", "lr=1000"))
    assert diverged["status"] == "diverged" and "the error exploded" in diverged["reason"] and diverged["metrics"] == {}
    broken = run_trial("moons", {"iters": -1})
    assert broken["status"] == "failed" and broken["reason"].startswith("SettingError: iters must be")


def test_mnist_and_confidence_trials_train_one_model_on_one_thread(tmp_path, one_thread_restored):
    write_idx_folder(tmp_path, n_train=100, n_test=40)
    mnist = run_trial("mnist", settings_of("mnist", "model=linear", "epochs=1", f"data_dir={tmp_path}"))
    assert mnist["status"] == "ok", mnist["reason"]
    assert set(mnist["metrics"]) == set(metric_names("mnist")) and torch.get_num_threads() == 1
    assert mnist["source"].startswith("MNIST IDX files in")
    confidence = run_trial(
        "confidence", settings_of("confidence", "model=linear", "epochs=1", "top=4", f"data_dir={tmp_path}")
    )
    assert confidence["status"] == "ok", confidence["reason"]
    metrics = confidence["metrics"]
    assert set(metrics) == set(metric_names("confidence"))
    assert sum(metrics[f"top_{d}"] for d in range(10)) == 4 == sum(metrics[f"bottom_{d}"] for d in range(10))
    missing = run_trial("mnist", settings_of("mnist", "model=linear", f"data_dir={tmp_path / 'none'}"))
    assert missing["status"] == "failed" and missing["reason"].startswith("DataError: data_dir")
