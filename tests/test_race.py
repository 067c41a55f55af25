"""The race's decision logic (sweep/race.py), by simulation and by case: the family-wise error over a whole race
stays at or below alpha, a better group survives, and ties, constants, failed and diverged trials are handled."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlab.sweep.race import Observation, Rules, decide

GROUPS, SEEDS = 6, 10


def ok(values) -> list[Observation]:
    return [Observation("ok", float(value)) for value in values]


def simulate(shift: float, correlation: float, races: int, seed: int, rules: Rules | None = None):
    """Races of GROUPS groups over SEEDS seeds; group 0 is better by ``shift`` standard deviations of a group's
    spread over seeds, of which the share ``correlation`` is a seed's effect that every group shares (the same seed
    gives the same data split and start). Returns (share of races that eliminated any group, share where group 0
    survived, trials used as a share of the grid)."""
    rules = rules or Rules(SEEDS)
    rng = np.random.default_rng(seed)
    eliminated = survived = used = 0
    for _ in range(races):
        shared = rng.normal(0, 1, SEEDS) * math.sqrt(correlation)
        values = shared[None, :] + rng.normal(0, 1, (GROUPS, SEEDS)) * math.sqrt(1 - correlation)
        values[0] += shift
        state = decide([ok(row) for row in values], rules)
        eliminated += any(not group.alive for group in state.groups)
        survived += state.groups[0].alive
        used += sum(group.eliminated_after or SEEDS for group in state.groups)
    return eliminated / races, survived / races, used / (races * GROUPS * SEEDS)


@pytest.mark.slow
@pytest.mark.parametrize(("correlation", "races"), [(0.0, 2000), (0.9, 1000)])
def test_identical_groups_are_eliminated_in_at_most_alpha_of_races(correlation, races):
    alpha = 0.05
    any_eliminated, _, used = simulate(0.0, correlation, races, seed=1)
    error = math.sqrt(alpha * (1 - alpha) / races)
    assert any_eliminated <= alpha + 2 * error
    assert used > 0.95  # nothing to stop: nearly the whole grid


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [0.01, 0.2])
def test_the_race_level_follows_alpha(alpha):
    any_eliminated, _, _ = simulate(0.0, 0.0, 500, seed=2, rules=Rules(SEEDS, alpha=alpha))
    assert any_eliminated <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / 500)


@pytest.mark.slow
def test_a_better_group_survives_and_the_race_saves_trials():
    # One standard deviation better, seeds sharing 90% of the spread: the group survives, the others mostly go.
    # (A t-test over 3-4 differences at alpha / (looks x pairs) stops only plain differences: README says so.)
    _, survived, used = simulate(1.0, 0.9, 400, seed=3)
    assert survived >= 0.95
    assert used <= 0.85
    # Five standard deviations better (a plainly worse learning rate): the race spends about half of the grid.
    _, survived, used = simulate(5.0, 0.9, 400, seed=4)
    assert survived >= 0.95
    assert used <= 0.52


def test_a_plainly_worse_group_is_eliminated_at_the_first_look_and_the_leader_kept():
    state = decide([ok([0.95, 0.96, 0.94, 0.95]), ok([0.50, 0.52, 0.49, 0.51])], Rules(4))
    assert state.status(0) == "leader"
    assert state.status(1) == "eliminated"
    assert state.groups[1].eliminated_after == 3
    assert state.groups[1].p_holm < 0.05
    assert state.finished  # one group left


def test_lower_is_better_follows_the_declared_direction():
    state = decide([ok([0.5, 0.52, 0.49]), ok([0.05, 0.06, 0.04])], Rules(3, higher_is_better=False))
    assert state.status(1) == "leader"
    assert state.status(0) == "eliminated"


def test_ties_and_constant_metrics_eliminate_nothing():
    same = decide([ok([0.9, 0.8, 0.7]), ok([0.9, 0.8, 0.7]), ok([0.9, 0.8, 0.7])], Rules(3))
    assert [same.status(i) for i in range(3)] == ["leader", "tied", "tied"]  # the first of equals leads
    assert all(group.p_holm in (None, 1.0) for group in same.groups)
    constant = decide([ok([1.0] * 5), ok([1.0] * 5)], Rules(5))
    assert constant.alive == [0, 1]
    assert constant.finished and constant.looked == 5


def test_the_race_waits_for_a_looks_seeds_and_wants_the_next_ones_meanwhile():
    rules = Rules(6)
    waiting = decide([[*ok([0.9, 0.9]), None], ok([0.5, 0.5, 0.5])], rules)
    assert waiting.looked == 0 and not waiting.finished
    assert waiting.wanted(0, rules, ahead=1) == 4  # the first look's three seeds and one ahead
    assert waiting.wanted(1, rules, ahead=2) == 5


def test_a_failed_trial_is_missing_and_the_race_goes_on():
    failed = Observation("failed")
    state = decide([[*ok([0.95, 0.96]), failed, *ok([0.95])], ok([0.50, 0.52, 0.49, 0.51])], Rules(4))
    assert state.looked == 3
    assert state.status(1) == "eliminated"  # compared over the two seeds both finished at the first look


def test_a_group_whose_trials_diverge_is_worse_than_any_that_learns():
    diverged = Observation("diverged")
    state = decide([ok([0.30, 0.31, 0.29]), [diverged, *ok([0.99, 0.99])], ok([0.31, 0.29, 0.30])], Rules(5))
    assert state.status(1) == "eliminated"
    assert "diverged" in state.groups[1].reason
    assert state.groups[1].eliminated_after == 3
    all_diverge = decide([[diverged] * 3, [diverged] * 3], Rules(3))
    assert all_diverge.alive == [0, 1]  # none learned: none is worse than another


def test_decisions_depend_on_values_not_on_what_else_has_finished():
    rules = Rules(5)
    early = decide([ok([0.9, 0.91, 0.92]), ok([0.5, 0.5, 0.51])], rules)
    late = decide([[*ok([0.9, 0.91, 0.92]), None, *ok([0.1])], ok([0.5, 0.5, 0.51, 0.52])], rules)
    assert [early.status(i) for i in range(2)] == [late.status(i) for i in range(2)]
    assert early.groups[1].p_holm == late.groups[1].p_holm


@pytest.mark.parametrize(("kwargs", "message"), [({"min_seeds": 1}, "min_seeds"), ({"alpha": 0.6}, "alpha")])
def test_rules_refuse_what_the_race_cannot_hold(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Rules(5, **kwargs)
