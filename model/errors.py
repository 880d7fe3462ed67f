"""The one kind of error a user can fix: printed as one line, exit status 2.

Every layer raises a subclass (a bad scenario file, a bad batch folder, a bad sweep file,
a bad option), so the command line catches one type and never shows a traceback for a
mistake in what the user handed it.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in a file, folder or option the user gave: one line, exit status 2."""
