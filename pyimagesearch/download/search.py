"""The paging core every image-search provider shares, and plain lists of image URLs.

A provider (`SearchProvider`, one small adapter per API: openverse.py, brave.py, google.py,
bing.py) says how to ask for one page, how to read one, and its documented limits: the most
results per request and the most one query can reach. `search_images` does the rest the same
way for all: checks the arguments before any request, pages, stops, reads error answers and
rate limits (429 and ``Retry-After``, see `web.PoliteRetry`) and never asks beyond a limit.
docs/download.md lists each provider's limits and where they are documented.
"""

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from pyimagesearch.download.web import (
    DEFAULT_TIMEOUT,
    PoliteRetry,
    is_web_url,
    read_body,
    require_seconds,
    require_whole_number,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_RESULTS = 100
EXTRA_PAGES = 3  # slack over ceil(max_results / page_size) for pages that bring repeats
MAX_SEARCH_ANSWER_BYTES = 16 * 1024 * 1024
# --license: what the images may be used for, mapped by each provider to its own filter.
LICENSE_FILTERS = ("any", "public-domain", "commercial", "modification", "commercial-modification")


class SearchError(RuntimeError):
    """The search API could not be reached, refused the request, or answered an error."""


class SearchResponseError(SearchError, ValueError):
    """The search API answered something that is not a usable answer of its kind."""


class SettingError(ValueError):
    """A setting that cannot be used; ``setting`` names it (a field of options.py, e.g. ``api_key``)."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class MissingCredentialsError(SettingError):
    """A provider that needs a key (or an engine id) was given none; the message names what to set."""


@dataclass(frozen=True)
class ImageHit:
    """One image a search found: its URL and, as far as the provider gives them, its origin and licence."""

    url: str
    page_url: str = ""
    title: str = ""
    creator: str = ""
    license: str = ""
    license_version: str = ""
    license_url: str = ""
    attribution: str = ""
    provider: str = ""

    def details(self) -> dict[str, str]:
        """The non-empty fields other than ``url``, for the download manifest."""
        return {name: value for name, value in asdict(self).items() if value and name != "url"}


@dataclass(frozen=True)
class Credentials:
    """What a provider may need: a key or token, and Google's search engine id."""

    api_key: str = ""
    engine_id: str = ""


@dataclass(frozen=True)
class PageRequest:
    """One GET request for one page of results."""

    url: str
    params: dict[str, str | int]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchPage:
    """One page of results: its hits, the provider's total if it gives one, where the next page starts."""

    hits: list[ImageHit]
    total: int | None = None
    next_offset: int | None = None


@dataclass(frozen=True)
class SearchResult:
    """Every hit a search found (in order, without repeated URLs) and why paging stopped."""

    hits: list[ImageHit]
    pages: int
    stop_reason: str
    total: int | None


class SearchProvider:
    """An image-search API: how to ask for a page and read it, and its documented limits.

    Subclasses set the class attributes and implement `page_request` and `parse_page`; the
    rest has defaults that fit most APIs. Offsets count results from 0.
    """

    name = ""
    default_endpoint = ""  # "" when there is none (a self-hosted protocol): endpoint is then required
    search_path = ""
    key_name = "API key"
    key_required = True
    key_variable = ""  # the environment variable read when no key is passed
    engine_id_variable = ""  # set by providers that need an engine id as well
    # Filters of LICENSE_FILTERS the provider can apply, as its query parameters.
    license_parameters: Mapping[str, Mapping[str, str]] = {}
    # Whether pages are numbered: every request then asks for the same page size.
    numbered_pages = False

    def max_page_size(self, credentials: Credentials) -> int:
        """The most results one request may ask for."""
        raise NotImplementedError

    def max_depth(self, page_size: int, credentials: Credentials) -> int | None:
        """The most results one query can reach, or None when only the results run out."""
        return None

    def page_request(self, url: str, query: str, offset: int, count: int, credentials: Credentials, license_filter: str) -> PageRequest:
        """The request for ``count`` results from ``offset`` on."""
        raise NotImplementedError

    def parse_page(self, payload: object, offset: int, count: int, where: str) -> SearchPage:
        """Check a decoded answer and read its hits; raise `SearchResponseError` for a wrong shape."""
        raise NotImplementedError

    def error_detail(self, payload: object) -> str:
        """What an error answer says, if anything."""
        return ""

    def refused_key(self, status: int, payload: object) -> bool:
        """Whether an error answer means the key was refused."""
        return status in (401, 403)

    def rate_limit_hint(self, credentials: Credentials) -> str:
        """What to do after a rate limit, beyond waiting."""
        return ""

    def check_credentials(self, credentials: Credentials) -> None:
        """Raise `MissingCredentialsError` if a required key or engine id is missing."""
        if self.key_required and not credentials.api_key:
            article = "an" if self.key_name[0].lower() in "aeiou" else "a"
            raise MissingCredentialsError("api_key", f"{self.name} needs {article} {self.key_name}: pass one or set {self.key_variable}")
        if self.engine_id_variable and not credentials.engine_id:
            raise MissingCredentialsError(
                "engine_id", f"{self.name} needs a search engine id (cx): pass one or set {self.engine_id_variable}"
            )

    def credentials_from(self, api_key: str | None, engine_id: str | None, environ: Mapping[str, str]) -> Credentials:
        """The key and engine id given, else those of the provider's environment variables."""
        key = (api_key or (environ.get(self.key_variable, "") if self.key_variable else "")).strip()
        engine = (engine_id or (environ.get(self.engine_id_variable, "") if self.engine_id_variable else "")).strip()
        return Credentials(api_key=key, engine_id=engine)

    def search_url(self, endpoint: str | None) -> str:
        """The search URL for ``endpoint`` (a base URL, or the full search URL kept as it is).

        Raises:
            ValueError: If no endpoint is given where there is no default, or it is not an http(s) URL.
        """
        base = endpoint or self.default_endpoint
        if not base:
            raise ValueError(f"{self.name} has no public endpoint: pass the base URL of a service that speaks its protocol")
        if not is_web_url(base):
            raise ValueError(f"endpoint must be an http(s) URL such as https://search.example.com, got {base!r}")
        base = base.rstrip("/")
        return base if base.endswith(self.search_path.rstrip("/")) else base + self.search_path


def _decoded(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _request_page(
    session: requests.Session,
    provider: SearchProvider,
    request: PageRequest,
    *,
    credentials: Credentials,
    offset: int,
    count: int,
    timeout: float,
) -> SearchPage:
    """Ask for one page and check the answer; every failure is a `SearchError` that says what happened."""
    where = f"the {provider.name} answer for results {offset + 1}-{offset + count}"
    try:
        with session.get(request.url, params=request.params, headers=request.headers, timeout=timeout, stream=True) as response:
            body = read_body(response, max_bytes=MAX_SEARCH_ANSWER_BYTES, timeout=timeout)
    except requests.RequestException as error:
        raise SearchError(f"could not reach {provider.name} at {request.url}: {error}") from error
    if isinstance(body, str):
        raise SearchError(f"{where} could not be read in full: {body}")
    status = response.status_code
    if status != 200:
        payload = _decoded(body)
        detail = provider.error_detail(payload)
        said = f"HTTP {status}" + (f": {detail}" if detail else "")
        if provider.refused_key(status, payload):
            variable = f" (or {provider.key_variable})" if provider.key_variable else ""
            raise SearchError(f"{provider.name} refused the {provider.key_name} ({said}); check the key{variable}")
        if status == 429:
            asked = PoliteRetry().asked_wait(response)
            wait = f"; it asks to wait {asked:g} s" if asked is not None else ""
            hint = provider.rate_limit_hint(credentials)
            raise SearchError(f"{provider.name}'s rate limit was reached ({said}{wait}); run the same command again later{hint}")
        raise SearchError(f"{where} is {said}, expected 200")
    payload = _decoded(body)
    if payload is None:
        content_type = response.headers.get("Content-Type", "none")
        raise SearchResponseError(f"{where} is not JSON (Content-Type {content_type}, starts {body[:40]!r}); check the endpoint")
    return provider.parse_page(payload, offset, count, where)


def plan_page_size(provider: SearchProvider, credentials: Credentials, max_results: int, page_size: int | None) -> int:
    """The results asked for per request: ``page_size``, or the most the provider allows (up to ``max_results``).

    Raises:
        ValueError: If ``page_size`` is more than the provider allows.
    """
    limit = provider.max_page_size(credentials)
    if page_size is None:
        return min(limit, max_results)
    require_whole_number("page_size", page_size, minimum=1)
    if page_size > limit:
        raise ValueError(f"page_size must be at most {limit} for {provider.name} (its documented limit), got {page_size}")
    return page_size


def search_images(
    session: requests.Session,
    provider: SearchProvider,
    *,
    query: str,
    credentials: Credentials = Credentials(),
    endpoint: str | None = None,
    max_results: int = DEFAULT_MAX_RESULTS,
    page_size: int | None = None,
    license_filter: str = "any",
    timeout: float = DEFAULT_TIMEOUT,
) -> SearchResult:
    """Page through an image search and collect up to ``max_results`` hits.

    Every argument is checked before the first request. Paging stops at ``max_results``, at
    the provider's depth limit (the request that would pass it is never sent), at the total
    the provider reports, when it names no next page, on a page that brings no new URL, when
    the next offset does not advance, and after ``ceil(max_results / page_size) + EXTRA_PAGES``
    pages whatever happens.

    Args:
        session: A session from `web.build_session`.
        provider: The adapter of the API to ask.
        query: The search terms, e.g. ``"red dress"``.
        credentials: The key (and engine id) the provider needs. Defaults to none.
        endpoint: The API's base URL (or full search URL). Defaults to the provider's own.
        max_results: The most hits to collect; more than the provider's depth is capped to it.
            Defaults to 100.
        page_size: Results asked for per request. Defaults to the most the provider allows.
        license_filter: One of ``LICENSE_FILTERS``. Defaults to ``"any"``.
        timeout: Seconds to wait to connect or between bytes. Defaults to 10.

    Returns:
        The hits in the order found, without repeated URLs, and why paging stopped.

    Raises:
        ValueError: If an argument is out of range or the provider cannot apply the licence filter.
        MissingCredentialsError: If the provider needs a key or engine id that is missing.
        SearchError: If the first page cannot be had; a later page that fails ends the search
            early with a warning instead, keeping what was found.
    """
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"query must be non-empty text such as 'red dress', got {query!r}")
    require_whole_number("max_results", max_results, minimum=1)
    require_seconds("timeout", timeout)
    license_parameters = check_license_filter(provider, license_filter)
    provider.check_credentials(credentials)
    url = provider.search_url(endpoint)
    page_size = plan_page_size(provider, credentials, max_results, page_size)
    depth = provider.max_depth(page_size, credentials)
    wanted = max_results
    if depth is not None and depth < max_results:
        logger.info("%s returns at most %d results for one query (its documented limit); asking for %d", provider.name, depth, depth)
        wanted = depth
    found: dict[str, ImageHit] = {}
    offset, total, pages = 0, None, 0
    stop_reason = "reached the page limit"
    for pages in range(1, math.ceil(wanted / page_size) + EXTRA_PAGES + 1):
        count = page_size if provider.numbered_pages else min(page_size, wanted - len(found))
        if depth is not None:
            count = min(count, depth - offset)
        request = provider.page_request(url, query, offset, count, credentials, license_filter)
        request.params.update(license_parameters)
        try:
            page = _request_page(session, provider, request, credentials=credentials, offset=offset, count=count, timeout=timeout)
        except SearchError as error:
            if pages == 1:
                raise
            logger.warning("search stopped early, keeping the %d results found: %s", len(found), error)
            stop_reason = f"stopped early: {error}"
            break
        new_hits = [hit for hit in page.hits if hit.url not in found]
        found.update((hit.url, hit) for hit in new_hits[: wanted - len(found)])
        total = page.total if page.total is not None else total
        next_offset = page.next_offset
        logger.info("search results %d-%d: %d, %d new, %d in all", offset + 1, offset + count, len(page.hits), len(new_hits), len(found))
        if len(found) >= wanted:
            stop_reason = "reached max_results" if wanted == max_results else f"reached {provider.name}'s depth limit"
        elif not new_hits:
            stop_reason = "a page brought no new results"
        elif next_offset is None:
            stop_reason = "no further page"
        elif next_offset <= offset:
            stop_reason = f"the next offset did not advance ({offset} -> {next_offset})"
            logger.warning("search stopped: %s", stop_reason)
        elif depth is not None and next_offset >= depth:
            stop_reason = f"reached {provider.name}'s depth limit ({depth} results)"
        elif total is not None and next_offset >= total:
            stop_reason = "reached the reported total"
        else:
            offset = next_offset
            continue
        break
    return SearchResult(hits=list(found.values()), pages=pages, stop_reason=stop_reason, total=total)


def check_license_filter(provider: SearchProvider, license_filter: str) -> dict[str, str]:
    """The query parameters that apply ``license_filter`` at ``provider``.

    Raises:
        ValueError: For an unknown filter, or one the provider cannot apply.
    """
    if license_filter not in LICENSE_FILTERS:
        raise ValueError(f"license_filter must be one of {', '.join(LICENSE_FILTERS)}, got {license_filter!r}")
    if license_filter == "any":
        return {}
    if license_filter not in provider.license_parameters:
        supported = ", ".join(name for name in LICENSE_FILTERS if name in provider.license_parameters) or "none"
        raise ValueError(
            f"{provider.name} cannot filter by licence ({license_filter!r}); its filters: {supported}. "
            "Use another provider (openverse returns only openly licensed images) or no licence filter"
        )
    return dict(provider.license_parameters[license_filter])


def read_url_list(path: Path | str) -> list[ImageHit]:
    """Read image URLs from a text file, one a line; blank lines and ``#`` comments are skipped.

    Lines that are not http(s) URLs are skipped with a warning.

    Args:
        path: The text file (UTF-8).

    Returns:
        A hit per URL, in file order, without repeats.

    Raises:
        ValueError: If the file cannot be read or holds no http(s) URL.
    """
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise ValueError(f"URL list {path} does not exist; pass a text file with one image URL per line") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"URL list {path} is not UTF-8 text; save it as UTF-8, one image URL per line") from error
    except OSError as error:
        raise ValueError(f"cannot read URL list {path}: {error.strerror}; pass a readable text file") from error
    urls = []
    for number, line in enumerate(content.splitlines(), start=1):
        candidate = line.strip()
        if not candidate or candidate.startswith("#"):
            continue
        if is_web_url(candidate):
            urls.append(candidate)
        else:
            logger.warning("%s line %d: %.80r is not an http(s) URL; skipped", path, number, candidate)
    if not urls:
        raise ValueError(f"URL list {path} holds no http(s) URL; put one image URL per line")
    return [ImageHit(url=url) for url in dict.fromkeys(urls)]
