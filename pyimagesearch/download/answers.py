"""Reading the providers' JSON answers: the shared checks that name what was found instead."""

import logging

from pyimagesearch.download.search import ImageHit, SearchResponseError
from pyimagesearch.download.web import is_web_url

logger = logging.getLogger(__name__)


def json_type(value: object) -> str:
    """Name ``value``'s JSON type, for error messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def optional_count(payload: dict, key: str, where: str) -> int | None:
    """Return ``payload[key]`` if it is a whole number >= 0 (or such a number as text), None if absent.

    Raises:
        SearchResponseError: For any other value.
    """
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SearchResponseError(f"{where}: {key!r} is {json_type(value)} ({value!r:.40}), expected a whole number >= 0")
    return value


def required_list(payload: object, key: str, where: str, *, missing_ok: bool = False) -> list:
    """Return the list ``payload[key]``; raise `SearchResponseError` naming what was found instead.

    Args:
        payload: The decoded answer.
        key: The field holding the results.
        where: Names the answer in error messages.
        missing_ok: An absent field means no results (Google leaves ``items`` out then).
    """
    if not isinstance(payload, dict):
        raise SearchResponseError(f"{where} is {json_type(payload)}, expected an object with a {key!r} list")
    if key not in payload:
        if missing_ok:
            return []
        raise SearchResponseError(f"{where} has no {key!r} field; expected a list of images there")
    value = payload[key]
    if not isinstance(value, list):
        raise SearchResponseError(f"{where}: {key!r} is {json_type(value)}, expected a list of images")
    return value


def text(item: dict, *keys: str) -> str:
    """The string at ``item[keys[0]][keys[1]]...``, or "" where any step is missing or not text."""
    value: object = item
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value.strip() if isinstance(value, str) else ""


def web_hits(hits: list[ImageHit], where: str) -> list[ImageHit]:
    """Keep the hits whose image URL is http(s), warning about the others."""
    kept = [hit for hit in hits if is_web_url(hit.url)]
    if len(kept) < len(hits):
        logger.warning("%s: skipped %d results without an http(s) image URL", where, len(hits) - len(kept))
    return kept
