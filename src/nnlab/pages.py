"""Building blocks of the output folder's index.html: escaped text, percent-encoded links, tables and figures.
Every name is escaped: the page never runs a file's name."""

from __future__ import annotations

import html
import os
import urllib.parse

from nnlab.tables import Table


def text(value: str) -> str:
    """``value`` as HTML text; names that are not valid UTF-8 are shown with replacement characters."""
    return html.escape(value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), quote=True)


def link(relative: str) -> str:
    """``relative`` as a URL path, with every special character percent-encoded."""
    return urllib.parse.quote(os.fsencode(relative))


def html_table(data: Table) -> str:
    """A :class:`~nnlab.tables.Table` as an HTML table (the same one the terminal shows); one without rows is only
    its note."""
    if not data.rows and data.note:
        return f"<p>{text(data.note)}</p>"
    head = "".join(f'<th class="{c.align}">{text(c.header)}</th>' for c in data.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{c.align}">{text(cell)}</td>' for c, cell in zip(data.columns, row)) + "</tr>"
        for row in data.rows
    )
    note = f"<p>{text(data.note)}</p>" if data.note else ""
    return f"<table><caption>{text(data.title)}</caption><tr>{head}</tr>{body}</table>{note}"


def figure(relative: str, files: list[str], caption: str) -> str:
    """The image at ``relative`` with its caption, or nothing when it is not among ``files``."""
    if relative not in files:
        return ""
    caption = text(caption)
    return (
        f'<figure><img src="{link(relative)}" alt="{caption}"><figcaption>{text(relative)}: {caption}'
        "</figcaption></figure>"
    )
