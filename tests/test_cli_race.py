"""`nnlab sweep --race` and `--until-ci` end to end on loopback: what is refused before anything starts, a moons race
that eliminates a plainly worse setting with fewer trials than the grid, Ctrl-C mid-race and a resume reaching the
same decisions, a race on an external `dask scheduler`, and seeds added until an interval is narrow enough."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess

import pytest
from gated_experiment import GATED, open_gate
from test_cli_sweep import assert_refused, gated, metrics_by_trial, nnlab, wait_for_files

RACE = ["moons", "hidden=1,50", "seed=0-9", "--race"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["moons", "seed=0-9", "--race"], "--race needs at least two groups to race"),
        (["moons", "hidden=1,50", "seed=0-1", "--race"], "--min-seeds 3 is more than the 2 seeds of the grid"),
        ([*RACE, "--min-seeds", "1"], "--min-seeds 1: must be an integer >= 2"),
        ([*RACE, "--min-seeds", "11"], "--min-seeds 11 is more than the 10 seeds of the grid"),
        ([*RACE, "--alpha", "0.6"], "--alpha 0.6: must be a finite number > 0 and <= 0.5"),
        ([*RACE, "--alpha", "0"], "--alpha 0.0: must be a finite number > 0"),
        ([*RACE, "--race-metric", "acuracy"], "moons has no metric 'acuracy'; did you mean 'accuracy'?"),
        (["moons", "hidden=1,50", "--until-ci", "0"], "--until-ci 0.0: must be a finite number > 0"),
        ([*RACE, "--until-ci", "0.01"], "--until-ci 0.01: must be left out with --race"),
        (["moons", "--interval", "normal"], "--interval 'normal'"),
    ],
)
def test_a_race_the_grid_cannot_hold_is_refused_before_anything_starts(tmp_path, args, message):
    assert_refused(tmp_path, args, message)


def race_of(out, command: str = "moons") -> dict:
    summary = json.loads((out / "sweep" / command / "summary.json").read_text())
    return summary["race"] | {"trials": sorted(summary["trials"])}


def decisions(race: dict) -> list[tuple]:
    return [(g["settings"], g["status"], g["eliminated_after"], g["p_holm"]) for g in race["groups"]]


@pytest.mark.cluster
def test_a_moons_race_eliminates_the_worse_setting_with_fewer_trials(tmp_path, nnlab_command):
    out = tmp_path / "out"
    done = nnlab(nnlab_command, *RACE, "--workers", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    race = race_of(out)
    assert {key: race[key] for key in ("metric", "alpha", "min_seeds", "looks", "grid_trials")} == {
        "metric": "accuracy",
        "alpha": 0.05,
        "min_seeds": 3,
        "looks": 8,
        "grid_trials": 20,
    }
    one, fifty = race["groups"]
    assert one["status"] == "eliminated" and one["eliminated_after"] == 3 and one["p_holm"] < 0.05
    assert fifty["status"] == "leader" and fifty["p_holm"] is None
    assert race["trials_run"] == one["seeds"] + fifty["seeds"] < 20
    rows = list(csv.DictReader((out / "sweep" / "moons" / "trials.csv").open()))
    assert len(rows) == race["trials_run"] == len(list((out / "sweep" / "moons" / "trials").glob("*.json")))
    assert f"ran {race['trials_run']} of 20 trials" in done.stdout and "eliminated after 3 seeds" in done.stdout
    assert "eliminated after 3 seeds" in (out / "index.html").read_text()
    again = nnlab(nnlab_command, *RACE, "--workers", "2", "--out", str(out))  # resume: nothing left to run
    assert again.returncode == 0 and f"{race['trials_run']} finished earlier" in again.stdout
    assert race_of(out) == race


@pytest.mark.cluster
def test_ctrl_c_mid_race_resumes_to_the_same_decisions(tmp_path, nnlab_command, spawn):
    # shift=0 is eliminated at the first look; 0.5 and 0.51 cannot be told apart, so the race runs all their seeds.
    # Nine trials finish (the first to start, whichever they are), then the others wait: Ctrl-C then.
    gate, out = tmp_path / "gate", tmp_path / "out"
    grid = [*gated(gate, "shift=0,0.5,0.51", "seed=0-19", "free=9"), "--race", "--workers", "2"]
    process = spawn(
        [*nnlab_command, "sweep", *grid, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **GATED},
    )
    trials = out / "sweep" / "gated" / "trials"
    wait_for_files(trials, "*.json", count=9)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and f"kept the 9 trials finished in {trials}; run the same" in stderr, stderr
    open_gate(gate)
    whole = nnlab(nnlab_command, *grid, "--out", str(tmp_path / "whole"), env=GATED)
    assert whole.returncode == 0, whole.stderr
    resumed = nnlab(nnlab_command, *grid, "--out", str(out), env=GATED)
    assert resumed.returncode == 0 and "9 finished earlier" in resumed.stdout
    race = race_of(out, "gated")
    assert decisions(race) == decisions(race_of(tmp_path / "whole", "gated"))
    assert race["groups"][0]["status"] == "eliminated" and race["groups"][0]["eliminated_after"] < 20
    resumed_metrics = metrics_by_trial(out / "sweep" / "gated")
    whole_metrics = metrics_by_trial(tmp_path / "whole" / "sweep" / "gated")
    assert resumed_metrics.keys() == whole_metrics.keys() and resumed_metrics == whole_metrics


@pytest.mark.cluster
def test_a_race_runs_on_an_external_scheduler_with_the_local_decisions(tmp_path, nnlab_command, dask_cluster):
    address, _ = dask_cluster
    remote = nnlab(nnlab_command, *RACE, "--scheduler", address, "--out", str(tmp_path / "remote"))
    assert remote.returncode == 0, remote.stderr
    local = nnlab(nnlab_command, *RACE, "--workers", "2", "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    assert decisions(race_of(tmp_path / "remote")) == decisions(race_of(tmp_path / "local"))
    shared = metrics_by_trial(tmp_path / "remote" / "sweep" / "moons").keys()
    local_metrics = metrics_by_trial(tmp_path / "local" / "sweep" / "moons")
    remote_metrics = metrics_by_trial(tmp_path / "remote" / "sweep" / "moons")
    assert all(remote_metrics[trial] == local_metrics[trial] for trial in shared & local_metrics.keys())


@pytest.mark.cluster
def test_until_ci_adds_seeds_until_the_interval_is_narrow_enough(tmp_path, nnlab_command):
    out = tmp_path / "out"
    args = ["moons", "hidden=10,50", "noise=0.2", "seed=0-19", "--until-ci", "0.03", "--workers", "2"]
    done = nnlab(nnlab_command, *args, "--out", str(out), env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "sweep" / "moons" / "summary.json").read_text())
    precision = summary["precision"]
    assert precision["metric"] == "accuracy" and precision["half_width"] == 0.03
    for entry, group in zip(precision["groups"], summary["groups"]):
        assert entry["settings"] == group["settings"]
        assert entry["reached"] == (entry["half_width"] <= 0.03)
        if entry["reached"]:
            assert entry["seeds"] >= 3 and group["metrics"]["accuracy"]["n"] == entry["seeds"]
            low, high = group["metrics"]["accuracy"]["ci95"]
            assert (high - low) / 2 <= 0.03
    assert precision["trials_run"] == sum(entry["seeds"] for entry in precision["groups"]) < 40
    assert f"ran {precision['trials_run']} of 40 trials" in done.stdout
    page = (out / "index.html").read_text()
    assert "95% half-width is at most 0.03" in page


def test_race_summary_keys_are_what_the_issue_promises():
    from nnlab.schema import RaceGroup, RaceSummary

    assert {"metric", "alpha", "min_seeds", "trials_run", "grid_trials", "groups"} <= RaceSummary.model_fields.keys()
    assert {"settings", "status", "seeds", "p_holm"} <= RaceGroup.model_fields.keys()
