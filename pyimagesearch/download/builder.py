"""Building a label folder: search (or read a URL list), download in parallel, keep the records.

`download_images` is the downloading core every provider shares; `build_dataset` runs a whole
search_bing_api.py command from its settings (options.py), checking every setting before the
first request so that a mistake costs no traffic.
"""

import itertools
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from pyimagesearch.download.fetch import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, FetchResult, fetch_image
from pyimagesearch.download.folder import ALREADY_FETCHED, DatasetFolder, Outcome
from pyimagesearch.download.options import DEFAULT_WORKERS, OutputSettings, SearchSettings, TransferSettings
from pyimagesearch.download.providers import get_provider
from pyimagesearch.download.records import CONFLICT, DUPLICATE, SAVED, write_training_manifest
from pyimagesearch.download.search import (
    ImageHit,
    SearchResult,
    SettingError,
    check_license_filter,
    plan_page_size,
    read_url_list,
    search_images,
)
from pyimagesearch.download.web import DEFAULT_TIMEOUT, build_session, require_seconds, require_whole_number

logger = logging.getLogger(__name__)


@dataclass
class DownloadSummary:
    """Counts for one run of `download_images`; ``conflicts`` pairs each URL with the sibling picture it matched."""

    found: int = 0
    saved: int = 0
    already_fetched: int = 0
    duplicates: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)
    saved_files: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        if outcome.status == SAVED:
            self.saved += 1
            self.saved_files.append(outcome.file)
        elif outcome.status == DUPLICATE:
            self.duplicates += 1
        elif outcome.status == CONFLICT:
            self.conflicts.append((outcome.url, outcome.file))
        elif outcome.status == ALREADY_FETCHED:
            self.already_fetched += 1
        else:
            self.failed[outcome.reason] += 1


def download_images(
    hits: Iterable[ImageHit | str],
    folder: DatasetFolder | Path | str,
    *,
    session: requests.Session,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = DEFAULT_WORKERS,
    license_filter: str = "any",
    progress: Callable[[Outcome], None] | None = None,
) -> DownloadSummary:
    """Download images in parallel into a label folder, skipping what is already there.

    Images are fetched by ``workers`` threads but stored in the order of ``hits``, so names
    follow that order. On any exception, Ctrl-C included, unfinished downloads are abandoned and
    nothing half-written is left.

    Args:
        hits: Search hits (or bare image URLs); repeated URLs are fetched once.
        folder: The label folder, or its path (created if missing).
        session: A session from `web.build_session`.
        timeout: Seconds to wait to connect or between bytes. Defaults to 10.
        max_bytes: The largest image accepted, in bytes. Defaults to 20 MiB.
        max_pixels: Larger images are refused as decompression bombs. Defaults to Pillow's limit.
        workers: How many downloads run at once. Defaults to 8.
        license_filter: The licence filter the search applied, recorded with each image. Defaults to ``"any"``.
        progress: Called with each URL's outcome, in order, e.g. to advance a bar.

    Returns:
        The counts of found, saved, already fetched, duplicate, conflicting and failed URLs.

    Raises:
        ValueError: If an argument is out of range or the folder is unusable.
    """
    require_seconds("timeout", timeout)
    require_whole_number("max_bytes", max_bytes, minimum=1)
    require_whole_number("max_pixels", max_pixels, minimum=1)
    require_whole_number("workers", workers, minimum=1)
    folder = folder if isinstance(folder, DatasetFolder) else DatasetFolder(folder)
    by_url: dict[str, ImageHit] = {}
    for hit in hits:
        hit = ImageHit(url=hit) if isinstance(hit, str) else hit
        by_url.setdefault(hit.url, hit)  # the first hit of a URL wins
    summary = DownloadSummary(found=len(by_url))

    def settle(outcome: Outcome) -> None:
        summary.add(outcome)
        if progress is not None:
            progress(outcome)

    pending = []
    for url in by_url:
        if folder.already_fetched(url):
            settle(Outcome(url, ALREADY_FETCHED))
        else:
            pending.append(url)
    cancel = threading.Event()
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download")

    def submit(url: str) -> Future[FetchResult]:
        return executor.submit(fetch_image, session, url, timeout=timeout, max_bytes=max_bytes, max_pixels=max_pixels, cancel=cancel)

    queue = iter(pending)
    # A bounded window keeps every worker busy without holding every image in memory.
    in_flight = deque(submit(url) for url in itertools.islice(queue, 2 * workers))
    try:
        while in_flight:
            result = in_flight.popleft().result()
            for url in itertools.islice(queue, 1):
                in_flight.append(submit(url))
            settle(folder.store(result, by_url[result.url], license_filter=license_filter))
    except KeyboardInterrupt:
        unfinished = sum(not future.done() for future in in_flight)
        logger.warning("interrupted: abandoning %d downloads under way; nothing half-written is kept", unfinished)
        raise
    finally:
        cancel.set()
        executor.shutdown(wait=True, cancel_futures=True)
    return summary


@dataclass(frozen=True)
class DatasetReport:
    """What `build_dataset` did: the search (None for a URL list), the downloads and the records written."""

    search: SearchResult | None
    summary: DownloadSummary
    attribution_rows: int
    manifest_rows: int | None


def _checked(setting: str, check: Callable[[], object]) -> object:
    """Call ``check``; a ValueError it raises becomes a `SettingError` naming ``setting``."""
    try:
        return check()
    except SettingError:
        raise
    except ValueError as error:
        raise SettingError(setting, str(error)) from error


def build_dataset(
    search: SearchSettings,
    transfer: TransferSettings,
    output: OutputSettings,
    *,
    environ: Mapping[str, str],
    progress: Callable[[int], Callable[[Outcome], None]] | None = None,
) -> DatasetReport:
    """Fill one label folder from a search (or a URL list) and write its records.

    Args:
        search: What to search for, or the URL list.
        transfer: How to fetch.
        output: The label folder and the training manifest.
        environ: Where providers' keys are looked up (e.g. ``os.environ``).
        progress: Given the number of hits, returns the callback for each outcome.

    Returns:
        The search result, the download summary and the rows of ATTRIBUTION.csv and of the manifest.

    Raises:
        SettingError: A setting that cannot be used (``setting`` names it), before any request.
        SearchError: The search failed on its first page.
    """
    provider = None
    if search.urls is not None:
        hits = _checked("urls", lambda: read_url_list(search.urls))
    else:
        provider = _checked("provider", lambda: get_provider(search.provider))
        credentials = provider.credentials_from(search.api_key, search.engine_id, environ)
        _checked("license", lambda: check_license_filter(provider, search.license))
        provider.check_credentials(credentials)
        _checked("endpoint", lambda: provider.search_url(search.endpoint))
        _checked("page_size", lambda: plan_page_size(provider, credentials, search.max_results, search.page_size))
    manifest = Path(output.manifest) if output.manifest is not None else None
    if manifest is not None and manifest.suffix.lower() != ".csv":
        raise SettingError("manifest", f"expected a .csv file (train.py reads a path,labels CSV), got {output.manifest!r}")
    folder = _checked("output", lambda: DatasetFolder(output.output))
    result = None
    with build_session(retries=transfer.retries, max_wait=transfer.max_wait, pool_size=transfer.workers) as session:
        if provider is not None:
            result = search_images(
                session,
                provider,
                query=search.query,
                credentials=credentials,
                endpoint=search.endpoint,
                max_results=search.max_results,
                page_size=search.page_size,
                license_filter=search.license,
                timeout=transfer.timeout,
            )
            logger.info("%s found %d images in %d request(s): %s", provider.name, len(result.hits), result.pages, result.stop_reason)
            hits = result.hits
        try:
            summary = download_images(
                hits,
                folder,
                session=session,
                timeout=transfer.timeout,
                max_bytes=transfer.max_bytes,
                workers=transfer.workers,
                license_filter=search.license if provider is not None else "any",
                progress=progress(len(hits)) if progress is not None else None,
            )
        finally:
            # Kept in step with the folder even after Ctrl-C: both are rewritten from what is on disk.
            attribution_rows = folder.write_attribution()
            manifest_rows = write_training_manifest(manifest, folder.path.parent) if manifest is not None else None
    return DatasetReport(result, summary, attribution_rows, manifest_rows)
