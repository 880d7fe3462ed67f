"""The one kind of error a user can fix: printed as one line, exit status 2.

Every layer raises a subclass (a bad scenario file, a bad batch folder, a bad sweep file,
a bad option), so the command line catches one type and never shows a traceback for a
mistake in what the user handed it.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in a file, folder or option the user gave: one line, exit status 2."""


def one_line(text: str) -> str:
    """`text` with every non-printable character escaped (a newline becomes `\\n`).

    Error messages quote what the user handed us (a file name, a key, a value), and any of
    those may hold a newline, a tab or a null byte; escaping them keeps the message one line
    and keeps raw control bytes off the terminal.
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
