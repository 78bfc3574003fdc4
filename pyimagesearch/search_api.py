"""The web side of building a data set: a retrying HTTP session, bounded reads,
the Bing Image Search v7 paging protocol and plain lists of image URLs.

Microsoft retired the Bing Search APIs on 2025-08-11. The protocol is kept for
endpoints that still speak it; :func:`read_url_list` needs no API at all.
"""

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_MAX_RESULTS = 250
DEFAULT_GROUP_SIZE = 50
MAX_GROUP_SIZE = 150  # the v7 API refuses a larger count
DEFAULT_ENDPOINT = "https://api.bing.microsoft.com"
API_KEY_ENVIRONMENT_VARIABLE = "BING_SEARCH_V7_SUBSCRIPTION_KEY"
SEARCH_PATH = "/v7.0/images/search"
SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
EXTRA_PAGES = 3  # slack over ceil(max_results / group_size) for pages that bring repeats
MAX_SEARCH_ANSWER_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0
WHOLE_BODY_TIMEOUT_FACTOR = 5  # a trickling server cannot hold a request forever
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_FACTOR = 0.5
MAX_RETRY_AFTER = 60.0  # a server asking for a longer wait is not waited on for longer
DEFAULT_POOL_SIZE = 10
MAX_REDIRECTS = 5
RETRY_STATUS_CODES = (429, 500, 502, 503, 504)
CHUNK_SIZE = 64 * 1024

# Why a transfer failed, as read_body and failure_reason name it.
TIMEOUT = "timeout"
TOO_LARGE = "too large"
CANCELLED = "cancelled"
CONNECTION_ERROR = "connection error"
TOO_MANY_REDIRECTS = "too many redirects"
INVALID_URL = "invalid url"
BAD_ENCODING = "bad content encoding"
LASTING_TRANSFER_FAILURES = frozenset({TOO_MANY_REDIRECTS, INVALID_URL, BAD_ENCODING})
INVALID_URL_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


class SearchError(RuntimeError):
    """The search endpoint could not be reached or refused the request."""


class SearchResponseError(SearchError, ValueError):
    """The search endpoint answered something that is not a usable v7 answer."""


def require_whole_number(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not a bool) of at least ``minimum``.

    Raises:
        ValueError: Naming ``name``, the value received and what is expected.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}; pass such a number")
    return value


def require_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a number of seconds above zero (or zero, if allowed).

    Raises:
        ValueError: Naming ``name``, the value received and what is expected.
    """
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not (value >= 0 if allow_zero else value > 0):
        bound = "at least 0" if allow_zero else "greater than 0"
        raise ValueError(f"{name} must be a number of seconds {bound}, got {value!r}; pass e.g. {DEFAULT_TIMEOUT}")
    return float(value)


def is_web_url(candidate: object) -> bool:
    """Tell whether ``candidate`` is an absolute http or https URL with a host."""
    if not isinstance(candidate, str):
        return False
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def build_session(
    *,
    retries: int = DEFAULT_RETRIES,
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
    max_retry_after: float = MAX_RETRY_AFTER,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> requests.Session:
    """Build a ``requests`` session that retries 429 and 5xx answers with backoff.

    Args:
        retries: How many times to retry one request (0 disables retries).
        backoff_factor: urllib3's backoff factor in seconds; tests make it tiny.
        max_retry_after: The longest ``Retry-After`` honoured, in seconds.
        pool_size: Connections kept per host; match it to the worker count.

    Returns:
        A session whose HTTP and HTTPS adapters carry the retry policy.

    Raises:
        ValueError: If a number is out of range.
    """
    require_whole_number("retries", retries, minimum=0)
    require_whole_number("pool_size", pool_size, minimum=1)
    require_seconds("backoff_factor", backoff_factor, allow_zero=True)
    require_seconds("max_retry_after", max_retry_after, allow_zero=True)
    retry = Retry(
        total=retries,
        status_forcelist=RETRY_STATUS_CODES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff_factor,
        respect_retry_after_header=True,
        retry_after_max=max_retry_after,
        # The last answer is returned rather than raised, so its status can be reported.
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.max_redirects = MAX_REDIRECTS
    session.headers["User-Agent"] = "pyimagesearch-dataset-builder/1.0"
    return session


def read_body(
    response: requests.Response,
    *,
    max_bytes: int,
    timeout: float,
    cancel: threading.Event | None = None,
) -> bytes | str:
    """Read a streamed body, stopping at a size cap, a deadline or a cancel request.

    Args:
        response: A response obtained with ``stream=True``.
        max_bytes: The largest body accepted.
        timeout: The request's timeout; the whole body must arrive within
            ``WHOLE_BODY_TIMEOUT_FACTOR`` times this.
        cancel: When set, reading stops early.

    Returns:
        The body, or why it was not read: ``TOO_LARGE``, ``TIMEOUT`` or ``CANCELLED``.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        return TOO_LARGE
    deadline = time.monotonic() + timeout * WHOLE_BODY_TIMEOUT_FACTOR
    body = bytearray()
    for chunk in response.iter_content(CHUNK_SIZE):
        if cancel is not None and cancel.is_set():
            return CANCELLED
        body += chunk
        if len(body) > max_bytes:
            return TOO_LARGE
        if time.monotonic() > deadline:
            return TIMEOUT
    return bytes(body)


def failure_reason(error: requests.RequestException) -> str:
    """Name the failure behind an exception raised by a request or while reading its body."""
    if isinstance(error, requests.Timeout):
        return TIMEOUT
    if isinstance(error, requests.TooManyRedirects):
        return TOO_MANY_REDIRECTS
    if isinstance(error, INVALID_URL_ERRORS):
        return INVALID_URL
    if isinstance(error, requests.exceptions.ContentDecodingError):
        return BAD_ENCODING
    # Read timeouts reach us wrapped: in a ConnectionError, sometimes inside a MaxRetryError.
    cause = error.args[0] if error.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    if isinstance(cause, NewConnectionError):  # urllib3 makes it a ConnectTimeoutError, yet it is no timeout
        return CONNECTION_ERROR
    if isinstance(cause, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
        return TIMEOUT
    return CONNECTION_ERROR


@dataclass(frozen=True)
class SearchPage:
    """One page of a v7 answer: its image URLs and the paging fields it carried."""

    urls: list[str]
    total_estimated_matches: int | None
    next_offset: int | None


@dataclass(frozen=True)
class SearchResult:
    """All the image URLs a search found, and why paging stopped."""

    urls: list[str]
    pages: int
    stop_reason: str
    total_estimated_matches: int | None


def _json_type(value: object) -> str:
    """Name ``value``'s JSON type, for error messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _optional_count(payload: dict, key: str, where: str) -> int | None:
    """Return ``payload[key]`` if it is a whole number >= 0, None if absent."""
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        received = f"{_json_type(value)} ({value!r:.40})"
        raise SearchResponseError(f"{where}: {key!r} is {received}, expected a whole number >= 0")
    return value


def parse_search_page(payload: object, *, where: str = "the search answer") -> SearchPage:
    """Check a decoded v7 answer and pull out its image URLs and paging fields.

    Items without an http(s) ``contentUrl`` are skipped; a wrong shape is an error.

    Args:
        payload: The decoded JSON.
        where: Names the answer in error messages.

    Returns:
        The page's URLs (in order), ``totalEstimatedMatches`` and ``nextOffset``.

    Raises:
        SearchResponseError: If the answer is not a v7 image answer.
    """
    if not isinstance(payload, dict):
        raise SearchResponseError(f"{where} is {_json_type(payload)}, expected an object with a 'value' list")
    if "value" not in payload:
        errors = payload.get("errors") if isinstance(payload.get("errors"), list) else []
        messages = [str(item.get("message")) for item in errors if isinstance(item, dict)]
        detail = f" (the endpoint says: {'; '.join(messages)})" if messages else ""
        raise SearchResponseError(f"{where} has no 'value' field{detail}; expected a Bing Image Search v7 answer")
    value = payload["value"]
    if not isinstance(value, list):
        raise SearchResponseError(f"{where}: 'value' is {_json_type(value)}, expected a list of images")
    urls = [item["contentUrl"] for item in value if isinstance(item, dict) and is_web_url(item.get("contentUrl"))]
    if len(urls) < len(value):
        logger.warning("%s: skipped %d items without an http(s) contentUrl", where, len(value) - len(urls))
    return SearchPage(
        urls=urls,
        total_estimated_matches=_optional_count(payload, "totalEstimatedMatches", where),
        next_offset=_optional_count(payload, "nextOffset", where),
    )


def search_url(endpoint: str) -> str:
    """Return the v7 image search URL for ``endpoint`` (a full search URL is kept as it is).

    Raises:
        ValueError: If ``endpoint`` is not an http(s) URL.
    """
    if not is_web_url(endpoint):
        raise ValueError(f"endpoint must be an http(s) URL such as {DEFAULT_ENDPOINT}, got {endpoint!r}")
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(SEARCH_PATH) else endpoint + SEARCH_PATH


def _request_page(session: requests.Session, url: str, *, api_key: str, params: dict, timeout: float) -> SearchPage:
    """Ask the endpoint for one page and check the answer."""
    where = f"the search answer for offset {params['offset']} from {url}"
    try:
        headers = {SUBSCRIPTION_KEY_HEADER: api_key}
        with session.get(url, params=params, headers=headers, timeout=timeout, stream=True) as response:
            body = read_body(response, max_bytes=MAX_SEARCH_ANSWER_BYTES, timeout=timeout)
    except requests.RequestException as error:
        raise SearchError(f"could not reach the search endpoint {url}: {error}") from error
    if isinstance(body, str):
        raise SearchError(f"{where} could not be read in full: {body}")
    if response.status_code in (401, 403):
        status = response.status_code
        raise SearchError(f"the search endpoint {url} refused the API key (HTTP {status}); check the key and endpoint")
    if response.status_code != 200:
        raise SearchError(f"{where} is HTTP {response.status_code}, expected 200; check the endpoint")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:
        content_type = response.headers.get("Content-Type", "none")
        received = f"Content-Type {content_type}, starts {body[:40]!r}"
        raise SearchResponseError(f"{where} is not JSON ({received}); check the endpoint") from error
    return parse_search_page(payload, where=where)


def search_image_urls(
    session: requests.Session,
    *,
    query: str,
    api_key: str,
    endpoint: str = DEFAULT_ENDPOINT,
    max_results: int = DEFAULT_MAX_RESULTS,
    group_size: int = DEFAULT_GROUP_SIZE,
    timeout: float = DEFAULT_TIMEOUT,
) -> SearchResult:
    """Page through a v7 image search and collect up to ``max_results`` image URLs.

    Paging stops at ``max_results``, at ``totalEstimatedMatches``, on a page that
    brings no new URL, when ``nextOffset`` does not advance, and after
    ``ceil(max_results / group_size) + EXTRA_PAGES`` pages whatever happens.

    Args:
        session: A session from :func:`build_session`.
        query: The search terms, e.g. ``"red dress"``.
        api_key: Sent as the ``Ocp-Apim-Subscription-Key`` header.
        endpoint: The API's base URL (or its full image search URL).
        max_results: The most URLs to collect.
        group_size: Results asked for per request (``count``), at most ``MAX_GROUP_SIZE``.
        timeout: Seconds to wait to connect or between bytes.

    Returns:
        The URLs in the order found, without repeats, and why paging stopped.

    Raises:
        ValueError: If an argument is out of range.
        SearchError: If the first page cannot be had; a later page that fails
            ends the search early with a warning instead.
    """
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"query must be non-empty text such as 'red dress', got {query!r}")
    if not isinstance(api_key, str) or not api_key.strip():
        raise ValueError(f"an API key is needed to search; set {API_KEY_ENVIRONMENT_VARIABLE} or pass one")
    require_whole_number("max_results", max_results, minimum=1)
    require_whole_number("group_size", group_size, minimum=1)
    if group_size > MAX_GROUP_SIZE:
        raise ValueError(f"group_size must be at most {MAX_GROUP_SIZE} (the API's limit), got {group_size}")
    require_seconds("timeout", timeout)
    url = search_url(endpoint)
    found: dict[str, None] = {}
    offset, total, pages = 0, None, 0
    stop_reason = "reached the page limit"
    for pages in range(1, math.ceil(max_results / group_size) + EXTRA_PAGES + 1):
        params = {"q": query, "offset": offset, "count": min(group_size, max_results - len(found))}
        try:
            page = _request_page(session, url, api_key=api_key, params=params, timeout=timeout)
        except SearchError as error:
            if pages == 1:
                raise
            logger.warning("search stopped early: %s", error)
            stop_reason = f"stopped early: {error}"
            break
        new_urls = [image_url for image_url in page.urls if image_url not in found]
        found.update(dict.fromkeys(new_urls[: max_results - len(found)]))
        total = page.total_estimated_matches if page.total_estimated_matches is not None else total
        next_offset = offset + len(page.urls) if page.next_offset is None else page.next_offset
        logger.info("search offset %d: %d results, %d new, %d in all", offset, len(page.urls), len(new_urls), len(found))
        if len(found) >= max_results:
            stop_reason = "reached max_results"
        elif not new_urls:
            stop_reason = "a page brought no new results"
        elif next_offset <= offset:
            stop_reason = f"nextOffset did not advance ({offset} -> {next_offset})"
            logger.warning("search stopped: %s", stop_reason)
        elif next_offset >= max_results:
            stop_reason = "the next offset is past max_results"
        elif total is not None and next_offset >= total:
            stop_reason = "reached totalEstimatedMatches"
        else:
            offset = next_offset
            continue
        break
    return SearchResult(urls=list(found), pages=pages, stop_reason=stop_reason, total_estimated_matches=total)


def read_url_list(path: Path | str) -> list[str]:
    """Read image URLs from a text file, one a line; blank lines and ``#`` comments are skipped.

    Lines that are not http(s) URLs are skipped with a warning.

    Args:
        path: The text file (UTF-8).

    Returns:
        The URLs in file order, without repeats.

    Raises:
        ValueError: If the file cannot be read or holds no http(s) URL.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise ValueError(f"URL list {path} does not exist; pass a text file with one image URL per line") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"URL list {path} is not UTF-8 text; save it as UTF-8, one image URL per line") from error
    except OSError as error:
        raise ValueError(f"cannot read URL list {path}: {error.strerror}; pass a readable text file") from error
    urls = []
    for number, line in enumerate(text.splitlines(), start=1):
        candidate = line.strip()
        if not candidate or candidate.startswith("#"):
            continue
        if is_web_url(candidate):
            urls.append(candidate)
        else:
            logger.warning("%s line %d: %.80r is not an http(s) URL; skipped", path, number, candidate)
    if not urls:
        raise ValueError(f"URL list {path} holds no http(s) URL; put one image URL per line")
    return list(dict.fromkeys(urls))
