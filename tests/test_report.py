"""Terminal output: plain text never read as markup, and quiet once the reader has gone."""

import io

from nnlab import report
from nnlab.report import QuietWhenGone
from nnlab.tables import Column, Table


def test_user_text_is_printed_as_it_is(capsys):
    report.error("a path with [bold]markup[/] and [/] in it")
    report.warning("[mnist] stays")
    report.table(Table("[red]title", (Column("[x]", "left"),), (("[/]",),)))
    captured = capsys.readouterr()
    assert captured.err == "error: a path with [bold]markup[/] and [/] in it\nwarning: [mnist] stays\n"
    assert "[red]title" in captured.out and "[x]" in captured.out and "[/]" in captured.out


class _Gone(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_or_stream_falls_silent():
    gone = _Gone()
    stream = QuietWhenGone(lambda: gone)
    assert stream.write("lost") == 4 and stream.gone
    stream.flush()
    closed = io.StringIO()
    closed.close()
    assert QuietWhenGone(lambda: closed).write("x") == 1
    assert QuietWhenGone(lambda: None).write("x") == 1  # `nnlab moons >&-`: Python has no sys.stdout
    kept = io.StringIO()
    assert QuietWhenGone(lambda: kept).write("kept") == 4 and kept.getvalue() == "kept"
