"""Output files of the command line: checked before any long work, written atomically.

Every command calls :func:`check_outputs` first: each output path must be writable (an
existing, writable directory; not a directory itself; a read-only file refused), no two outputs
may be the same file, and no output may be one of the command's inputs. A refusal raises
:class:`~cvxnn.exceptions.InvalidInputError` (exit 2) before anything is written. A write that
fails later (disk full) raises :class:`OutputWriteError`, which :func:`cvxnn.cli.main` reports
as ``cvxnn: error: ...`` with exit 1.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cvxnn.exceptions import CvxnnError, InvalidInputError
from cvxnn.io import atomic_write, check_destination

__all__ = [
    "OutputWriteError",
    "check_outputs",
    "check_plot_path",
    "check_writable",
    "write_json",
    "write_text",
]


class OutputWriteError(CvxnnError):
    """An output file could not be written after the work was done (disk full, I/O error)."""


def check_writable(option: str, value: str) -> Path:
    """Refuse an output path that cannot be written; returns it as a ``Path``.

    Parameters
    ----------
    option : str
        The option's name for the message (``"--out"``).
    value : str
        The path given.
    """
    prefix = f"{option} {value!r}"
    path = check_destination(value, prefix)  # a file name, not a directory, in an existing directory
    parent = path.parent if str(path.parent) else Path(".")
    try:  # a real probe: permissions, read-only mounts and root alike
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise InvalidInputError(
            f"{prefix}: directory {str(parent)!r} is not writable ({exc.strerror or exc})."
        ) from None
    if path.exists() and not os.access(path, os.W_OK):
        raise InvalidInputError(f"{prefix}: the file exists and is read-only.")
    return path


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs: Mapping[str, str | None], inputs: Mapping[str, str | None] | None = None) -> None:
    """Check every output before the work: writable, distinct, and none of them an input.

    Parameters
    ----------
    outputs : mapping of str to str or None
        Option name -> path (``None``: not requested).
    inputs : mapping of str to str or None, optional
        Argument name -> path of the files read (``sklearn:NAME`` and ``None`` are skipped).
    """
    given = [(opt, value) for opt, value in outputs.items() if value is not None]
    for opt, value in given:
        check_writable(opt, value)
    for i, (opt_a, a) in enumerate(given):
        for opt_b, b in given[i + 1 :]:
            if _same_file(Path(a), Path(b)):
                raise InvalidInputError(
                    f"{opt_a} and {opt_b} are the same file {a!r}; give each output its own path."
                )
    for name, source in (inputs or {}).items():
        if source is None or str(source).startswith("sklearn:"):
            continue
        for opt, value in given:
            if _same_file(Path(value), Path(source)):
                raise InvalidInputError(
                    f"{opt} {value!r} is the input {name} {source!r}; refusing to overwrite it "
                    "(give another output path)."
                )


def check_plot_path(option: str, value: str | None) -> None:
    """Refuse a plot path before the work: matplotlib missing, or an extension it cannot write."""
    if value is None:
        return
    from cvxnn.plotting import require_matplotlib

    require_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    ext = Path(value).suffix.lower().lstrip(".")
    if ext not in formats:
        what = f".{ext} files" if ext else "a file without an extension"
        raise InvalidInputError(
            f"{option} {value!r}: matplotlib cannot write {what}; use one of "
            f"{', '.join('.' + f for f in sorted(formats))}."
        )


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with :func:`cvxnn.io.atomic_write` (a temporary file
    renamed over it; stale temporary files of an interrupted earlier write are removed).

    On failure nothing is left behind, an existing file is untouched, and
    :class:`OutputWriteError` names the file and the system's reason.
    """
    target = Path(path)
    try:
        atomic_write(target, lambda fh: fh.write(text.encode()))
    except OSError as exc:
        raise OutputWriteError(f"could not write {str(target)!r}: {exc.strerror or exc}") from None


def write_json(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON (keys sorted) with :func:`write_text`."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, allow_nan=True) + "\n")
