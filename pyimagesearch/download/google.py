"""Google's Programmable Search (Custom Search JSON API) with ``searchType=image``.

Documented (developers.google.com/custom-search/v1, cse.list and overview; see docs/download.md):
``GET /customsearch/v1?key=&cx=&q=&searchType=image&start=&num=``; ``num`` at most 10, and the
API "will never return more than 100 results": ``start + num`` above 100 is an error, so one
query reaches at most 99 results here. 100 queries a day are free. ``rights`` filters by licence.
The API is closed to new customers and is to be shut down on 2027-01-01.
"""

from pyimagesearch.download.answers import optional_count, required_list, text, web_hits
from pyimagesearch.download.search import Credentials, ImageHit, PageRequest, SearchPage, SearchProvider

MAX_NUM = 10
MAX_START_PLUS_NUM = 100


class Google(SearchProvider):
    """The Custom Search JSON API, image search."""

    name = "google"
    default_endpoint = "https://customsearch.googleapis.com"
    search_path = "/customsearch/v1"
    key_variable = "GOOGLE_SEARCH_API_KEY"
    engine_id_variable = "GOOGLE_SEARCH_ENGINE_ID"
    # Google's "typical combinations" of rights values for the licence filters.
    license_parameters = {
        "public-domain": {"rights": "cc_publicdomain"},
        "commercial": {"rights": "(cc_publicdomain|cc_attribute|cc_sharealike|cc_nonderived).-(cc_noncommercial)"},
        "modification": {"rights": "(cc_publicdomain|cc_attribute|cc_sharealike|cc_noncommercial).-(cc_nonderived)"},
        "commercial-modification": {"rights": "(cc_publicdomain|cc_attribute|cc_sharealike).-(cc_noncommercial|cc_nonderived)"},
    }

    def max_page_size(self, credentials: Credentials) -> int:
        return MAX_NUM

    def max_depth(self, page_size: int, credentials: Credentials) -> int | None:
        return MAX_START_PLUS_NUM - 1  # start is 1-based: results 1..99 keep start + num <= 100

    def page_request(self, url: str, query: str, offset: int, count: int, credentials: Credentials, license_filter: str) -> PageRequest:
        params = {
            "key": credentials.api_key,
            "cx": credentials.engine_id,
            "q": query,
            "searchType": "image",
            "start": offset + 1,
            "num": count,
        }
        return PageRequest(url, params)

    def parse_page(self, payload: object, offset: int, count: int, where: str) -> SearchPage:
        items = required_list(payload, "items", where, missing_ok=True)  # absent when nothing matched
        hits = [
            ImageHit(url=text(item, "link"), page_url=text(item, "image", "contextLink"), title=text(item, "title"), provider=self.name)
            for item in items
            if isinstance(item, dict)
        ]
        information = payload.get("searchInformation")
        total = optional_count(information, "totalResults", where) if isinstance(information, dict) else None
        next_pages = payload.get("queries", {}).get("nextPage") if isinstance(payload.get("queries"), dict) else None
        next_start = optional_count(next_pages[0], "startIndex", where) if next_pages and isinstance(next_pages[0], dict) else None
        return SearchPage(hits=web_hits(hits, where), total=total, next_offset=next_start - 1 if next_start else None)

    def error_detail(self, payload: object) -> str:
        error = payload.get("error") if isinstance(payload, dict) else None
        return text(error, "message") if isinstance(error, dict) else ""

    def refused_key(self, status: int, payload: object) -> bool:
        # A wrong key is answered 400 with the reason API_KEY_INVALID, a key without access 403.
        error = payload.get("error") if isinstance(payload, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        reasons = {text(detail, "reason") for detail in details if isinstance(detail, dict)} if isinstance(details, list) else set()
        return status in (401, 403) or (status == 400 and "API_KEY_INVALID" in reasons)
