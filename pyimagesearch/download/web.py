"""The web side of building a data set: a polite retrying HTTP session and bounded reads."""

import logging
import threading
import time
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
WHOLE_BODY_TIMEOUT_FACTOR = 5  # a trickling server cannot hold a request forever
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_FACTOR = 0.5
# The longest Retry-After waited for. A server asking for longer is not asked again sooner than
# it said (that would be working around its rate limit): the request fails, to be retried by the
# next run.
DEFAULT_MAX_WAIT = 60.0
DEFAULT_POOL_SIZE = 10
MAX_REDIRECTS = 5
RETRY_STATUS_CODES = (429, 500, 502, 503, 504)
CHUNK_SIZE = 64 * 1024
USER_AGENT = "pyimagesearch-dataset-builder/2.0 (search_bing_api.py; python-requests)"

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


class PoliteRetry(Retry):
    """urllib3's retry policy, except that it never comes back sooner than a server asked.

    urllib3 shortens a ``Retry-After`` longer than ``retry_after_max`` to that maximum and
    retries early. Here such an answer is not retried at all: the caller gets it as it is
    (e.g. a 429) and decides. ``max_wait`` is that longest wait, in seconds.
    """

    def __init__(self, *args, max_wait: float = DEFAULT_MAX_WAIT, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait

    def new(self, **kwargs) -> "PoliteRetry":
        retry = super().new(**kwargs)
        retry.max_wait = self.max_wait
        return retry

    def asked_wait(self, response) -> float | None:
        """The seconds a response's ``Retry-After`` asks for, uncapped; None without one."""
        header = response.headers.get("Retry-After") if response is not None else None
        if header is None:
            return None
        uncapped = self.new(retry_after_max=float("inf"))
        return uncapped.parse_retry_after(header)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        wait = self.asked_wait(response) if self.respect_retry_after_header else None
        if wait is not None and wait > self.max_wait:
            reason = ResponseError(f"Retry-After {wait:g} s is longer than the {self.max_wait:g} s waited for")
            raise MaxRetryError(_pool, url, reason)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def build_session(
    *,
    retries: int = DEFAULT_RETRIES,
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
    max_wait: float = DEFAULT_MAX_WAIT,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> requests.Session:
    """Build a ``requests`` session that retries 429 and 5xx answers with backoff.

    Args:
        retries: How many times to retry one request (0 disables retries). Defaults to 3.
        backoff_factor: urllib3's backoff factor in seconds; tests make it tiny. Defaults to 0.5.
        max_wait: The longest ``Retry-After`` waited for, in seconds; an answer asking for
            longer is returned without retrying (see `PoliteRetry`). Defaults to 60.
        pool_size: Connections kept per host; match it to the worker count. Defaults to 10.

    Returns:
        A session whose HTTP and HTTPS adapters carry the retry policy.

    Raises:
        ValueError: If a number is out of range.
    """
    require_whole_number("retries", retries, minimum=0)
    require_whole_number("pool_size", pool_size, minimum=1)
    require_seconds("backoff_factor", backoff_factor, allow_zero=True)
    require_seconds("max_wait", max_wait, allow_zero=True)
    retry = PoliteRetry(
        total=retries,
        status_forcelist=RETRY_STATUS_CODES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff_factor,
        respect_retry_after_header=True,
        retry_after_max=max_wait,
        # The last answer is returned rather than raised, so its status can be reported.
        raise_on_status=False,
        max_wait=max_wait,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.max_redirects = MAX_REDIRECTS
    session.headers["User-Agent"] = USER_AGENT
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
