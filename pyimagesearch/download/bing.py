"""The Bing Image Search v7 protocol, for compatible or self-hosted endpoints.

Microsoft retired the Bing Search APIs on 2025-08-11, so there is no default endpoint. As
documented for v7 (learn.microsoft.com, Image Search API v7 reference; see docs/download.md):
``GET {endpoint}/v7.0/images/search?q=&offset=&count=`` with the key in the
``Ocp-Apim-Subscription-Key`` header; ``count`` at most 150; the answer's ``value[].contentUrl``,
``hostPageUrl``, ``totalEstimatedMatches`` and ``nextOffset``; ``license`` filters by licence.
"""

from pyimagesearch.download.answers import optional_count, required_list, text, web_hits
from pyimagesearch.download.search import Credentials, ImageHit, PageRequest, SearchPage, SearchProvider, SearchResponseError

MAX_COUNT = 150
SEARCH_PATH = "/v7.0/images/search"


class Bing(SearchProvider):
    """A Bing Image Search v7 compatible endpoint (``--endpoint``)."""

    name = "bing"
    search_path = SEARCH_PATH
    key_name = "subscription key"
    key_variable = "BING_SEARCH_V7_SUBSCRIPTION_KEY"
    license_parameters = {
        "public-domain": {"license": "Public"},
        "commercial": {"license": "ShareCommercially"},
        "modification": {"license": "Modify"},
        "commercial-modification": {"license": "ModifyCommercially"},
    }

    def max_page_size(self, credentials: Credentials) -> int:
        return MAX_COUNT

    def page_request(self, url: str, query: str, offset: int, count: int, credentials: Credentials, license_filter: str) -> PageRequest:
        return PageRequest(url, {"q": query, "offset": offset, "count": count}, {"Ocp-Apim-Subscription-Key": credentials.api_key})

    def parse_page(self, payload: object, offset: int, count: int, where: str) -> SearchPage:
        if isinstance(payload, dict) and "value" not in payload and self.error_detail(payload):
            raise SearchResponseError(f"{where} has no 'value' field (the endpoint says: {self.error_detail(payload)})")
        value = required_list(payload, "value", where)
        hits = [
            ImageHit(url=text(item, "contentUrl"), page_url=text(item, "hostPageUrl"), title=text(item, "name"), provider=self.name)
            for item in value
            if isinstance(item, dict)
        ]
        next_offset = optional_count(payload, "nextOffset", where)
        return SearchPage(
            hits=web_hits(hits, where),
            total=optional_count(payload, "totalEstimatedMatches", where),
            next_offset=offset + len(value) if next_offset is None else next_offset,
        )

    def error_detail(self, payload: object) -> str:
        if not isinstance(payload, dict):
            return ""
        errors = payload.get("errors") if isinstance(payload.get("errors"), list) else [payload.get("error")]
        return "; ".join(text(item, "message") for item in errors if isinstance(item, dict) and text(item, "message"))
