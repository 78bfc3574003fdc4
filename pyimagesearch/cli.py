"""What every command-line script shares: logging set-up and one-line errors."""

import logging
import os
import sys
from collections.abc import Callable, Iterable

from pyimagesearch.options import as_flags


def quiet_libraries() -> None:
    """Hide TensorFlow's and OpenCV's own log lines; unreadable files are reported by us, once.

    Must run before TensorFlow is imported.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")


def configure_logging(settings: Iterable[type] = ()) -> None:
    """Information as plain lines on stdout; ``warning: message`` lines on stderr; the options of
    ``settings`` the library names (```lr```) written as the script's flags (``--lr``), as `run` does."""
    information = logging.StreamHandler(sys.stdout)
    information.addFilter(lambda record: record.levelno < logging.WARNING)
    problems = logging.StreamHandler(sys.stderr)
    problems.setLevel(logging.WARNING)
    root = logging.getLogger("pyimagesearch")
    for handler in (information, problems):
        handler.setFormatter(_PlainFormatter(settings))
    root.handlers[:] = [information, problems]
    root.setLevel(logging.INFO)
    root.propagate = False


class _PlainFormatter(logging.Formatter):
    def __init__(self, settings: Iterable[type]) -> None:
        super().__init__()
        self.settings = tuple(settings)

    def format(self, record: logging.LogRecord) -> str:
        message = as_flags(record.getMessage(), self.settings)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def run(main: Callable[[], int], program: str, settings: Iterable[type] = ()) -> int:
    """Call ``main``; turn the library's ``ValueError`` into one line on stderr and exit code 2, the
    options of ``settings`` it names (```epochs```) written as the script's flags (``--epochs``)."""
    try:
        return main()
    except ValueError as error:
        print(f"{program}: error: {as_flags(str(error), settings)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{program}: interrupted; no output was replaced.", file=sys.stderr)
        return 130
