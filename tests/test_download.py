"""Tests for building a data set from an image search or a URL list (search_bing_api.py).

A real HTTP server on 127.0.0.1 plays the Bing Image Search v7 endpoint and the
image hosts; the images are real, made here with OpenCV and Pillow. A guard
refuses any connection that would leave the loopback interface.
"""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import urllib3.util.connection
from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Response

import search_bing_api
from pyimagesearch.atomic import atomic_path
from pyimagesearch.download import MANIFEST_NAME, DatasetFolder, download_images
from pyimagesearch.search_api import (
    API_KEY_ENVIRONMENT_VARIABLE,
    SEARCH_PATH,
    SearchError,
    SearchResponseError,
    build_session,
    read_url_list,
    search_image_urls,
)

REPOSITORY = Path(__file__).resolve().parent.parent
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
KEY = "test-key"


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def loopback_server():
    # Threaded, so that a deliberately slow answer does not hold up the others.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def httpserver(loopback_server):
    """pytest-httpserver's fixture, bound to 127.0.0.1 and emptied around each test."""
    loopback_server.clear()
    yield loopback_server
    loopback_server.clear()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail any test whose code tries to connect beyond the loopback interface."""
    connect = urllib3.util.connection.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] in LOOPBACK_HOSTS, f"a test tried to reach {address[0]}"
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", guarded)


@pytest.fixture
def session():
    with build_session(retries=2, backoff_factor=0.001) as fast_session:
        yield fast_session


def encoded(extension: str, shade: int, size: int = 8) -> bytes:
    """A small real image; each shade gives different bytes."""
    pixels = np.full((size, size, 3), shade, np.uint8)
    ok, buffer = cv2.imencode(extension, pixels)
    assert ok
    return buffer.tobytes()


def gif(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 0, 0)).save(buffer, "GIF")
    return buffer.getvalue()


def serve(server: HTTPServer, path: str, body: bytes, content_type: str = "image/png") -> str:
    server.expect_request(path).respond_with_data(body, content_type=content_type)
    return server.url_for(path)


def serve_pngs(server: HTTPServer, count: int) -> list[str]:
    return [serve(server, f"/image{index}.png", encoded(".png", 10 * index + 5)) for index in range(count)]


def requested_paths(server: HTTPServer) -> list[str]:
    return [request.path for request, _ in server.log]


def manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / MANIFEST_NAME).read_text().splitlines()]


def visible_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("."))


def hidden_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith(".") and path.name != MANIFEST_NAME)


def download(urls, folder, session, **options):
    options = {"timeout": 2.0, "workers": 2, **options}
    return download_images(urls, folder, session=session, **options)


def search_answer(urls, **fields) -> dict:
    return {"_type": "Images", "value": [{"contentUrl": url} for url in urls], **fields}


def expect_search(server: HTTPServer, answer, **query) -> None:
    query_string = {key: str(value) for key, value in query.items()} or None
    handler = server.expect_request(SEARCH_PATH, query_string=query_string)
    if isinstance(answer, (dict, list)):
        handler.respond_with_json(answer)
    else:
        handler.respond_with_data(answer, content_type="text/html")


def search(server: HTTPServer, session, **options):
    options = {"query": "red dress", "api_key": KEY, "endpoint": server.url_for("/"), "timeout": 2.0, **options}
    return search_image_urls(session, **options)


# --- searching ----------------------------------------------------------------------------------


def test_search_pages_over_several_groups_with_key_and_query(httpserver, session):
    for offset in (0, 3, 6):
        pictures = [f"http://127.0.0.1/{offset + index}.jpg" for index in range(3)]
        count = 1 if offset == 6 else 3
        answer = search_answer(pictures, totalEstimatedMatches=100, nextOffset=offset + 3)
        expect_search(httpserver, answer, q="red dress", offset=offset, count=count)

    result = search(httpserver, session, max_results=7, group_size=3)

    assert result.urls == [f"http://127.0.0.1/{index}.jpg" for index in range(7)]
    assert result.pages == 3
    assert result.stop_reason == "reached max_results"
    offsets = [request.args["offset"] for request, _ in httpserver.log]
    assert offsets == ["0", "3", "6"]
    assert all(request.headers["Ocp-Apim-Subscription-Key"] == KEY for request, _ in httpserver.log)


def test_search_retries_after_a_server_error(httpserver, session):
    httpserver.expect_oneshot_request(SEARCH_PATH).respond_with_data("busy", status=500)
    expect_search(httpserver, search_answer(["http://127.0.0.1/a.jpg"], totalEstimatedMatches=1))

    result = search(httpserver, session)

    assert result.urls == ["http://127.0.0.1/a.jpg"]
    assert len(httpserver.log) == 2


def test_search_stops_when_next_offset_does_not_advance(httpserver, session):
    calls = iter(range(100))

    def stuck(request):
        index = next(calls)
        return Response(json.dumps(search_answer([f"http://127.0.0.1/{index}.jpg"], nextOffset=5)), content_type="application/json")

    httpserver.expect_request(SEARCH_PATH).respond_with_handler(stuck)

    result = search(httpserver, session, max_results=50, group_size=1)

    assert len(httpserver.log) == 2
    assert result.urls == ["http://127.0.0.1/0.jpg", "http://127.0.0.1/1.jpg"]
    assert "did not advance" in result.stop_reason


def test_search_stops_when_a_page_brings_nothing_new(httpserver, session):
    same = [f"http://127.0.0.1/{index}.jpg" for index in range(3)]
    expect_search(httpserver, search_answer(same))

    result = search(httpserver, session, max_results=50, group_size=3)

    assert result.urls == same
    assert len(httpserver.log) == 2


def test_search_stops_at_total_estimated_matches(httpserver, session):
    for offset in (0, 3):
        pictures = [f"http://127.0.0.1/{offset + index}.jpg" for index in range(3)]
        expect_search(httpserver, search_answer(pictures, totalEstimatedMatches=5), q="red dress", offset=offset, count=3)

    result = search(httpserver, session, max_results=100, group_size=3)

    assert len(result.urls) == 6
    assert result.stop_reason == "reached totalEstimatedMatches"


def test_search_page_budget_ends_slowly_advancing_offsets(httpserver, session):
    def one_new_url(request):
        offset = int(request.args["offset"])
        answer = search_answer([f"http://127.0.0.1/{offset}.jpg"], nextOffset=offset + 1)
        return Response(json.dumps(answer), content_type="application/json")

    httpserver.expect_request(SEARCH_PATH).respond_with_handler(one_new_url)

    result = search(httpserver, session, max_results=6, group_size=3)

    assert len(httpserver.log) == 2 + 3  # ceil(6 / 3) pages and the slack of three
    assert result.stop_reason == "reached the page limit"


def test_search_skips_items_without_a_content_url(httpserver, session):
    items = [{"contentUrl": "http://127.0.0.1/a.jpg"}, {"name": "no url"}, {"contentUrl": 7}, "junk", {"contentUrl": "ftp://x/y"}]
    expect_search(httpserver, {"value": items})

    assert search(httpserver, session).urls == ["http://127.0.0.1/a.jpg"]


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
    ids=["not-json", "array", "no-value", "value-not-list", "negative-total", "string-total", "bool-offset", "float-offset", "error-response"],
)
def test_search_rejects_malformed_answers_clearly(httpserver, session, answer, message):
    expect_search(httpserver, answer)

    with pytest.raises(SearchResponseError, match=message) as caught:
        search(httpserver, session)

    assert isinstance(caught.value, ValueError)
    assert len(httpserver.log) == 1


def test_search_keeps_urls_found_when_a_later_page_is_malformed(httpserver, session):
    expect_search(httpserver, search_answer(["http://127.0.0.1/a.jpg"], nextOffset=1), q="red dress", offset=0, count=1)
    expect_search(httpserver, "<html>oops</html>", q="red dress", offset=1, count=1)

    result = search(httpserver, session, max_results=10, group_size=1)

    assert result.urls == ["http://127.0.0.1/a.jpg"]
    assert "is not JSON" in result.stop_reason


def test_search_reports_a_refused_key(httpserver, session):
    httpserver.expect_request(SEARCH_PATH).respond_with_json({"errors": [{"message": "bad key"}]}, status=401)

    with pytest.raises(SearchError, match="refused the API key"):
        search(httpserver, session)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_results": 0}, "max_results must be a whole number of at least 1, got 0"),
        ({"group_size": 151}, "group_size must be at most 150"),
        ({"query": "  "}, "query must be non-empty"),
        ({"endpoint": "api.example"}, "endpoint must be an http"),
        ({"timeout": -1}, "timeout must be a number of seconds greater than 0"),
    ],
    ids=["max-results", "group-size", "query", "endpoint", "timeout"],
)
def test_search_rejects_bad_arguments_before_any_request(httpserver, session, options, message):
    with pytest.raises(ValueError, match=message):
        search(httpserver, session, **options)
    assert httpserver.log == []


# --- downloading ----------------------------------------------------------------------------------


def test_download_names_files_sequentially_with_the_real_extension(httpserver, session, tmp_path):
    urls = [
        serve(httpserver, "/a.jpg", encoded(".png", 1), "image/png"),  # a PNG behind a .jpg URL
        serve(httpserver, "/b", encoded(".jpg", 2), "image/jpeg"),
        serve(httpserver, "/c.gif", gif(3), "image/gif"),
        serve(httpserver, "/d", encoded(".webp", 4), "application/octet-stream"),
    ]

    summary = download(urls, tmp_path, session)

    assert visible_files(tmp_path) == ["00000000.png", "00000001.jpg", "00000002.gif", "00000003.webp"]
    assert (summary.found, summary.saved, summary.duplicates, sum(summary.failed.values())) == (4, 4, 0, 0)
    entries = manifest(tmp_path)
    assert [entry["url"] for entry in entries] == urls
    assert all(entry["status"] == "saved" and len(entry["sha256"]) == 64 for entry in entries)


def test_download_keeps_url_order_for_names_with_many_workers(httpserver, session, tmp_path):
    urls = serve_pngs(httpserver, 12)

    download(urls, tmp_path, session, workers=5)

    by_url = {entry["url"]: entry["file"] for entry in manifest(tmp_path)}
    assert [by_url[url] for url in urls] == [f"{index:08d}.png" for index in range(12)]


def test_download_retries_after_a_server_error(httpserver, session, tmp_path):
    httpserver.expect_oneshot_request("/flaky.png").respond_with_data("oops", status=500)
    url = serve(httpserver, "/flaky.png", encoded(".png", 9))

    summary = download([url], tmp_path, session)

    assert summary.saved == 1
    assert requested_paths(httpserver) == ["/flaky.png", "/flaky.png"]


@pytest.mark.parametrize("wait", [0, 1])
def test_download_retries_after_429_honouring_retry_after(httpserver, session, tmp_path, wait):
    httpserver.expect_oneshot_request("/limited.png").respond_with_data("slow down", status=429, headers={"Retry-After": str(wait)})
    url = serve(httpserver, "/limited.png", encoded(".png", 9))

    started = time.monotonic()
    summary = download([url], tmp_path, session)

    assert summary.saved == 1
    assert len(httpserver.log) == 2
    assert time.monotonic() - started >= wait * 0.9


def test_download_caps_a_long_retry_after(httpserver, tmp_path):
    httpserver.expect_oneshot_request("/limited.png").respond_with_data("later", status=429, headers={"Retry-After": "3600"})
    url = serve(httpserver, "/limited.png", encoded(".png", 9))

    started = time.monotonic()
    with build_session(retries=1, max_retry_after=0.2) as capped:
        summary = download([url], tmp_path, capped)

    assert summary.saved == 1
    assert time.monotonic() - started < 2


def test_download_gives_up_after_the_retries_and_reports_the_status(httpserver, session, tmp_path):
    httpserver.expect_request("/down.png").respond_with_data("down", status=503)

    summary = download([httpserver.url_for("/down.png")], tmp_path, session)

    assert summary.failed == {"http 503": 1}
    assert len(httpserver.log) == 3  # the first try and two retries
    assert not (tmp_path / MANIFEST_NAME).exists()  # a server error is worth trying again next run


def test_download_counts_a_slow_server_as_timeout(httpserver, tmp_path):
    def slow(request):
        time.sleep(0.6)
        return Response(encoded(".png", 1), content_type="image/png")

    httpserver.expect_request("/slow.png").respond_with_handler(slow)
    with build_session(retries=0) as no_retries:
        summary = download([httpserver.url_for("/slow.png")], tmp_path, no_retries, timeout=0.1)

    assert summary.failed == {"timeout": 1}
    assert visible_files(tmp_path) == []


def test_download_counts_a_trickling_body_as_timeout(httpserver, tmp_path):
    def trickle():
        for _ in range(20):
            time.sleep(0.1)
            yield b"\0" * 10

    # Each chunk arrives well within the timeout, but the whole body takes longer than five timeouts.
    httpserver.expect_request("/trickle.png").respond_with_handler(lambda request: Response(trickle(), content_type="image/png"))
    with build_session(retries=0) as no_retries:
        summary = download([httpserver.url_for("/trickle.png")], tmp_path, no_retries, timeout=0.3)

    assert summary.failed == {"timeout": 1}


def test_download_counts_a_refused_connection_as_connection_error(tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with build_session(retries=0) as no_retries:
        summary = download([f"http://127.0.0.1:{port}/a.png"], tmp_path, no_retries)

    assert summary.failed == {"connection error": 1}


def test_download_rejects_content_that_is_not_an_image(httpserver, session, tmp_path):
    url = serve(httpserver, "/page.png", b"<html>not found</html>", "text/html; charset=utf-8")

    summary = download([url], tmp_path, session)

    assert summary.failed == {"not an image": 1}
    assert manifest(tmp_path) == [{"url": url, "status": "failed", "reason": "not an image"}]


@pytest.mark.parametrize(
    "body",
    [b"\xff\xd8\xff\xe0 this is no JPEG", encoded(".jpg", 7, size=64)[:300], b""],
    ids=["garbage", "truncated", "empty"],
)
def test_download_rejects_a_corrupt_image(httpserver, session, tmp_path, body):
    url = serve(httpserver, "/broken.jpg", body, "image/jpeg")

    summary = download([url], tmp_path, session)

    assert summary.failed == {"corrupt image": 1}
    assert visible_files(tmp_path) == []


def test_download_rejects_an_unsupported_format(httpserver, session, tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PPM")  # Pillow reads it, but it is no web image format
    url = serve(httpserver, "/picture.ppm", buffer.getvalue(), "image/x-portable-pixmap")

    assert download([url], tmp_path, session).failed == {"unsupported format": 1}


def test_download_refuses_a_decompression_bomb(httpserver, session, tmp_path):
    url = serve(httpserver, "/huge.png", encoded(".png", 1, size=100))

    summary = download([url], tmp_path, session, max_pixels=100 * 100 - 1)

    assert summary.failed == {"decompression bomb": 1}


def test_download_refuses_an_oversized_body(httpserver, session, tmp_path):
    big = encoded(".png", 1, size=64)
    declared = serve(httpserver, "/declared.png", big)
    # A generator body is sent chunked, without Content-Length: the cap must hold while reading.
    httpserver.expect_request("/streamed.png").respond_with_response(Response(iter([big[:500], big[500:]]), content_type="image/png"))
    streamed = httpserver.url_for("/streamed.png")

    summary = download([declared, streamed], tmp_path, session, max_bytes=len(big) - 1)

    assert summary.failed == {"too large": 2}
    assert visible_files(tmp_path) == []


def test_download_skips_the_same_image_at_two_urls(httpserver, session, tmp_path):
    same = encoded(".png", 42)
    first = serve(httpserver, "/first.png", same)
    second = serve(httpserver, "/second.png", same)

    summary = download([first, second], tmp_path, session)

    assert (summary.saved, summary.duplicates) == (1, 1)
    assert visible_files(tmp_path) == ["00000000.png"]
    assert manifest(tmp_path)[1] == {"url": second, "status": "duplicate", "file": "00000000.png", "sha256": manifest(tmp_path)[0]["sha256"]}


def test_download_skips_an_image_already_in_the_folder_and_numbers_after_it(httpserver, session, tmp_path):
    (tmp_path / "00000041.jpg").write_bytes(encoded(".jpg", 1))
    (tmp_path / "my cat.png").write_bytes(encoded(".png", 2))
    urls = [serve(httpserver, "/cat.png", encoded(".png", 2)), serve(httpserver, "/new.png", encoded(".png", 3))]

    summary = download(urls, tmp_path, session)

    assert (summary.saved, summary.duplicates) == (1, 1)
    assert visible_files(tmp_path) == ["00000041.jpg", "00000042.png", "my cat.png"]


def test_download_follows_a_redirect(httpserver, session, tmp_path):
    target = serve(httpserver, "/moved/photo.jpg", encoded(".jpg", 5), "image/jpeg")
    httpserver.expect_request("/photo.jpg").respond_with_data("", status=302, headers={"Location": target})
    url = httpserver.url_for("/photo.jpg")

    summary = download([url], tmp_path, session)

    assert summary.saved == 1
    assert requested_paths(httpserver) == ["/photo.jpg", "/moved/photo.jpg"]
    assert manifest(tmp_path)[0]["url"] == url


def test_download_resumes_without_fetching_settled_urls_again(httpserver, session, tmp_path):
    urls = serve_pngs(httpserver, 4)
    download(urls[:3], tmp_path, session)
    httpserver.log.clear()

    summary = download(urls, tmp_path, session)

    assert requested_paths(httpserver) == ["/image3.png"]
    assert (summary.already_fetched, summary.saved) == (3, 1)
    assert visible_files(tmp_path) == [f"{index:08d}.png" for index in range(4)]


def test_interrupted_download_resumes_where_it_stopped(httpserver, session, tmp_path):
    urls = serve_pngs(httpserver, 8)
    seen = []

    def interrupt_after_two(outcome):
        seen.append(outcome)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(urls, tmp_path, session, progress=interrupt_after_two)
    recorded = {entry["url"] for entry in manifest(tmp_path)}
    assert recorded == set(urls[:2])
    assert hidden_files(tmp_path) == []
    httpserver.log.clear()

    summary = download(urls, tmp_path, session)

    second_run = {httpserver.url_for(path) for path in requested_paths(httpserver)}
    assert second_run == set(urls) - recorded
    assert len(requested_paths(httpserver)) == len(second_run)
    assert (summary.already_fetched, summary.saved) == (2, 6)
    by_url = {entry["url"]: entry["file"] for entry in manifest(tmp_path)}
    assert [by_url[url] for url in urls] == [f"{index:08d}.png" for index in range(8)]


def test_interrupt_while_writing_leaves_no_partial_file(httpserver, session, tmp_path, monkeypatch):
    url = serve(httpserver, "/a.png", encoded(".png", 1))

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download([url], tmp_path, session)
    monkeypatch.undo()

    assert list(tmp_path.iterdir()) == []
    assert download([url], tmp_path, session).saved == 1


def test_leftovers_of_a_killed_run_are_cleaned_up(tmp_path):
    writing = atomic_path(tmp_path / "00000000.jpg")
    leftover = writing.__enter__()  # never exited, as when a run is killed outright
    leftover.write_bytes(b"half an image")

    DatasetFolder(tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_torn_manifest_line_is_ignored_and_not_glued_to_the_next(httpserver, session, tmp_path):
    first, second = serve_pngs(httpserver, 2)
    download([first], tmp_path, session)
    with open(tmp_path / MANIFEST_NAME, "a") as handle:
        handle.write('{"url": "http://127.0.0.1/torn')

    download([first, second], tmp_path, session)

    lines = (tmp_path / MANIFEST_NAME).read_text().splitlines()
    assert json.loads(lines[-1])["url"] == second
    reopened = DatasetFolder(tmp_path)
    assert reopened.already_fetched(first) and reopened.already_fetched(second)


def test_download_rejects_an_output_path_that_is_a_file(session, tmp_path):
    (tmp_path / "taken").write_text("")

    with pytest.raises(ValueError, match="is a file, not a folder"):
        download(["http://127.0.0.1/a.png"], tmp_path / "taken", session)


def test_read_url_list_skips_comments_blanks_and_non_urls(tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text("# red dresses\n\nhttp://127.0.0.1/a.jpg\nnot a url\n https://127.0.0.1/b.jpg \nhttp://127.0.0.1/a.jpg\n")

    assert read_url_list(listing) == ["http://127.0.0.1/a.jpg", "https://127.0.0.1/b.jpg"]


# --- the command line ------------------------------------------------------------------------------


def test_cli_downloads_a_url_list_and_prints_a_summary(httpserver, tmp_path, capsys):
    urls = serve_pngs(httpserver, 2)
    httpserver.expect_request("/gone.png").respond_with_data("", status=404)
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join([*urls, httpserver.url_for("/gone.png"), urls[0]]) + "\n")
    output = tmp_path / "dataset" / "red_dress"

    code = search_bing_api.main(["--urls", str(listing), "--output", str(output), "--retries", "0"])

    assert code == 0
    assert visible_files(output) == ["00000000.png", "00000001.png"]
    report = capsys.readouterr().out
    assert "results found:    3" in report
    assert "saved:            2" in report
    assert "http 404: 1" in report


def test_cli_searches_with_the_key_from_the_environment(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv(API_KEY_ENVIRONMENT_VARIABLE, KEY)
    urls = serve_pngs(httpserver, 3)
    expect_search(httpserver, search_answer(urls, totalEstimatedMatches=3))
    output = tmp_path / "red_dress"

    code = search_bing_api.main(["--query", "red dress", "--output", str(output), "--endpoint", httpserver.url_for("/")])

    assert code == 0
    assert visible_files(output) == ["00000000.png", "00000001.png", "00000002.png"]
    search_request = httpserver.log[0][0]
    assert search_request.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert search_request.args["q"] == "red dress"


def test_cli_without_key_explains_the_retirement_and_the_url_list(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(API_KEY_ENVIRONMENT_VARIABLE, raising=False)

    code = search_bing_api.main(["--query", "red dress", "--output", str(tmp_path / "out")])

    assert code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("search_bing_api.py: error: ")
    assert "2025-08-11" in error and "--urls FILE" in error and API_KEY_ENVIRONMENT_VARIABLE in error
    assert not (tmp_path / "out").exists()


def test_cli_exits_non_zero_when_nothing_could_be_saved(httpserver, tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text(serve(httpserver, "/page", b"<html></html>", "text/html") + "\n")

    assert search_bing_api.main(["--urls", str(listing), "--output", str(tmp_path / "out")]) == 1


def test_cli_rerun_with_everything_fetched_exits_zero(httpserver, tmp_path, capsys):
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(serve_pngs(httpserver, 2)) + "\n")
    arguments = ["--urls", str(listing), "--output", str(tmp_path / "out")]
    search_bing_api.main(arguments)

    assert search_bing_api.main(arguments) == 0
    assert "already fetched:  2" in capsys.readouterr().out


def test_cli_reports_a_malformed_search_answer_in_one_line(httpserver, tmp_path, capsys):
    expect_search(httpserver, "<html>gateway</html>")
    arguments = ["--query", "x", "--api-key", KEY, "--endpoint", httpserver.url_for("/"), "--output", str(tmp_path / "out")]

    assert search_bing_api.main(arguments) == 1
    error = capsys.readouterr().err
    assert error.startswith("search_bing_api.py: error: ") and "is not JSON" in error
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--urls", "missing.txt", "--output", "out"], "--urls: URL list missing.txt does not exist"),
        (["--urls", "urls.txt", "--output", "urls.txt"], "--output: output urls.txt is a file"),
        (["--query", "x", "--api-key", KEY, "--endpoint", "nowhere", "--output", "out"], "--endpoint: endpoint must be an http"),
    ],
    ids=["missing-url-list", "output-is-a-file", "bad-endpoint"],
)
def test_cli_rejects_bad_input_in_one_line(tmp_path, monkeypatch, capsys, arguments, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "urls.txt").write_text("http://127.0.0.1/a.png\n")

    assert search_bing_api.main(arguments) == 2
    error = capsys.readouterr().err
    assert error.startswith("search_bing_api.py: error: ")
    assert message in error and error.count("\n") == 1


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--max-results", "0"), ("--group-size", "151"), ("--timeout", "-1"), ("--workers", "many"), ("--retries", "-1")],
)
def test_cli_rejects_out_of_range_numbers(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        search_bing_api.main(["--urls", "u.txt", "--output", str(tmp_path), flag, value])

    assert exit_info.value.code == 2
    assert f"argument {flag}: expected" in capsys.readouterr().err


def test_cli_interrupted_by_ctrl_c_leaves_no_partial_file_and_resumes(httpserver, tmp_path):
    urls = serve_pngs(httpserver, 3)

    def stall(request):
        time.sleep(3)
        return Response(encoded(".png", 200), content_type="image/png")

    httpserver.expect_oneshot_request("/stalled.png").respond_with_handler(stall)
    serve(httpserver, "/stalled.png", encoded(".png", 200))
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join([*urls, httpserver.url_for("/stalled.png")]) + "\n")
    output = tmp_path / "out"
    arguments = ["--urls", str(listing), "--output", str(output), "--workers", "1", "--timeout", "1"]
    process = subprocess.Popen(
        [sys.executable, str(REPOSITORY / "search_bing_api.py"), *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 20
    manifest = output / MANIFEST_NAME
    # Interrupt once the three quick images are saved and recorded (the manifest line follows
    # the file), and the stalled one is being waited on.
    while time.monotonic() < deadline and not (
        manifest.exists() and len(manifest.read_text().splitlines()) == 3
    ):
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, error = process.communicate(timeout=20)

    assert process.returncode == 130
    assert "interrupted; run the same command again to resume" in error
    assert hidden_files(output) == []
    assert visible_files(output) == ["00000000.png", "00000001.png", "00000002.png"]
    httpserver.log.clear()

    assert search_bing_api.main(arguments) == 0
    # The first run's stalled answer may still land in the log; nothing saved is asked for again.
    assert set(requested_paths(httpserver)) == {"/stalled.png"}
    assert visible_files(output)[-1] == "00000003.png"
