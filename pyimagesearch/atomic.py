"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

import csv
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` in one step.

    The temporary file lives in the target's folder, so ``os.replace`` is a rename on one file
    system. On any error, including Ctrl-C, the temporary file is removed and ``target`` is untouched.

    Args:
        target: The file to write.
        suffix: The temporary file's extension, for writers that choose a format by extension.
            Defaults to the target's own.

    Example:
        >>> with atomic_path("plot.png") as tmp:
        ...     figure.savefig(tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    extension = target.suffix if suffix is None else suffix
    # A hidden name ending in the real extension: writers that pick a format by extension still work.
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".part{extension}")
    os.close(handle)
    temporary = Path(name)
    # mkstemp makes the file private (0600); give it the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    temporary.chmod(0o666 & ~umask)
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) and SIGTERM back until the block ends, then deliver the first that came
    to the handler it would have met (Ctrl-C's raises KeyboardInterrupt).

    For writes of several files that belong together (a backup's weights and the epoch they
    are for): each file is atomic (`atomic_path`), and no interrupt lands between them. Outside
    the main thread, where signals are not handled, the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {number: signal.signal(number, lambda number, frame: received.append(number)) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            signal.raise_signal(received[0])


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (see `atomic_path`)."""
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def write_csv(rows: Sequence[dict], path: str | os.PathLike, columns: Sequence[str] | None = None) -> None:
    """Write dict rows as CSV atomically; ``columns`` default to the rows' keys in first-seen order."""
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
