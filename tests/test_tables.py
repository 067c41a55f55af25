"""tables.py: each table's columns, defined once for the terminal and the HTML page."""

import pytest

from nnlab import report
from nnlab.experiments.confidence import describe_classes
from nnlab.pages import html_table
from nnlab.schema import ComparisonSummary, GroupSummary, MetricSummary, SweepSummary
from nnlab.tables import sweep_comparisons_table, sweep_group_table


def _summary() -> SweepSummary:
    def metric(n, mean=None, ci=None):
        return MetricSummary(n=n, mean=mean, std=None if n < 2 else 0.01, ci95=ci)

    groups = [
        GroupSummary(
            settings={"hidden": 10},
            n=3,
            trials=4,
            diverged=1,
            failed=0,
            metrics={"error": metric(3, 0.1, [0.05, 0.15]), "accuracy": metric(1, 0.9)},
        ),
        GroupSummary(
            settings={"hidden": 50},
            n=0,
            trials=1,
            diverged=0,
            failed=1,
            metrics={"error": metric(0), "accuracy": metric(0)},
        ),
    ]
    comparisons = [
        ComparisonSummary(
            key="hidden",
            a=10,
            b=50,
            settings={},
            metric="accuracy",
            n_pairs=3,
            mean_difference=-0.05,
            ci95=[-0.08, -0.02],
            p_value=0.0123,
            p_holm=0.0246,
            family=2,
        )
    ]
    return SweepSummary(
        command="moons",
        keys=["hidden", "seed"],
        metrics=["error", "accuracy"],
        main_metrics=["accuracy"],
        groups=groups,
        comparisons=comparisons,
    )


def test_a_group_table_says_mean_interval_and_what_was_left_out():
    summary = _summary()
    table = sweep_group_table(summary, summary.groups[0])
    assert table.title == "hidden=10: 3 of 4 trials"
    assert [c.header for c in table.columns] == ["metric", "mean ± 95% CI", "std", "n"]
    assert table.rows == (("error", "0.1 ± 0.05", "0.01", "3"), ("accuracy", "0.9 (n = 1: no interval)", "–", "1"))
    assert table.note == "1 diverged: left out of the statistics"
    empty = sweep_group_table(summary, summary.groups[1])
    assert empty.rows[0][1] == "–" and empty.note == "1 failed: left out of the statistics"


def test_the_comparisons_table_shows_the_main_metrics():
    table = sweep_comparisons_table(_summary())
    assert table.rows == (("hidden", "10", "50", "accuracy", "3", "-0.05 ± 0.03", "0.012", "0.025 *"),)
    assert "Holm-adjusted over each metric's family of comparisons (accuracy: 2)" in table.note


def test_describe_classes():
    assert describe_classes({"4": 24}) == "all 24 are '4'"
    assert describe_classes({"4": 20, "7": 4}) == "20 × '4', 4 × '7'"


@pytest.mark.parametrize(
    ("change", "note"),
    [
        (lambda s: s.groups.__delitem__(1), "no comparisons: sweep a key over two or more values"),
        (lambda s: setattr(s.groups[0], "n", 0), "no comparisons: no trial finished ok"),
        (lambda s: None, "no comparisons: no two groups share a seed that finished ok in both"),
    ],
)
def test_no_comparisons_is_one_line_saying_why(capsys, change, note):
    summary = _summary()
    summary.comparisons.clear()
    change(summary)
    table = sweep_comparisons_table(summary)
    assert table.rows == () and table.note == note
    report.table(table)  # the line alone, not an empty table above it
    assert capsys.readouterr().out == f"{note}\n"
    assert html_table(table) == f"<p>{note}</p>"


def test_an_interval_past_its_metric_s_range_is_named_under_the_table():
    from scipy import stats

    from nnlab.experiment import Metric
    from nnlab.sweep.summary import metric_summary

    values = [0.0, 0.0, 0.01, 0.05]  # an error rate near 0: the t interval reaches below it
    error = metric_summary(values, Metric("error", "lower", 0.0), {}, "t")
    assert error.outside_range and error.ci95 == pytest.approx(
        list(stats.t.interval(0.95, 3, 0.015, stats.sem(values)))
    )
    assert error.note == "passes the range [0.0, inf]; use --interval bootstrap"
    summary = _summary()
    summary.groups[0].metrics["error"] = error
    table = sweep_group_table(summary, summary.groups[0])
    assert table.rows[0][1].endswith(" (!)")
    assert table.note.endswith("; (!) the interval of error passes the range [0.0, inf]; use --interval bootstrap")
    assert not metric_summary(values, Metric("error", "lower", 0.0), {}, "bootstrap").outside_range


def test_counts_are_singular_for_one():
    from nnlab.tables import counted

    assert [counted(n, "group") for n in (0, 1, 2)] == ["0 groups", "1 group", "2 groups"]
