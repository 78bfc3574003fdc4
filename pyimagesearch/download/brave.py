"""Brave Search's image search API: web images, a subscription token needed.

Documented (api-dashboard.search.brave.com, Image search reference and response headers; see
docs/download.md): ``GET /res/v1/images/search?q=&count=`` with the token in the
``X-Subscription-Token`` header; ``count`` at most 200 (default 50), and no offset: one request is
the whole answer. An invalid token is answered 422 ``SUBSCRIPTION_TOKEN_INVALID``; a plan's rate
limit 429, with ``X-RateLimit-*`` headers. Results carry no licence: the images belong to their
owners.
"""

from pyimagesearch.download.answers import required_list, text, web_hits
from pyimagesearch.download.search import Credentials, ImageHit, PageRequest, SearchPage, SearchProvider

MAX_COUNT = 200


class Brave(SearchProvider):
    """The Brave Search API image endpoint."""

    name = "brave"
    default_endpoint = "https://api.search.brave.com"
    search_path = "/res/v1/images/search"
    key_name = "subscription token"
    key_variable = "BRAVE_SEARCH_API_KEY"

    def max_page_size(self, credentials: Credentials) -> int:
        return MAX_COUNT

    def max_depth(self, page_size: int, credentials: Credentials) -> int | None:
        return MAX_COUNT

    def page_request(self, url: str, query: str, offset: int, count: int, credentials: Credentials, license_filter: str) -> PageRequest:
        headers = {"X-Subscription-Token": credentials.api_key, "Accept": "application/json"}
        return PageRequest(url, {"q": query, "count": count, "safesearch": "strict"}, headers)

    def parse_page(self, payload: object, offset: int, count: int, where: str) -> SearchPage:
        results = required_list(payload, "results", where)
        hits = [
            ImageHit(url=text(item, "properties", "url"), page_url=text(item, "url"), title=text(item, "title"), provider=self.name)
            for item in results
            if isinstance(item, dict)
        ]
        return SearchPage(hits=web_hits(hits, where), next_offset=None)

    def error_detail(self, payload: object) -> str:
        error = payload.get("error") if isinstance(payload, dict) else None
        return text(error, "detail") or text(error, "code") if isinstance(error, dict) else ""

    def refused_key(self, status: int, payload: object) -> bool:
        error = payload.get("error") if isinstance(payload, dict) else None
        code = text(error, "code") if isinstance(error, dict) else ""
        return status in (401, 403) or (status == 422 and code == "SUBSCRIPTION_TOKEN_INVALID")
