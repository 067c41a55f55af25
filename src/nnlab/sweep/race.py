"""The decision logic of racing (F-Race, Birattari et al. 2002; irace, López-Ibáñez et al. 2016), with seed-paired
tests and a family-wise error bound over the whole race: metric values in, eliminations out. No Dask, no files.

The seeds are the race's rounds. A *look* happens when every surviving group has finished its first ``m`` seeds,
for ``m = min_seeds, min_seeds + 1, ..., len(seeds)`` (the planned looks). At a look, the leader is the surviving
group with the best mean over those seeds; every other survivor is compared with it by a one-sided paired t-test
over the seeds both finished ok. The leader is picked by the data, so a comparison with it is counted as one of
every pair of survivors: the paired t-tests' two-sided p-values (the one-sided p in the observed direction,
doubled) of all pairs are Holm-adjusted together, then multiplied by the number of planned looks (Bonferroni over
the looks: the level is split evenly over them). A group whose adjusted p-value against the leader is below
``alpha`` is eliminated and gets no further seeds. So the probability that any
group is eliminated while no group is worse than another stays at or below ``alpha`` over the whole race, every
look and every group included (tests/test_race.py checks it by simulation).

A group with a diverged trial among a look's seeds is worse than any group that learned: it is eliminated at that
look (unless every survivor diverged somewhere: then those with the fewest diverged trials go on). A failed trial
(no value) is missing: the race goes on with the seeds that have values. A look uses only the first ``m`` seeds of
each group, so the decisions depend on the trials' values alone, never on the order they arrived in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from nnlab.stats import holm, paired

Status = Literal["ok", "diverged", "failed"]


@dataclass(frozen=True)
class Observation:
    """One finished trial of a group: its status, and the raced metric's value when it finished ok."""

    status: Status
    value: float | None = None

    @property
    def usable(self) -> bool:
        return self.status == "ok" and self.value is not None and math.isfinite(self.value)


@dataclass(frozen=True)
class Rules:
    """How a race decides: its seeds (the rounds), its level over the whole race, where it first looks, and which
    way the metric is better."""

    seeds: int  # how many seeds each group may run
    min_seeds: int = 3
    alpha: float = 0.05
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if not 2 <= self.min_seeds <= self.seeds:
            raise ValueError(
                f"min_seeds must be between 2 and the number of seeds ({self.seeds}), not {self.min_seeds}"
            )
        if not 0 < self.alpha <= 0.5:
            raise ValueError(f"alpha must be in (0, 0.5], not {self.alpha}")

    @property
    def looks(self) -> int:
        """The planned looks: after min_seeds seeds, then after each further seed."""
        return self.seeds - self.min_seeds + 1


@dataclass
class GroupState:
    """Where one group stands in the race."""

    alive: bool = True
    eliminated_after: int | None = None  # the seeds of the look that eliminated it
    p_holm: float | None = None  # adjusted p-value of its last comparison with the leader
    mean: float | None = None  # its mean over the last look's seeds it finished ok
    reason: str = ""


@dataclass
class RaceState:
    """The race after every look the observations allow: each group's state, the seeds of the last look made,
    and whether the race is over."""

    groups: list[GroupState]
    looked: int = 0  # seeds of the last look made (0: none yet)
    leader: int | None = None
    finished: bool = False
    history: list[tuple[int, list[int]]] = field(default_factory=list)  # (seeds, groups eliminated at that look)

    @property
    def alive(self) -> list[int]:
        return [index for index, group in enumerate(self.groups) if group.alive]

    def status(self, index: int) -> Literal["leader", "tied", "eliminated"]:
        if not self.groups[index].alive:
            return "eliminated"
        return "leader" if index == self.leader else "tied"

    def wanted(self, index: int, rules: Rules, ahead: int = 1) -> int:
        """How many seeds group ``index`` should have run or running now: none more once eliminated or once the race
        is over; otherwise up to the next look, and ``ahead`` seeds beyond it, so that workers stay busy while
        the look waits for stragglers."""
        group = self.groups[index]
        if not group.alive:
            return group.eliminated_after or 0
        if self.finished:
            return self.looked
        next_look = max(rules.min_seeds, self.looked + 1)
        return min(rules.seeds, next_look + ahead)


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _better(a: float, b: float, rules: Rules) -> bool:
    return a > b if rules.higher_is_better else a < b


def _diverged(observations: Sequence[Observation]) -> int:
    return sum(obs.status == "diverged" for obs in observations)


def _look(state: RaceState, trials: Sequence[Sequence[Observation | None]], m: int, rules: Rules) -> None:
    """Make the look after ``m`` seeds: choose the leader, test the others against it, eliminate."""
    alive = state.alive
    seen = {index: [obs for obs in trials[index][:m] if obs is not None] for index in alive}
    fewest = min(_diverged(seen[index]) for index in alive)
    eliminated = []
    for index in alive:  # a diverged trial: worse than any group that learned
        if _diverged(seen[index]) > fewest:
            eliminated.append(index)
            state.groups[index].reason = f"{_diverged(seen[index])} of its first {m} trials diverged"
    contenders = [index for index in alive if index not in eliminated]
    values = {
        index: {seed: obs.value for seed, obs in enumerate(trials[index][:m]) if obs is not None and obs.usable}
        for index in contenders
    }
    means = {index: _mean(list(values[index].values())) for index in contenders}
    for index in contenders:
        state.groups[index].mean = means[index]
    ranked = [index for index in contenders if means[index] is not None]
    leader = ranked[0] if ranked else contenders[0]
    for index in ranked[1:]:
        if _better(means[index], means[leader], rules):  # type: ignore[arg-type]
            leader = index
    state.leader = leader
    others = [index for index in contenders if index != leader]
    adjusted = _leader_p_values(values, contenders, leader, rules)
    for index in others:
        p = adjusted[index]
        state.groups[index].p_holm = p
        if p < rules.alpha and _better(means[leader], means[index], rules):  # type: ignore[arg-type]
            eliminated.append(index)
            state.groups[index].reason = f"worse than the leader after {m} seeds (p Holm {p:.2g})"
    state.groups[leader].p_holm = None
    for index in eliminated:
        state.groups[index].alive = False
        state.groups[index].eliminated_after = m
    state.history.append((m, sorted(eliminated)))
    state.looked = m


def _leader_p_values(
    values: dict[int, dict[int, float]], contenders: list[int], leader: int, rules: Rules
) -> dict[int, float]:
    """Each contender's adjusted p-value against the leader. The leader is picked by the data, so its comparisons
    are counted as part of every pair of contenders: the paired t-tests' two-sided p-values (the one-sided p in
    the observed direction, doubled) of all pairs are Holm-adjusted together, then multiplied by the planned looks."""
    pairs = [(a, b) for position, a in enumerate(contenders) for b in contenders[position + 1 :]]
    adjusted = dict(zip(pairs, holm(_pair_p_values(values, pairs))))
    return {
        other: min(1.0, adjusted[(leader, other) if (leader, other) in adjusted else (other, leader)] * rules.looks)
        for other in contenders
        if other != leader
    }


def _pair_p_values(values: dict[int, dict[int, float]], pairs: list[tuple[int, int]]) -> list[float]:
    """The two-sided paired t-test's p-value of each pair over the seeds both have (stats.paired; 1 below two)."""
    found = []
    for a, b in pairs:
        shared = sorted(values[a].keys() & values[b].keys())
        p_value = paired([values[a][seed] for seed in shared], [values[b][seed] for seed in shared]).p_value
        found.append(1.0 if p_value is None else p_value)
    return found


def decide(trials: Sequence[Sequence[Observation | None]], rules: Rules) -> RaceState:
    """The race's state after every look that the finished trials allow. ``trials[g][s]`` is group ``g``'s trial
    with the race's ``s``-th seed: an Observation once it finished, None while it has not. Looks are made in order;
    a look waits until every surviving group has finished the look's seeds."""
    state = RaceState([GroupState() for _ in trials])
    if len(trials) < 2:
        state.finished = True
        state.leader = 0 if trials else None
        return state
    for m in range(rules.min_seeds, rules.seeds + 1):
        if any(len(trials[index]) < m or any(obs is None for obs in trials[index][:m]) for index in state.alive):
            break
        _look(state, trials, m, rules)
        if len(state.alive) == 1:
            break
    state.finished = len(state.alive) == 1 or state.looked == rules.seeds
    return state
