"""Openverse (api.openverse.org): openly licensed images, no key needed for small searches.

Documented limits (WordPress/openverse, api/conf/settings/misc.py, api/api/serializers/
media_serializers.py, documentation/api/user/rate_limits.md and authentication.md; see
docs/download.md): ``page_size`` at most 20 without a token (a larger one is answered 401) and
500 with one; ``page`` at most 20 (a deeper one is answered 400); anonymous requests are
throttled (100 a day and 5 an hour as documented; 10,000 a day and 100 a minute with a token),
answered 429 with ``Retry-After`` when exceeded. A token is an OAuth2 access token sent as
``Authorization: Bearer``. Openverse's terms forbid scraping its catalogue and working around its
limits: this adapter stays inside them.
"""

from pyimagesearch.download.answers import optional_count, required_list, text, web_hits
from pyimagesearch.download.search import Credentials, ImageHit, PageRequest, SearchPage, SearchProvider

ANONYMOUS_PAGE_SIZE = 20
AUTHENTICATED_PAGE_SIZE = 500
MAX_PAGE = 20


class Openverse(SearchProvider):
    """The Openverse API v1 image search: ``GET /v1/images/?q=&page=&page_size=``."""

    name = "openverse"
    default_endpoint = "https://api.openverse.org"
    search_path = "/v1/images/"
    key_name = "access token"
    key_required = False
    key_variable = "OPENVERSE_API_TOKEN"
    numbered_pages = True
    # Openverse's own licence groups (api/api/constants/licenses.py): "commercial" leaves out NC
    # licences, "modification" ND ones; cc0 and pdm are the public-domain marks.
    license_parameters = {
        "public-domain": {"license": "cc0,pdm"},
        "commercial": {"license_type": "commercial"},
        "modification": {"license_type": "modification"},
        "commercial-modification": {"license_type": "commercial,modification"},
    }

    def max_page_size(self, credentials: Credentials) -> int:
        return AUTHENTICATED_PAGE_SIZE if credentials.api_key else ANONYMOUS_PAGE_SIZE

    def max_depth(self, page_size: int, credentials: Credentials) -> int | None:
        return MAX_PAGE * page_size

    def page_request(self, url: str, query: str, offset: int, count: int, credentials: Credentials, license_filter: str) -> PageRequest:
        headers = {"Authorization": f"Bearer {credentials.api_key}"} if credentials.api_key else {}
        return PageRequest(url, {"q": query, "page": offset // count + 1, "page_size": count}, headers)

    def parse_page(self, payload: object, offset: int, count: int, where: str) -> SearchPage:
        results = required_list(payload, "results", where)
        hits = [
            ImageHit(
                url=text(item, "url"),
                page_url=text(item, "foreign_landing_url"),
                title=text(item, "title"),
                creator=text(item, "creator"),
                license=text(item, "license"),
                license_version=text(item, "license_version"),
                license_url=text(item, "license_url"),
                attribution=text(item, "attribution"),
                provider=self.name,
            )
            for item in results
            if isinstance(item, dict)
        ]
        page = offset // count + 1
        page_count = optional_count(payload, "page_count", where)
        more = page < MAX_PAGE and (page_count is None or page < page_count)
        return SearchPage(
            hits=web_hits(hits, where),
            total=optional_count(payload, "result_count", where),
            next_offset=offset + count if more else None,
        )

    def error_detail(self, payload: object) -> str:
        detail = payload.get("detail") if isinstance(payload, dict) else None
        if isinstance(detail, dict):  # validation errors: {"detail": {"page": ["Ensure ..."]}}
            return "; ".join(
                f"{name}: {' '.join(map(str, problems if isinstance(problems, list) else [problems]))}" for name, problems in detail.items()
            )
        return str(detail) if detail else ""

    def refused_key(self, status: int, payload: object) -> bool:
        return status in (401, 403)

    def rate_limit_hint(self, credentials: Credentials) -> str:
        if credentials.api_key:
            return ""
        return f", or pass an Openverse access token ({self.key_variable}) for higher limits"
