"""sweep.py without a cluster: the grid, trial ids, resuming, batching and the summary's statistics."""

import json
import os

import pytest

from nnlab import registry, stats
from nnlab.errors import ConfigError
from nnlab.schema import TrialRecord
from nnlab.sweep.cluster import batches
from nnlab.sweep.grid import DEFAULT_SEEDS, MAX_TRIALS, parse_grid, plan, trial_id, trials
from nnlab.sweep.grid import sweep_keys as keys_of_experiment
from nnlab.sweep.summary import summarise


def metric_names(command):
    return [metric.name for metric in registry.find(command).metrics]


def sweep_keys(command):
    return keys_of_experiment(registry.find(command))


def test_grid_types_values_and_ranges():
    grid = parse_grid(
        "mnist", ["dataset=mnist-5k", "model=linear,full,conv", "seed=0-3", "epochs=2", "lr=0.01,default"]
    )
    assert grid.axes == {
        "dataset": ("mnist-5k",),
        "model": ("linear", "full", "conv"),
        "epochs": (2,),
        "lr": (0.01, None),
        "seed": (0, 1, 2, 3),
    }
    assert grid.size == 24 and grid.group_keys == ["dataset", "model", "epochs", "lr"]
    assert parse_grid("moons", ["hidden=10,50"]).axes["seed"] == DEFAULT_SEEDS
    assert parse_grid("mnist", ["shuffle=true,no"]).axes["shuffle"] == (True, False)
    assert parse_grid("moons", ["noise=0.1,1e-3"]).axes["noise"] == (0.1, 0.001)
    assert parse_grid("mnist", ["train-size=100"]).axes["train_size"] == (100,)


@pytest.mark.parametrize(
    ("command", "assignments", "message"),
    [
        ("cifar", [], "unknown command 'cifar' to sweep; choose one of moons, mnist, confidence"),
        ("mnist", ["lrr=0.1"], "unknown key 'lrr' for a sweep of mnist; did you mean 'lr'?"),
        (
            "mnist",
            ["models=conv,full"],
            "models= cannot be swept: each mnist trial trains one model; use model=conv,full",
        ),
        ("moons", ["out=a,b"], "out= cannot be swept: it only says where files go"),
        ("moons", ["snapshots=1"], "snapshots= cannot be swept: trials draw no pictures"),
        ("confidence", ["checkpoint=a.pt"], "checkpoint= cannot be swept: each trial trains its own model"),
        ("mnist", ["lr=fast"], "lr=fast: 'fast' is not a number; lr takes numbers"),
        ("moons", ["hidden=ten"], "hidden=ten: 'ten' is not a number; hidden takes integers or ranges like 0-9"),
        ("moons", ["seed=0-x"], "seed=0-x: '0-x' is not a number"),
        ("mnist", ["lr=0.1-0.5"], "only integer keys take ranges like 0-9"),
        ("moons", ["seed=9-0"], "seed=9-0: the range 9-0 is reversed; write 0-9"),
        ("moons", ["seed="], "seed=: give at least one value, e.g. seed=0-4"),
        ("moons", ["seed=1,,2"], "seed=1,,2: an empty value between commas"),
        ("moons", ["seed=1,1"], "seed=1,1: a value repeats"),
        ("moons", ["seed=1", "seed=2"], "seed= is given twice"),
        ("moons", ["seed"], "'seed' is not KEY=VALUES"),
        ("mnist", ["lr=-1"], "lr=-1: -1.0 is not allowed; lr must be a finite number > 0 and <= 1e+09"),
        ("mnist", ["model=cnn"], "model=cnn: 'cnn' is not allowed; model must be one of linear, full, conv"),
        ("mnist", ["shuffle=maybe"], "shuffle=maybe: 'maybe' is not true or false"),
        ("moons", ["seed=0-10001"], "has more than 10000 values"),
        ("moons", ["seed=0-999", "hidden=1-11"], f"the grid has 11000 trials; a sweep runs at most {MAX_TRIALS}"),
    ],
)
def test_bad_grids_are_refused_naming_the_key(command, assignments, message):
    with pytest.raises(ConfigError) as error:
        parse_grid(command, assignments)
    assert message in str(error.value)
    assert error.value.exit_code == 2


def test_keys_come_from_the_commands_declarations():
    assert set(sweep_keys("moons")) == {"iters", "lr", "hidden", "samples", "noise", "seed"}
    mnist = sweep_keys("mnist")
    assert "model" in mnist and "models" not in mnist and "label_smoothing" in mnist and "out" not in mnist
    assert mnist["model"].choices == ("linear", "full", "conv")
    assert {"top", "model", "seed", "epochs"} <= set(sweep_keys("confidence"))


def test_a_preset_gives_fixed_settings(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('[mnist]\nepochs = 3\ndataset = "mnist-5k"\nout = "elsewhere"\n')
    grid = parse_grid("mnist", ["model=linear", "seed=0"], preset)
    (trial,) = trials(grid)
    assert trial.settings["epochs"] == 3 and trial.settings["dataset"] == "mnist-5k" and "out" not in trial.settings
    bad = tmp_path / "bad.toml"
    bad.write_text("[mnist]\nepochs = 0\n")
    with pytest.raises(ConfigError, match=r"\[mnist\]: key 'epochs' must be an integer >= 1"):
        parse_grid("mnist", ["model=linear"], bad)


def test_trial_ids_follow_every_setting_and_nothing_else():
    first = trials(parse_grid("moons", ["hidden=10,50", "seed=0-1"]))
    again = trials(parse_grid("moons", ["seed=0-1", "hidden=10,50"]))
    assert {t.id for t in first} == {t.id for t in again} and len({t.id for t in first}) == 4
    assert [t.swept for t in first] == [
        {"hidden": 10, "seed": 0},
        {"hidden": 10, "seed": 1},
        {"hidden": 50, "seed": 0},
        {"hidden": 50, "seed": 1},
    ]
    settings = dict(first[0].settings)
    assert trial_id("moons", settings) == first[0].id
    assert trial_id("moons", settings | {"lr": 0.5}) != first[0].id
    assert trial_id("mnist", settings) != first[0].id
    assert "out" not in settings and "snapshots" not in settings
    explicit = trials(parse_grid("moons", ["hidden=10", "seed=0", "iters=32"]))[0]
    assert explicit.id == first[0].id  # the default written out is the same trial


def _record(trial, status="ok", **metrics):
    return TrialRecord(
        trial=trial.id,
        command="moons",
        settings=trial.settings,
        swept=trial.swept,
        status=status,
        metrics=metrics,
        seconds=0.1,
    )


def test_resuming_skips_finished_trials_and_reruns_failed_or_untrusted_ones(tmp_path):
    grid = parse_grid("moons", ["hidden=10,50", "seed=0-2"])
    all_trials = trials(grid)
    folder = tmp_path / "trials"
    folder.mkdir()
    ok, diverged, failed, changed, corrupt = all_trials[:5]
    for trial, status in ((ok, "ok"), (diverged, "diverged"), (failed, "failed")):
        (folder / f"{trial.id}.json").write_text(json.dumps(_record(trial, status, accuracy=1.0, error=0.0).data()))
    other = _record(changed, "ok").data()
    other["settings"]["lr"] = 9.0  # a record that does not belong to this trial is not trusted
    (folder / f"{changed.id}.json").write_text(json.dumps(other))
    (folder / f"{corrupt.id}.json").write_text("{not json")
    resumed = plan(grid, folder)
    assert set(resumed.finished) == {ok.id, diverged.id}
    assert [t.id for t in resumed.pending] == [t.id for t in all_trials if t.id not in {ok.id, diverged.id}]
    assert plan(grid, folder, fresh=True).finished == {}
    extended = plan(parse_grid("moons", ["hidden=10,50", "seed=0-5"]), folder)
    assert set(extended.finished) == {ok.id, diverged.id} and len(extended.pending) == 10


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda data: data["metrics"].clear(), "status ok but no accuracy"),
        (lambda data: data["metrics"].update(accuracy=7.5), "accuracy 7.5 is outside what it can be"),
        (lambda data: data["metrics"].update(error=-1.0), "error -1.0 is outside what it can be"),
        (lambda data: data.update(trial="0" * 16), "its settings are not the trial's"),
        (lambda data: data.update(status="maybe"), "not a valid nnlab metrics file (status"),
    ],
)
def test_a_record_that_does_not_fit_its_trial_is_rerun_with_a_warning_naming_it(tmp_path, change, problem):
    grid = parse_grid("moons", ["seed=0-1"])
    first, second = trials(grid)
    for trial in (first, second):
        data = _record(trial, accuracy=1.0, error=0.0).data()
        if trial is first:
            change(data)
        (tmp_path / f"{trial.id}.json").write_text(json.dumps(data))
    found = plan(grid, tmp_path)
    assert list(found.finished) == [second.id]
    assert len(found.warnings) == 1 and problem in found.warnings[0] and first.id in found.warnings[0]


def test_a_fifo_where_a_record_belongs_is_rerun_not_waited_on(tmp_path):
    grid = parse_grid("moons", ["seed=0-1"])
    first, second = trials(grid)
    os.mkfifo(tmp_path / f"{first.id}.json")
    (tmp_path / f"{second.id}.json").write_text(json.dumps(_record(second, accuracy=1.0, error=0.0).data()))
    found = plan(grid, tmp_path)
    assert list(found.finished) == [second.id]
    assert len(found.warnings) == 1 and f"{first.id}.json: is a FIFO, not a file" in found.warnings[0]


def test_a_record_without_its_swept_values_takes_the_trials(tmp_path):
    grid = parse_grid("moons", ["seed=0-1"])
    first = trials(grid)[0]
    data = _record(first, accuracy=1.0, error=0.0).data()
    data["swept"] = {}  # an earlier, hand-edited or older record: the summary needs the seed
    (tmp_path / f"{first.id}.json").write_text(json.dumps(data))
    found = plan(grid, tmp_path)
    assert found.finished[first.id].swept == {"seed": 0} and found.warnings == []
    summarise(grid, found.trials, found.finished)  # no KeyError


def test_a_trial_computed_from_other_data_is_rerun_and_the_data_said(tmp_path):
    grid = parse_grid("mnist", ["dataset=mnist-5k", "model=linear", "seed=0-1"])
    first, second = trials(grid)
    found = plan(grid, tmp_path)
    assert [used.summary.split(":")[0] for used in found.data] == ["mnist-5k"]
    identity = found.data[0].identity
    for trial, data in ((first, "mnist-5k: 4000 training and 1000 test images, crc32 00000000"), (second, identity)):
        record = _record(trial, train_accuracy=1.0, test_accuracy=1.0, test_accuracy_all=1.0, fit_seconds=1.0)
        record = record.model_copy(update={"command": "mnist", "data_identity": data})
        (tmp_path / f"{trial.id}.json").write_text(json.dumps(record.data()))
    resumed = plan(grid, tmp_path)
    assert list(resumed.finished) == [second.id]
    assert (
        "computed from other data (mnist-5k: 4000 training and 1000 test images, crc32 00000000)"
        in (resumed.warnings[0])
    )


def test_batches_start_the_longest_trials_first():
    mnist = trials(parse_grid("mnist", ["model=linear,conv,full", "seed=0-1"]))
    order = [
        batch[0].settings["models"][0] for batch in batches(parse_grid("mnist", ["model=linear"]), mnist, workers=2)
    ]
    assert order == ["conv", "conv", "full", "full", "linear", "linear"]
    moons = trials(parse_grid("moons", ["seed=0-99", "hidden=10,50,200"]))
    grouped = batches(parse_grid("moons", []), moons, workers=2)
    assert len(grouped) == 16 and sorted(t.id for b in grouped for t in b) == sorted(t.id for t in moons)
    assert grouped[0][0].settings["hidden"] == 200


def test_summary_groups_and_paired_comparisons():
    grid = parse_grid("moons", ["hidden=10,50", "seed=0-3"])
    all_trials = trials(grid)
    accuracy = {
        (10, 0): 0.90,
        (10, 1): 0.92,
        (10, 2): 0.91,
        (10, 3): 0.5,
        (50, 0): 0.97,
        (50, 1): 0.99,
        (50, 2): 0.98,
        (50, 3): 0.99,
    }
    records = {}
    for trial in all_trials:
        key = (trial.swept["hidden"], trial.swept["seed"])
        status = "diverged" if key == (10, 3) else "failed" if key == (50, 2) else "ok"
        records[trial.id] = _record(trial, status, error=0.1, accuracy=accuracy[key], zero_error_iteration=None)
    summary = summarise(grid, all_trials, records)
    assert summary.keys == ["hidden", "seed"] and summary.metrics == metric_names("moons")
    small, large = summary.groups
    assert (small.settings, small.n, small.trials, small.diverged, small.failed) == ({"hidden": 10}, 3, 4, 1, 0)
    assert (large.n, large.failed) == (3, 1)
    expected = stats.estimate([0.90, 0.92, 0.91])
    assert small.metrics["accuracy"].mean == pytest.approx(expected.mean)
    assert small.metrics["accuracy"].ci95 == pytest.approx(list(expected.ci95))
    assert small.metrics["zero_error_iteration"].n == 0 and small.metrics["zero_error_iteration"].mean is None
    (comparison,) = [c for c in summary.comparisons if c.metric == "accuracy"]
    assert (comparison.key, comparison.a, comparison.b, comparison.n_pairs) == ("hidden", 10, 50, 2)  # seeds 0 and 1
    reference = stats.paired([0.90, 0.92], [0.97, 0.99])
    assert comparison.mean_difference == pytest.approx(reference.mean_difference)
    assert comparison.p_value == reference.p_value and comparison.test == "paired t"
    assert not [c for c in summary.comparisons if c.metric == "zero_error_iteration"]  # no values, no comparison


def test_one_trial_per_group_has_no_interval():
    grid = parse_grid("moons", ["hidden=10,50", "seed=0"])
    all_trials = trials(grid)
    records = {t.id: _record(t, error=0.0, accuracy=1.0, zero_error_iteration=5) for t in all_trials}
    summary = summarise(grid, all_trials, records)
    assert summary.groups[0].metrics["accuracy"].ci95 is None and summary.groups[0].n == 1
    assert all(c.ci95 is None and c.p_value is None and c.n_pairs == 1 for c in summary.comparisons)


def test_the_local_cluster_has_no_more_workers_than_cores_or_memory(monkeypatch):
    import types

    import psutil

    from nnlab.sweep import cluster

    monkeypatch.setattr(cluster, "default_workers", lambda: 2)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: types.SimpleNamespace(available=3 << 30))
    assert cluster.local_workers(None, 1 << 30) == (2, "")
    assert cluster.local_workers(1, 1 << 30) == (1, "")
    count, why = cluster.local_workers(500, 1 << 30)
    assert count == 2 and why == "more than the 2 CPU cores here (each worker runs one trial at a time on one core)"
    monkeypatch.setattr(cluster, "default_workers", lambda: 16)
    count, why = cluster.local_workers(None, 1 << 30)
    assert count == 3 and why == "the 3.0 GB of memory available hold about 3 workers of 1.0 GB each"
    monkeypatch.setattr(psutil, "virtual_memory", lambda: types.SimpleNamespace(available=1 << 20))
    assert cluster.local_workers(4, 1 << 30)[0] == 1  # always one
