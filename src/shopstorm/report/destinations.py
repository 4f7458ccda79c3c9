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


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_folder(folder: str, option: str) -> None:
    """``folder`` is a folder, or can be made one, and files can be written in it."""
    try:
        existing = _nearest_existing(Path(folder))
        if not existing.is_dir():
            where = "is a file" if existing == Path(folder) else f"is under {existing}, which is a file"
            raise UsageError(f"{option} {folder} {where}, not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(f"{option} {folder}: cannot write there ({reason})") from None


def check_file(file: str, option: str) -> None:
    """``file`` can be written: an existing file is writable, a new one's folder can be made and written in."""
    path = Path(file)
    try:
        if path.is_dir():
            raise UsageError(f"{option} {file} is a folder, not a file")
        if path.exists():
            with open(path, "a", encoding="utf-8"):
                pass
            return
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(f"{option} {file}: cannot write there ({reason})") from None
    check_folder(str(path.parent), option)
