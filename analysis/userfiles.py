"""Reading small text files the user hands the tool (patterns files, batch records).

Such a path may name anything: a missing file, a folder, a FIFO that would block a plain
`open()` forever, a huge file, bytes that are not UTF-8. `read_text` turns each of these into
one `UserFileError` line instead of a hang or a traceback, so callers only add context.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

from model.errors import UserError

#: Larger than any record or patterns file the tool writes or ships, by far.
DEFAULT_LIMIT = 16 * 1024 * 1024


class UserFileError(UserError):
    """A file that cannot be read as text: one line naming the file and why."""


def read_text(path: Path | str, limit: int = DEFAULT_LIMIT) -> str:
    """The UTF-8 text of the regular file at `path`; UserFileError for anything else.

    The file is opened non-blocking and checked with fstat before reading, so a FIFO or a
    device is refused without waiting for a writer, and a file swapped between a check and the
    open cannot slip through.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserFileError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserFileError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UserFileError(f"{path}: is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise UserFileError(f"{path}: is not a regular file (a FIFO, socket or device)")
        data = _read_up_to(fd, limit + 1)
    except OSError as exc:
        raise UserFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UserFileError(f"{path}: larger than {limit // (1024 * 1024)} MB; not a file "
                            "this tool wrote or expects")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserFileError(f"{path}: is not UTF-8 text (byte {exc.start} cannot be "
                            "decoded)") from None


def parse_toml(text: str, path: Path | str) -> dict:
    """TOML text read from a user's file; a syntax error is one UserFileError line naming
    the file."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserFileError(f"{path}: TOML syntax error: {exc}") from None


def read_toml(path: Path | str, limit: int = DEFAULT_LIMIT) -> dict:
    """A user's TOML file (patterns, variants): `read_text`, then `parse_toml`."""
    return parse_toml(read_text(path, limit=limit), path)


def _read_up_to(fd: int, size: int) -> bytes:
    """Read until `size` bytes or the end of the file."""
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def is_regular_file(path: Path) -> bool:
    """True for a regular file at `path` itself (not a symlink, FIFO, folder or device)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
