"""Tests for the image-search providers against fake servers on 127.0.0.1 that answer in each
API's documented format (see docs/download.md): paging, limits, licences, and the error answers
(refused key, 429 with Retry-After, a page beyond the depth limit, empty results, malformed JSON).
"""

import json
import urllib.parse

import pytest
from download_support import (  # noqa: F401 (fixtures)
    KEY,
    httpserver,
    image_files,
    loopback_only,
    loopback_server,
    manifest,
    serve_pictures,
    session,
)
from werkzeug import Response

import search_bing_api
from pyimagesearch.download.providers import PROVIDERS
from pyimagesearch.download.search import Credentials, SearchError, SearchResponseError, search_images
from pyimagesearch.download.web import build_session

OPENVERSE_PATH = "/v1/images/"
BRAVE_PATH = "/res/v1/images/search"
GOOGLE_PATH = "/customsearch/v1"
SEARCH_PATH = "/v7.0/images/search"


def urls(result) -> list[str]:
    return [hit.url for hit in result.hits]


def search(server, session, provider="bing", **options):
    credentials = Credentials(api_key=KEY) if provider in ("bing", "brave") else Credentials()
    options = {"query": "red dress", "credentials": credentials, "endpoint": server.url_for("/"), "timeout": 2.0, **options}
    return search_images(session, PROVIDERS[provider], **options)


def search_answer(urls, **fields) -> dict:
    return {"_type": "Images", "value": [{"contentUrl": url, "hostPageUrl": url + ".html"} for url in urls], **fields}


def expect_search(server, answer, **query) -> None:
    query_string = {key: str(value) for key, value in query.items()} or None
    handler = server.expect_request(SEARCH_PATH, query_string=query_string)
    if isinstance(answer, (dict, list)):
        handler.respond_with_json(answer)
    else:
        handler.respond_with_data(answer, content_type="text/html")


# --- the shared paging core, through the Bing v7 protocol -----------------------------------------


def test_bing_pages_over_several_groups_with_key_and_query(httpserver, session):
    for offset in (0, 3, 6):
        pictures = [f"http://127.0.0.1/{offset + index}.jpg" for index in range(3)]
        count = 1 if offset == 6 else 3
        answer = search_answer(pictures, totalEstimatedMatches=100, nextOffset=offset + 3)
        expect_search(httpserver, answer, q="red dress", offset=offset, count=count)

    result = search(httpserver, session, max_results=7, page_size=3)

    assert urls(result) == [f"http://127.0.0.1/{index}.jpg" for index in range(7)]
    assert result.pages == 3
    assert result.stop_reason == "reached max_results"
    offsets = [request.args["offset"] for request, _ in httpserver.log]
    assert offsets == ["0", "3", "6"]
    assert all(request.headers["Ocp-Apim-Subscription-Key"] == KEY for request, _ in httpserver.log)


def test_bing_retries_after_a_server_error(httpserver, session):
    httpserver.expect_oneshot_request(SEARCH_PATH).respond_with_data("busy", status=500)
    expect_search(httpserver, search_answer(["http://127.0.0.1/a.jpg"], totalEstimatedMatches=1))

    result = search(httpserver, session)

    assert urls(result) == ["http://127.0.0.1/a.jpg"]
    assert len(httpserver.log) == 2


def test_bing_stops_when_next_offset_does_not_advance(httpserver, session):
    calls = iter(range(100))

    def stuck(request):
        index = next(calls)
        return Response(json.dumps(search_answer([f"http://127.0.0.1/{index}.jpg"], nextOffset=5)), content_type="application/json")

    httpserver.expect_request(SEARCH_PATH).respond_with_handler(stuck)

    result = search(httpserver, session, max_results=50, page_size=1)

    assert len(httpserver.log) == 2
    assert urls(result) == ["http://127.0.0.1/0.jpg", "http://127.0.0.1/1.jpg"]
    assert "did not advance" in result.stop_reason


def test_bing_stops_when_a_page_brings_nothing_new(httpserver, session):
    same = [f"http://127.0.0.1/{index}.jpg" for index in range(3)]
    expect_search(httpserver, search_answer(same))

    result = search(httpserver, session, max_results=50, page_size=3)

    assert urls(result) == same
    assert len(httpserver.log) == 2


def test_bing_stops_at_total_estimated_matches(httpserver, session):
    for offset in (0, 3):
        pictures = [f"http://127.0.0.1/{offset + index}.jpg" for index in range(3)]
        expect_search(httpserver, search_answer(pictures, totalEstimatedMatches=5), q="red dress", offset=offset, count=3)

    result = search(httpserver, session, max_results=100, page_size=3)

    assert len(urls(result)) == 6
    assert result.stop_reason == "reached the reported total"


def test_bing_page_budget_ends_slowly_advancing_offsets(httpserver, session):
    def one_new_url(request):
        offset = int(request.args["offset"])
        answer = search_answer([f"http://127.0.0.1/{offset}.jpg"], nextOffset=offset + 1)
        return Response(json.dumps(answer), content_type="application/json")

    httpserver.expect_request(SEARCH_PATH).respond_with_handler(one_new_url)

    result = search(httpserver, session, max_results=6, page_size=3)

    assert len(httpserver.log) == 2 + 3  # ceil(6 / 3) pages and the slack of three
    assert result.stop_reason == "reached the page limit"


def test_bing_skips_items_without_a_content_url(httpserver, session):
    items = [{"contentUrl": "http://127.0.0.1/a.jpg"}, {"name": "no url"}, {"contentUrl": 7}, "junk", {"contentUrl": "ftp://x/y"}]
    expect_search(httpserver, {"value": items})

    assert urls(search(httpserver, session)) == ["http://127.0.0.1/a.jpg"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("<html>maintenance</html>", "is not JSON"),
        ([1, 2], "is an array, expected an object"),
        ({"images": []}, "has no 'value' field"),
        ({"value": {"contentUrl": "http://127.0.0.1/a.jpg"}}, "'value' is an object, expected a list"),
        (search_answer([], totalEstimatedMatches=-1), "'totalEstimatedMatches' is a number"),
        (search_answer([], totalEstimatedMatches="many"), "'totalEstimatedMatches' is a string"),
        (search_answer([], nextOffset=True), "'nextOffset' is a boolean"),
        (search_answer([], nextOffset=2.5), "'nextOffset' is a number"),
        ({"_type": "ErrorResponse", "errors": [{"message": "quota exceeded"}]}, "the endpoint says: quota exceeded"),
    ],
    ids=[
        "not-json",
        "array",
        "no-value",
        "value-not-list",
        "negative-total",
        "string-total",
        "bool-offset",
        "float-offset",
        "error-response",
    ],
)
def test_bing_rejects_malformed_answers_clearly(httpserver, session, answer, message):
    expect_search(httpserver, answer)

    with pytest.raises(SearchResponseError, match=message) as caught:
        search(httpserver, session)

    assert isinstance(caught.value, ValueError)
    assert len(httpserver.log) == 1


def test_bing_keeps_urls_found_when_a_later_page_is_malformed(httpserver, session):
    expect_search(httpserver, search_answer(["http://127.0.0.1/a.jpg"], nextOffset=1), q="red dress", offset=0, count=1)
    expect_search(httpserver, "<html>oops</html>", q="red dress", offset=1, count=1)

    result = search(httpserver, session, max_results=10, page_size=1)

    assert urls(result) == ["http://127.0.0.1/a.jpg"]
    assert "is not JSON" in result.stop_reason


def test_bing_reports_a_refused_key(httpserver, session):
    httpserver.expect_request(SEARCH_PATH).respond_with_json({"errors": [{"message": "bad key"}]}, status=401)

    with pytest.raises(SearchError, match="bing refused the subscription key"):
        search(httpserver, session)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_results": 0}, "max_results must be a whole number of at least 1, got 0"),
        ({"license_filter": "free"}, "license_filter must be one of any, public-domain"),
        ({"page_size": 151}, "page_size must be at most 150 for bing"),
        ({"query": "  "}, "query must be non-empty"),
        ({"endpoint": "api.example"}, "endpoint must be an http"),
        ({"credentials": Credentials()}, "bing needs a subscription key"),
        ({"timeout": -1}, "timeout must be a number of seconds greater than 0"),
    ],
    ids=["max-results", "licence", "page-size", "query", "endpoint", "key", "timeout"],
)
def test_bing_rejects_bad_arguments_before_any_request(httpserver, session, options, message):
    with pytest.raises(ValueError, match=message):
        search(httpserver, session, **options)
    assert httpserver.log == []


# --- Openverse ---------------------------------------------------------------------------------------


def openverse_result(url: str, number: int) -> dict:
    return {
        "id": f"id-{number}",
        "title": f"Red dress {number}",
        "url": url,
        "foreign_landing_url": f"https://www.flickr.com/photos/someone/{number}",
        "creator": f"Photographer {number}",
        "creator_url": "https://www.flickr.com/photos/someone",
        "license": "by-sa",
        "license_version": "2.0",
        "license_url": "https://creativecommons.org/licenses/by-sa/2.0/",
        "provider": "flickr",
        "source": "flickr",
        "attribution": f'"Red dress {number}" by Photographer {number} is licensed under CC BY-SA 2.0.',
        "filetype": "png",
        "tags": [],
        "mature": False,
    }


def openverse_page(urls: list[str], page: int, page_size: int, result_count: int) -> dict:
    """An answer as Openverse's paginated serializer writes it (api/api/utils/pagination.py)."""
    page_count = min(20, -(-result_count // page_size))
    results = [openverse_result(url, (page - 1) * page_size + index) for index, url in enumerate(urls)]
    return {"result_count": result_count, "page_count": page_count, "page_size": page_size, "page": page, "results": results}


def openverse_server(server, pictures: list[str], *, depth: int = 20, max_anonymous: int = 20):
    """A fake Openverse answering its documented paging, limits and validation errors."""

    def answer(request):
        page, page_size = int(request.args.get("page", 1)), int(request.args.get("page_size", 20))
        if page_size > max_anonymous and "Authorization" not in request.headers:
            body = {"detail": f"Ensure this value is less than or equal to {max_anonymous}."}
            return Response(json.dumps(body), status=401, content_type="application/json")
        if page > depth:
            body = {"detail": {"page": [f"Ensure this value is less than or equal to {depth}."]}}
            return Response(json.dumps(body), status=400, content_type="application/json")
        chunk = pictures[(page - 1) * page_size : page * page_size]
        return Response(json.dumps(openverse_page(chunk, page, page_size, len(pictures))), content_type="application/json")

    server.expect_request(OPENVERSE_PATH).respond_with_handler(answer)


def search_requests(server, path=OPENVERSE_PATH):
    return [request for request, _ in server.log if request.path == path]


def test_openverse_pages_anonymously_with_its_page_size_and_keeps_licences(httpserver, session):
    pictures = [f"http://127.0.0.1/{index}.jpg" for index in range(45)]
    openverse_server(httpserver, pictures)

    result = search(httpserver, session, "openverse", max_results=100)

    assert urls(result) == pictures
    asked = [(request.args["page"], request.args["page_size"]) for request in search_requests(httpserver)]
    assert asked == [("1", "20"), ("2", "20"), ("3", "20")]
    assert all("Authorization" not in request.headers for request in search_requests(httpserver))
    assert result.stop_reason == "no further page" and result.total == 45
    first = result.hits[0]
    assert (first.page_url, first.creator, first.license, first.license_version) == (
        "https://www.flickr.com/photos/someone/0",
        "Photographer 0",
        "by-sa",
        "2.0",
    )
    assert first.license_url == "https://creativecommons.org/licenses/by-sa/2.0/"
    assert first.attribution.startswith('"Red dress 0" by Photographer 0')


def test_openverse_token_is_a_bearer_header_and_allows_larger_pages(httpserver, session):
    pictures = [f"http://127.0.0.1/{index}.jpg" for index in range(150)]
    openverse_server(httpserver, pictures)

    result = search(httpserver, session, "openverse", credentials=Credentials(api_key="token"), max_results=150)

    assert len(result.hits) == 150
    (request,) = search_requests(httpserver)
    assert request.headers["Authorization"] == "Bearer token" and request.args["page_size"] == "150"


def test_openverse_anonymous_page_size_beyond_its_limit_is_refused_before_any_request(httpserver, session):
    with pytest.raises(ValueError, match="page_size must be at most 20 for openverse"):
        search(httpserver, session, "openverse", page_size=21)
    assert httpserver.log == []


def test_openverse_never_asks_beyond_its_page_depth(httpserver, session):
    pictures = [f"http://127.0.0.1/{index}.jpg" for index in range(50)]
    openverse_server(httpserver, pictures)

    result = search(httpserver, session, "openverse", max_results=50, page_size=2)

    assert len(search_requests(httpserver)) == 20  # pages 1-20; the server answers 400 beyond
    assert len(result.hits) == 40
    assert result.stop_reason == "reached openverse's depth limit"


def test_openverse_page_beyond_a_servers_depth_ends_the_search_keeping_what_was_found(httpserver, session):
    pictures = [f"http://127.0.0.1/{index}.jpg" for index in range(50)]
    openverse_server(httpserver, pictures, depth=2)  # a compatible server with a lower limit

    result = search(httpserver, session, "openverse", max_results=50, page_size=10)

    assert len(result.hits) == 20
    assert "HTTP 400: page: Ensure this value is less than or equal to 2." in result.stop_reason


def test_openverse_refused_token_is_reported(httpserver, session):
    httpserver.expect_request(OPENVERSE_PATH).respond_with_json({"detail": "Invalid token."}, status=401)

    with pytest.raises(
        SearchError, match=r"openverse refused the access token \(HTTP 401: Invalid token.\); check the key \(or OPENVERSE_API_TOKEN\)"
    ):
        search(httpserver, session, "openverse", credentials=Credentials(api_key="expired"))


def test_openverse_rate_limit_longer_than_max_wait_is_not_retried_and_says_what_to_do(httpserver):
    throttled = {"detail": "Request was throttled. Expected available in 720 seconds."}
    httpserver.expect_request(OPENVERSE_PATH).respond_with_json(throttled, status=429, headers={"Retry-After": "720"})

    with build_session(retries=3, max_wait=60) as polite, pytest.raises(SearchError) as caught:
        search(httpserver, polite, "openverse")

    message = str(caught.value)
    assert "openverse's rate limit was reached (HTTP 429: Request was throttled." in message
    assert "it asks to wait 720 s" in message and "pass an Openverse access token (OPENVERSE_API_TOKEN)" in message
    assert len(httpserver.log) == 1


def test_openverse_short_retry_after_is_waited_for_and_retried(httpserver, session):
    httpserver.expect_oneshot_request(OPENVERSE_PATH).respond_with_json({"detail": "throttled"}, status=429, headers={"Retry-After": "1"})
    openverse_server(httpserver, ["http://127.0.0.1/a.jpg"])

    result = search(httpserver, session, "openverse")

    assert urls(result) == ["http://127.0.0.1/a.jpg"]
    assert len(httpserver.log) == 2


def test_openverse_rate_limit_on_a_later_page_keeps_what_was_found(httpserver):
    pictures = [f"http://127.0.0.1/{index}.jpg" for index in range(40)]
    httpserver.expect_request(OPENVERSE_PATH, query_string={"q": "red dress", "page": "1", "page_size": "20"}).respond_with_json(
        openverse_page(pictures[:20], 1, 20, 40)
    )
    httpserver.expect_request(OPENVERSE_PATH).respond_with_json({"detail": "throttled"}, status=429, headers={"Retry-After": "3600"})

    with build_session(retries=1, max_wait=1) as polite:
        result = search(httpserver, polite, "openverse", max_results=40)

    assert urls(result) == pictures[:20]
    assert "rate limit" in result.stop_reason


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ('{"results": [', "is not JSON"),
        ({"result_count": 3}, "has no 'results' field"),
        ({"results": {"url": "x"}}, "'results' is an object, expected a list"),
        ({"results": [], "page_count": -1}, "'page_count' is a number"),
    ],
    ids=["truncated-json", "no-results", "results-not-list", "negative-page-count"],
)
def test_openverse_malformed_answer_is_a_clear_error(httpserver, session, answer, message):
    if isinstance(answer, dict):
        httpserver.expect_request(OPENVERSE_PATH).respond_with_json(answer)
    else:
        httpserver.expect_request(OPENVERSE_PATH).respond_with_data(answer, content_type="application/json")

    with pytest.raises(SearchResponseError, match=message):
        search(httpserver, session, "openverse")


def test_openverse_empty_results_end_the_search(httpserver, session):
    httpserver.expect_request(OPENVERSE_PATH).respond_with_json(openverse_page([], 1, 20, 0))

    result = search(httpserver, session, "openverse")

    assert result.hits == [] and result.pages == 1


@pytest.mark.parametrize(
    ("license_filter", "parameters"),
    [
        ("public-domain", {"license": "cc0,pdm"}),
        ("commercial", {"license_type": "commercial"}),
        ("commercial-modification", {"license_type": "commercial,modification"}),
    ],
)
def test_openverse_licence_filter_is_its_license_parameters(httpserver, session, license_filter, parameters):
    openverse_server(httpserver, ["http://127.0.0.1/a.jpg"])

    search(httpserver, session, "openverse", license_filter=license_filter)

    (request,) = search_requests(httpserver)
    assert {key: request.args[key] for key in parameters} == parameters


def test_tutorial_command_needs_no_key_and_records_licences(httpserver, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENVERSE_API_TOKEN", raising=False)
    pictures = serve_pictures(httpserver, 3)
    openverse_server(httpserver, pictures)
    output = tmp_path / "dataset" / "red_dress"

    # The tutorial's first step; --endpoint only points it at the fake Openverse.
    code = search_bing_api.main(["--query", "red dress", "--output", str(output), "--endpoint", httpserver.url_for("/")])

    assert code == 0
    assert image_files(output) == ["00000000.png", "00000001.png", "00000002.png"]
    (request,) = search_requests(httpserver)
    assert request.args["q"] == "red dress" and "Authorization" not in request.headers
    entry = manifest(output)[0]
    assert entry["url"] == pictures[0] and entry["provider"] == "openverse"
    assert (entry["page_url"], entry["license"], entry["license_version"], entry["creator"]) == (
        "https://www.flickr.com/photos/someone/0",
        "by-sa",
        "2.0",
        "Photographer 0",
    )


# --- Brave ------------------------------------------------------------------------------------------------


def brave_answer(pictures: list[str]) -> dict:
    """An answer as documented: ImageSearchApiResponse with ImageResult items."""
    results = [
        {
            "type": "image_result",
            "title": f"Red dress {index}",
            "url": f"https://shop.example/dress/{index}",
            "source": "shop.example",
            "page_fetched": "2025-09-15T10:30:00Z",
            "thumbnail": {"src": f"https://imgs.search.brave.com/{index}"},
            "properties": {"url": url, "placeholder": f"https://imgs.search.brave.com/p/{index}"},
            "meta_url": {"scheme": "https", "netloc": "shop.example", "hostname": "shop.example", "path": "/dress"},
            "confidence": "high",
        }
        for index, url in enumerate(pictures)
    ]
    return {
        "type": "images",
        "query": {"original": "red dress", "spellcheck_off": False},
        "results": results,
        "extra": {"might_be_offensive": False},
    }


def test_brave_asks_once_with_the_token_header_and_reads_image_and_page_urls(httpserver, session):
    pictures = [f"http://127.0.0.1/{index}.jpg" for index in range(5)]
    httpserver.expect_request(BRAVE_PATH).respond_with_json(brave_answer(pictures))

    result = search(httpserver, session, "brave", max_results=500)

    assert urls(result) == pictures
    assert result.hits[1].page_url == "https://shop.example/dress/1" and result.hits[1].provider == "brave"
    (request,) = search_requests(httpserver, BRAVE_PATH)
    assert request.headers["X-Subscription-Token"] == KEY
    assert request.args["count"] == "200"  # its documented maximum: one request is the whole answer
    assert result.stop_reason == "no further page"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            422,
            {
                "type": "ErrorResponse",
                "error": {
                    "id": "x",
                    "status": 422,
                    "code": "SUBSCRIPTION_TOKEN_INVALID",
                    "detail": "The provided subscription token is invalid.",
                    "meta": {"component": "authentication"},
                },
            },
        ),
        (401, {"type": "ErrorResponse", "error": {"status": 401, "code": "UNAUTHORIZED", "detail": "Unauthorized"}}),
        (403, {"type": "ErrorResponse", "error": {"status": 403, "code": "FORBIDDEN", "detail": "Plan does not include images"}}),
    ],
    ids=["invalid-token", "401", "403"],
)
def test_brave_refused_token_is_reported(httpserver, session, status, body):
    httpserver.expect_request(BRAVE_PATH).respond_with_json(body, status=status)

    with pytest.raises(
        SearchError, match=r"brave refused the subscription token \(HTTP \d+: .+\); check the key \(or BRAVE_SEARCH_API_KEY\)"
    ):
        search(httpserver, session, "brave")


def test_brave_rate_limit_reports_the_wait(httpserver):
    body = {"type": "ErrorResponse", "error": {"status": 429, "code": "RATE_LIMITED", "detail": "Request rate limit exceeded"}}
    httpserver.expect_request(BRAVE_PATH).respond_with_json(
        body, status=429, headers={"Retry-After": "120", "X-RateLimit-Reset": "1, 2000"}
    )

    with (
        build_session(retries=2, max_wait=5) as polite,
        pytest.raises(SearchError, match="brave's rate limit was reached .*it asks to wait 120 s"),
    ):
        search(httpserver, polite, "brave")
    assert len(httpserver.log) == 1


def test_brave_empty_and_malformed_answers(httpserver, session):
    httpserver.expect_oneshot_request(BRAVE_PATH).respond_with_json(brave_answer([]))
    httpserver.expect_oneshot_request(BRAVE_PATH).respond_with_json({"type": "images"})

    assert search(httpserver, session, "brave").hits == []
    with pytest.raises(SearchResponseError, match="has no 'results' field"):
        search(httpserver, session, "brave")


# --- Google ------------------------------------------------------------------------------------------------


def google_server(server, pictures: list[str]):
    """A fake Custom Search JSON API: image items, queries.nextPage, and its errors."""

    def answer(request):
        start, num = int(request.args.get("start", 1)), int(request.args.get("num", 10))
        if request.args.get("searchType") != "image" or num > 10 or start + num > 100:
            body = {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}
            return Response(json.dumps(body), status=400, content_type="application/json")
        chunk = pictures[start - 1 : start - 1 + num]
        body = {
            "kind": "customsearch#search",
            "searchInformation": {"totalResults": str(len(pictures))},
            "queries": {"request": [{"startIndex": start, "count": num}]},
        }
        if chunk:
            body["items"] = [
                {
                    "kind": "customsearch#result",
                    "title": f"Dress {start + index}",
                    "link": url,
                    "displayLink": "shop.example",
                    "mime": "image/jpeg",
                    "image": {"contextLink": f"https://shop.example/{start + index}", "height": 600, "width": 400},
                }
                for index, url in enumerate(chunk)
            ]
        if start + num <= len(pictures):
            body["queries"]["nextPage"] = [{"startIndex": start + num, "count": num}]
        return Response(json.dumps(body), content_type="application/json")

    server.expect_request(GOOGLE_PATH).respond_with_handler(answer)


def test_google_pages_by_start_and_never_passes_start_plus_num_100(httpserver, session):
    pictures = [f"http://127.0.0.1/{index}.jpg" for index in range(300)]
    google_server(httpserver, pictures)
    credentials = Credentials(api_key=KEY, engine_id="engine")

    result = search(httpserver, session, "google", credentials=credentials, max_results=250)

    requests = search_requests(httpserver, GOOGLE_PATH)
    assert [(request.args["start"], request.args["num"]) for request in requests][-2:] == [("81", "10"), ("91", "9")]
    assert all(
        request.args["key"] == KEY and request.args["cx"] == "engine" and request.args["searchType"] == "image" for request in requests
    )
    assert urls(result) == pictures[:99]
    assert result.hits[0].page_url == "https://shop.example/1"


def test_google_without_items_is_an_empty_search(httpserver, session):
    google_server(httpserver, [])

    assert search(httpserver, session, "google", credentials=Credentials(api_key=KEY, engine_id="engine")).hits == []


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
                }
            },
        ),
        (
            403,
            {
                "error": {
                    "code": 403,
                    "message": "This project does not have the access to Custom Search JSON API.",
                    "status": "PERMISSION_DENIED",
                }
            },
        ),
    ],
    ids=["invalid-key", "no-access"],
)
def test_google_refused_key_is_reported(httpserver, session, status, body):
    httpserver.expect_request(GOOGLE_PATH).respond_with_json(body, status=status)

    with pytest.raises(SearchError, match=r"google refused the API key \(HTTP \d+: .+\); check the key \(or GOOGLE_SEARCH_API_KEY\)"):
        search(httpserver, session, "google", credentials=Credentials(api_key=KEY, engine_id="engine"))


def test_google_daily_quota_is_a_rate_limit(httpserver, session):
    body = {
        "error": {
            "code": 429,
            "message": "Quota exceeded for quota metric 'Queries' and limit 'Queries per day'",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    httpserver.expect_request(GOOGLE_PATH).respond_with_json(body, status=429)

    with build_session(retries=0) as no_retries, pytest.raises(SearchError, match="google's rate limit was reached .*Queries per day"):
        search(httpserver, no_retries, "google", credentials=Credentials(api_key=KEY, engine_id="engine"))


def test_google_licence_filter_is_its_rights_parameter(httpserver, session):
    google_server(httpserver, ["http://127.0.0.1/a.jpg"])

    search(httpserver, session, "google", credentials=Credentials(api_key=KEY, engine_id="e"), license_filter="commercial")

    (request,) = search_requests(httpserver, GOOGLE_PATH)
    assert urllib.parse.unquote(request.args["rights"]) == "(cc_publicdomain|cc_attribute|cc_sharealike|cc_nonderived).-(cc_noncommercial)"


def test_cli_bing_uses_the_key_from_the_environment(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("BING_SEARCH_V7_SUBSCRIPTION_KEY", KEY)
    pictures = serve_pictures(httpserver, 3)
    expect_search(httpserver, search_answer(pictures, totalEstimatedMatches=3))
    output = tmp_path / "dataset" / "red_dress"

    code = search_bing_api.main(
        ["--query", "red dress", "--output", str(output), "--provider", "bing", "--endpoint", httpserver.url_for("/")]
    )

    assert code == 0
    assert image_files(output) == ["00000000.png", "00000001.png", "00000002.png"]
    (request,) = search_requests(httpserver, SEARCH_PATH)
    assert request.headers["Ocp-Apim-Subscription-Key"] == KEY and request.args["q"] == "red dress"
