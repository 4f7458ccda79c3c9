"""Where a run writes its results, checked before anything starts.

summary.json, JUnit XML and a comparison's JSON are written after the load; a folder that cannot be created or a
file that cannot be written must not be found out only then, with the run's results lost. Each check tries what
the writer will do (a throw-away file in the nearest existing folder) and raises a one-line
:class:`~shopstorm.errors.UsageError` (exit code 2) when it cannot.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from shopstorm.errors import UsageError


def _unwritable(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (made first if it does not exist yet), or None."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return f"cannot write in {existing} ({error.strerror})"
    return None


def check_folder(folder: str, option: str) -> None:
    """``folder`` is a folder, or can be made one, and files can be written in it."""
    try:
        problem = _unwritable(Path(folder))
    except ValueError as error:  # a NUL in the path
        problem = str(error)
    if problem:
        raise UsageError(f"{option} {folder}: {problem}")


def check_file(file: str, option: str) -> None:
    """``file`` can be written: an existing file is writable, a new one's folder can be made and written in."""
    path = Path(file)
    try:
        if path.is_dir():
            problem: str | None = "is a folder, not a file"
        elif path.exists():
            with open(path, "a", encoding="utf-8"):
                problem = None
        else:
            problem = _unwritable(path.parent)
    except OSError as error:
        problem = f"cannot write it ({error.strerror})"
    except ValueError as error:
        problem = str(error)
    if problem:
        raise UsageError(f"{option} {file}: {problem}")
