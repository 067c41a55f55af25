"""outputs.py and the experiments' writers: each command's files as one set; an interrupted mnist keeps its finished
models apart."""

import json

import pytest
from idx_helpers import write_idx_folder

from nnlab import outputs
from nnlab.data import load_dataset
from nnlab.errors import Stopped
from nnlab.experiments import mnist as mnist_experiment
from nnlab.schema import TrialRecord
from nnlab.settings import MnistSettings
from nnlab.sweep.grid import parse_grid, trials


def test_an_interrupted_mnist_keeps_finished_models_in_their_own_set(tmp_path, monkeypatch):
    write_idx_folder(tmp_path / "data", n_train=60, n_test=20)
    dataset = load_dataset("mnist", tmp_path / "data")
    (tmp_path / "out" / "mnist").mkdir(parents=True)
    (tmp_path / "out" / "mnist" / "metrics.json").write_text('{"earlier": true}')
    from nnlab import mnist

    real = mnist.run_mnist

    def interrupted_after_the_first(settings, dataset, progress=None, on_model_done=None):
        real(settings.model_copy(update={"models": settings.models[:1]}), dataset, on_model_done=on_model_done)
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist, "run_mnist", interrupted_after_the_first)
    settings = MnistSettings(models=("linear", "conv"), epochs=1, device="cpu", out=str(tmp_path / "out"))
    with pytest.raises(Stopped) as stopped:
        mnist_experiment.write(settings, dataset)
    partial = tmp_path / "out" / "mnist-partial"
    assert stopped.value.kept == f"kept the checkpoints of finished models in {partial}: linear.pt"
    assert not stopped.value.terminated
    assert sorted(p.name for p in partial.iterdir()) == ["linear.pt", "metrics.json"]
    record = json.loads((partial / "metrics.json").read_text())
    assert record["status"] == "interrupted" and list(record["models"]) == ["linear"]
    assert [p.name for p in (tmp_path / "out" / "mnist").iterdir()] == ["metrics.json"]  # as it was, no temporaries


def test_trials_csv_is_tidy_data():
    grid = parse_grid("moons", ["hidden=10,50", "seed=0"])
    records = [
        TrialRecord(
            trial=t.id,
            command="moons",
            settings=t.settings,
            swept=t.swept,
            status=status,
            metrics=metrics,
            seconds=0.5,
            worker="host:1",
            reason=reason,
        )
        for t, (status, metrics, reason) in zip(
            trials(grid),
            [
                ("ok", {"error": 0.0, "accuracy": 1.0, "zero_error_iteration": None}, ""),
                ("failed", {}, "ValueError: no, really"),
            ],
        )
    ]
    text = outputs.trials_csv(grid, ["error", "accuracy", "zero_error_iteration"], list(zip(trials(grid), records)))
    lines = text.splitlines()
    assert lines[0] == "trial,hidden,seed,status,error,accuracy,zero_error_iteration,seconds,worker,reason"
    assert lines[1].endswith(",10,0,ok,0.0,1.0,,0.500,host:1,")
    assert lines[2].endswith(',50,0,failed,,,,0.500,host:1,"ValueError: no, really"')
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["status"] for row in rows] == ["ok", "failed"]
    assert rows[0]["zero_error_iteration"] == "" and float(rows[0]["accuracy"]) == 1.0  # never the text "None"
