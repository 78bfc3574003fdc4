"""Every option of building a data set (search_bing_api.py), declared once (`pyimagesearch.options`).

Each field of the settings dataclasses is one option: its name (``max_results`` is the flag
``--max-results``), type, default, choices and one-line help. search_bing_api.py builds its
parser from these fields, the library takes the dataclasses, and a test checks README's flag
table against them.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from pyimagesearch.download.fetch import DEFAULT_MAX_BYTES
from pyimagesearch.download.providers import DEFAULT_PROVIDER, PROVIDER_NAMES
from pyimagesearch.download.search import DEFAULT_MAX_RESULTS, LICENSE_FILTERS
from pyimagesearch.download.web import DEFAULT_MAX_WAIT, DEFAULT_RETRIES, DEFAULT_TIMEOUT
from pyimagesearch.options import option

DEFAULT_WORKERS = 8


def whole_number(minimum: int) -> Callable[[str], int]:
    """A parser of whole numbers of at least ``minimum``; raises ValueError saying what it expected."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            raise ValueError(f"expected a whole number of at least {minimum}, got {value!r}")
        return number

    return parse


def seconds(value: str) -> float:
    """Parse a finite number of seconds greater than zero; raises ValueError saying what it expected."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"expected a number of seconds greater than 0, got {value!r}")
    return number


@dataclass(frozen=True)
class SearchSettings:
    """Where the images come from: a search, or a list of URLs."""

    query: str | None = option(
        None, 'search terms, e.g. "red dress"', short="-q", exclusive="source", default_text="(required: this or `--urls`)"
    )
    urls: str | None = option(
        None,
        "download the image URLs in FILE (one a line) instead of searching",
        metavar="FILE",
        exclusive="source",
        default_text="(required: this or `--query`)",
    )
    provider: str = option(DEFAULT_PROVIDER, "image search to ask: `openverse`, `brave`, `google` or `bing`", choices=PROVIDER_NAMES)
    api_key: str | None = option(None, "the provider's key or token (see docs/download.md)", default_text="its environment variable")
    engine_id: str | None = option(None, "google: the Programmable Search Engine id, cx", default_text="`$GOOGLE_SEARCH_ENGINE_ID`")
    endpoint: str | None = option(None, "the API's base URL (required for bing)", default_text="the provider's own")
    license: str = option("any", "only images whose licence allows this (openverse, google, bing)", choices=LICENSE_FILTERS)
    max_results: int = option(
        DEFAULT_MAX_RESULTS, "the most search results to fetch (capped at the provider's limit)", parse=whole_number(1)
    )
    page_size: int | None = option(None, "search results per request", parse=whole_number(1), default_text="the most the provider allows")


@dataclass(frozen=True)
class TransferSettings:
    """How images are fetched."""

    timeout: float = option(DEFAULT_TIMEOUT, "seconds to wait to connect or between bytes", parse=seconds)
    retries: int = option(DEFAULT_RETRIES, "retries per request after a 429, 5xx or network error", parse=whole_number(0))
    max_wait: float = option(DEFAULT_MAX_WAIT, "longest Retry-After waited for, in seconds; a longer one is not retried", parse=seconds)
    workers: int = option(DEFAULT_WORKERS, "parallel downloads", parse=whole_number(1))
    max_bytes: int = option(DEFAULT_MAX_BYTES, "largest image accepted, in bytes", parse=whole_number(1))


@dataclass(frozen=True)
class OutputSettings:
    """Where the images and the records go."""

    output: str = option("", "label folder for the images, e.g. dataset/red_dress", short="-o", required=True)
    manifest: str | None = option(
        None, "also write a path,labels CSV of the data set's label folders for train.py --dataset", metavar="CSV"
    )


SETTINGS = (SearchSettings, TransferSettings, OutputSettings)
