"""Tests for downloading images into a label folder and for the command line (search_bing_api.py).

A real HTTP server on 127.0.0.1 plays the image hosts and the search APIs; the images are real,
made here with OpenCV and Pillow. A guard refuses any connection that would leave the loopback
interface. The providers' own formats are tested in test_search_providers.py, label conflicts,
ATTRIBUTION.csv and the training manifest in test_download_dataset.py.
"""

import io
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest
import urllib3
from conftest import interruptible
from download_support import (  # noqa: F401 (fixtures)
    KEY,
    PROCESS_TIMEOUT,
    REPOSITORY,
    encoded,
    gif,
    hidden_files,
    httpserver,
    image_files,
    label_folder,
    loopback_only,
    loopback_server,
    manifest,
    requested_paths,
    serve,
    serve_pictures,
    session,
    visible_files,
)
from PIL import Image
from werkzeug import Response

import search_bing_api
from pyimagesearch.atomic import atomic_path
from pyimagesearch.download.builder import download_images
from pyimagesearch.download.folder import DatasetFolder
from pyimagesearch.download.records import MANIFEST_NAME
from pyimagesearch.download.search import read_url_list
from pyimagesearch.download.web import PoliteRetry, build_session


def download(urls, folder, session, **options):
    options = {"timeout": 2.0, "workers": 2, **options}
    return download_images(urls, folder, session=session, **options)


# --- downloading ----------------------------------------------------------------------------------


def test_download_names_files_sequentially_with_the_real_extension(httpserver, session, label_folder):
    urls = [
        serve(httpserver, "/a.jpg", encoded(".png", 1), "image/png"),  # a PNG behind a .jpg URL
        serve(httpserver, "/b", encoded(".jpg", 2), "image/jpeg"),
        serve(httpserver, "/c.gif", gif(3), "image/gif"),
        serve(httpserver, "/d", encoded(".webp", 4), "application/octet-stream"),
    ]

    summary = download(urls, label_folder, session)

    assert visible_files(label_folder) == ["00000000.png", "00000001.jpg", "00000002.gif", "00000003.webp"]
    assert (summary.found, summary.saved, summary.duplicates, sum(summary.failed.values())) == (4, 4, 0, 0)
    entries = manifest(label_folder)
    assert [entry["url"] for entry in entries] == urls
    assert all(entry["status"] == "saved" and len(entry["sha256"]) == 64 for entry in entries)


def test_download_keeps_url_order_for_names_with_many_workers(httpserver, session, label_folder):
    urls = serve_pictures(httpserver, 12)

    download(urls, label_folder, session, workers=5)

    by_url = {entry["url"]: entry["file"] for entry in manifest(label_folder)}
    assert [by_url[url] for url in urls] == [f"{index:08d}.png" for index in range(12)]


def test_download_retries_after_a_server_error(httpserver, session, label_folder):
    httpserver.expect_oneshot_request("/flaky.png").respond_with_data("oops", status=500)
    url = serve(httpserver, "/flaky.png", encoded(".png", 9))

    summary = download([url], label_folder, session)

    assert summary.saved == 1
    assert requested_paths(httpserver) == ["/flaky.png", "/flaky.png"]


@pytest.mark.parametrize("wait", [0, 1])
def test_download_retries_after_429_honouring_retry_after(httpserver, session, label_folder, wait):
    httpserver.expect_oneshot_request("/limited.png").respond_with_data("slow down", status=429, headers={"Retry-After": str(wait)})
    url = serve(httpserver, "/limited.png", encoded(".png", 9))

    started = time.monotonic()
    summary = download([url], label_folder, session)

    assert summary.saved == 1
    assert len(httpserver.log) == 2
    assert time.monotonic() - started >= wait * 0.9


def test_download_never_retries_sooner_than_a_long_retry_after_asks(httpserver, label_folder):
    # Retrying before the server's Retry-After would work around its rate limit: a wait longer than
    # max_wait is not retried at all, and the URL is left for the next run.
    httpserver.expect_oneshot_request("/limited.png").respond_with_data("later", status=429, headers={"Retry-After": "3600"})
    url = serve(httpserver, "/limited.png", encoded(".png", 9))

    with build_session(retries=3, max_wait=0.2) as polite:
        summary = download([url], label_folder, polite)

    assert summary.failed == {"http 429": 1}
    assert len(httpserver.log) == 1
    assert not (label_folder / MANIFEST_NAME).exists()  # a rate limit is worth trying again next run
    assert download([url], label_folder, polite).saved == 1


def test_polite_retry_reads_the_whole_wait_a_server_asks_for():
    retry = build_session(max_wait=60).get_adapter("http://127.0.0.1/").max_retries
    answer = urllib3.HTTPResponse(status=429, headers={"Retry-After": "3600"})

    assert isinstance(retry, PoliteRetry)
    assert retry.asked_wait(answer) == 3600  # urllib3's own get_retry_after would say 60
    with pytest.raises(urllib3.exceptions.MaxRetryError, match="Retry-After 3600 s is longer than the 60 s"):
        retry.increment("GET", "/limited.png", response=answer)
    assert retry.increment("GET", "/limited.png", response=urllib3.HTTPResponse(status=429, headers={"Retry-After": "1"})).total == 2


def test_download_gives_up_after_the_retries_and_reports_the_status(httpserver, session, label_folder):
    httpserver.expect_request("/down.png").respond_with_data("down", status=503)

    summary = download([httpserver.url_for("/down.png")], label_folder, session)

    assert summary.failed == {"http 503": 1}
    assert len(httpserver.log) == 3  # the first try and two retries
    assert not (label_folder / MANIFEST_NAME).exists()  # a server error is worth trying again next run


def test_download_counts_a_slow_server_as_timeout(httpserver, label_folder):
    def slow(request):
        time.sleep(0.6)
        return Response(encoded(".png", 1), content_type="image/png")

    httpserver.expect_request("/slow.png").respond_with_handler(slow)
    with build_session(retries=0) as no_retries:
        summary = download([httpserver.url_for("/slow.png")], label_folder, no_retries, timeout=0.1)

    assert summary.failed == {"timeout": 1}
    assert visible_files(label_folder) == []


def test_download_counts_a_trickling_body_as_timeout(httpserver, label_folder):
    def trickle():
        for _ in range(20):
            time.sleep(0.1)
            yield b"\0" * 10

    # Each chunk arrives well within the timeout, but the whole body takes longer than five timeouts.
    httpserver.expect_request("/trickle.png").respond_with_handler(lambda request: Response(trickle(), content_type="image/png"))
    with build_session(retries=0) as no_retries:
        summary = download([httpserver.url_for("/trickle.png")], label_folder, no_retries, timeout=0.3)

    assert summary.failed == {"timeout": 1}


def test_download_counts_a_refused_connection_as_connection_error(label_folder):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with build_session(retries=0) as no_retries:
        summary = download([f"http://127.0.0.1:{port}/a.png"], label_folder, no_retries)

    assert summary.failed == {"connection error": 1}


def test_download_rejects_content_that_is_not_an_image(httpserver, session, label_folder):
    url = serve(httpserver, "/page.png", b"<html>not found</html>", "text/html; charset=utf-8")

    summary = download([url], label_folder, session)

    assert summary.failed == {"not an image": 1}
    assert manifest(label_folder) == [{"url": url, "status": "failed", "reason": "not an image"}]


@pytest.mark.parametrize(
    "body",
    [b"\xff\xd8\xff\xe0 this is no JPEG", encoded(".jpg", 7, size=64)[:300], b""],
    ids=["garbage", "truncated", "empty"],
)
def test_download_rejects_a_corrupt_image(httpserver, session, label_folder, body):
    url = serve(httpserver, "/broken.jpg", body, "image/jpeg")

    summary = download([url], label_folder, session)

    assert summary.failed == {"corrupt image": 1}
    assert visible_files(label_folder) == []


def test_download_rejects_an_unsupported_format(httpserver, session, label_folder):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PPM")  # Pillow reads it, but it is no web image format
    url = serve(httpserver, "/picture.ppm", buffer.getvalue(), "image/x-portable-pixmap")

    assert download([url], label_folder, session).failed == {"unsupported format": 1}


def test_download_refuses_a_decompression_bomb(httpserver, session, label_folder):
    url = serve(httpserver, "/huge.png", encoded(".png", 1, size=100))

    summary = download([url], label_folder, session, max_pixels=100 * 100 - 1)

    assert summary.failed == {"decompression bomb": 1}


def test_download_refuses_an_oversized_body(httpserver, session, label_folder):
    big = encoded(".png", 1, size=64)
    declared = serve(httpserver, "/declared.png", big)
    # A generator body is sent chunked, without Content-Length: the cap must hold while reading.
    httpserver.expect_request("/streamed.png").respond_with_response(Response(iter([big[:500], big[500:]]), content_type="image/png"))
    streamed = httpserver.url_for("/streamed.png")

    summary = download([declared, streamed], label_folder, session, max_bytes=len(big) - 1)

    assert summary.failed == {"too large": 2}
    assert visible_files(label_folder) == []


def test_download_skips_the_same_image_at_two_urls(httpserver, session, label_folder):
    same = encoded(".png", 42)
    first = serve(httpserver, "/first.png", same)
    second = serve(httpserver, "/second.png", same)

    summary = download([first, second], label_folder, session)

    assert (summary.saved, summary.duplicates) == (1, 1)
    assert visible_files(label_folder) == ["00000000.png"]
    saved, duplicate = manifest(label_folder)
    assert duplicate == {
        "url": second,
        "status": "duplicate",
        "file": "00000000.png",
        "sha256": saved["sha256"],
        "picture_hash": saved["picture_hash"],
    }


def test_download_skips_an_image_already_in_the_folder_and_numbers_after_it(httpserver, session, label_folder):
    (label_folder / "00000041.jpg").write_bytes(encoded(".jpg", 1))
    (label_folder / "my cat.png").write_bytes(encoded(".png", 2))
    urls = [serve(httpserver, "/cat.png", encoded(".png", 2)), serve(httpserver, "/new.png", encoded(".png", 3))]

    summary = download(urls, label_folder, session)

    assert (summary.saved, summary.duplicates) == (1, 1)
    assert visible_files(label_folder) == ["00000041.jpg", "00000042.png", "my cat.png"]


def test_download_follows_a_redirect(httpserver, session, label_folder):
    target = serve(httpserver, "/moved/photo.jpg", encoded(".jpg", 5), "image/jpeg")
    httpserver.expect_request("/photo.jpg").respond_with_data("", status=302, headers={"Location": target})
    url = httpserver.url_for("/photo.jpg")

    summary = download([url], label_folder, session)

    assert summary.saved == 1
    assert requested_paths(httpserver) == ["/photo.jpg", "/moved/photo.jpg"]
    assert manifest(label_folder)[0]["url"] == url


def test_download_resumes_without_fetching_settled_urls_again(httpserver, session, label_folder):
    urls = serve_pictures(httpserver, 4)
    download(urls[:3], label_folder, session)
    httpserver.log.clear()

    summary = download(urls, label_folder, session)

    assert requested_paths(httpserver) == ["/picture3.png"]
    assert (summary.already_fetched, summary.saved) == (3, 1)
    assert visible_files(label_folder) == [f"{index:08d}.png" for index in range(4)]


def test_interrupted_download_resumes_where_it_stopped(httpserver, session, label_folder):
    urls = serve_pictures(httpserver, 8)
    seen = []

    def interrupt_after_two(outcome):
        seen.append(outcome)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(urls, label_folder, session, progress=interrupt_after_two)
    recorded = {entry["url"] for entry in manifest(label_folder)}
    assert recorded == set(urls[:2])
    assert hidden_files(label_folder) == []
    httpserver.log.clear()

    summary = download(urls, label_folder, session)

    second_run = {httpserver.url_for(path) for path in requested_paths(httpserver)}
    assert second_run == set(urls) - recorded
    assert len(requested_paths(httpserver)) == len(second_run)
    assert (summary.already_fetched, summary.saved) == (2, 6)
    by_url = {entry["url"]: entry["file"] for entry in manifest(label_folder)}
    assert [by_url[url] for url in urls] == [f"{index:08d}.png" for index in range(8)]


def test_interrupt_while_writing_leaves_no_partial_file(httpserver, session, label_folder, monkeypatch):
    url = serve(httpserver, "/a.png", encoded(".png", 1))

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download([url], label_folder, session)
    monkeypatch.undo()

    assert list(label_folder.iterdir()) == []
    assert download([url], label_folder, session).saved == 1


def test_leftovers_of_a_killed_run_are_cleaned_up(label_folder):
    writing = atomic_path(label_folder / "00000000.jpg")
    leftover = writing.__enter__()  # never exited, as when a run is killed outright
    leftover.write_bytes(b"half an image")

    DatasetFolder(label_folder)

    assert list(label_folder.iterdir()) == []


def test_torn_manifest_line_is_ignored_and_not_glued_to_the_next(httpserver, session, label_folder):
    first, second = serve_pictures(httpserver, 2)
    download([first], label_folder, session)
    with open(label_folder / MANIFEST_NAME, "a") as handle:
        handle.write('{"url": "http://127.0.0.1/torn')

    download([first, second], label_folder, session)

    lines = (label_folder / MANIFEST_NAME).read_text().splitlines()
    assert json.loads(lines[-1])["url"] == second
    reopened = DatasetFolder(label_folder)
    assert reopened.already_fetched(first) and reopened.already_fetched(second)


def test_download_rejects_an_output_path_that_is_a_file(session, label_folder):
    (label_folder / "taken").write_text("")

    with pytest.raises(ValueError, match="is a file, not a folder"):
        download(["http://127.0.0.1/a.png"], label_folder / "taken", session)


def test_read_url_list_skips_comments_blanks_and_non_urls(tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text("# red dresses\n\nhttp://127.0.0.1/a.jpg\nnot a url\n https://127.0.0.1/b.jpg \nhttp://127.0.0.1/a.jpg\n")

    assert [hit.url for hit in read_url_list(listing)] == ["http://127.0.0.1/a.jpg", "https://127.0.0.1/b.jpg"]


# --- the command line ------------------------------------------------------------------------------


def test_cli_downloads_a_url_list_and_prints_a_summary(httpserver, tmp_path, capsys):
    urls = serve_pictures(httpserver, 2)
    httpserver.expect_request("/gone.png").respond_with_data("", status=404)
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join([*urls, httpserver.url_for("/gone.png"), urls[0]]) + "\n")
    output = tmp_path / "dataset" / "red_dress"

    code = search_bing_api.main(["--urls", str(listing), "--output", str(output), "--retries", "0"])

    assert code == 0
    assert visible_files(output) == ["00000000.png", "00000001.png", "ATTRIBUTION.csv"]
    report = capsys.readouterr().out
    assert "results found:    3" in report
    assert "saved:            2" in report
    assert "http 404: 1" in report
    assert "attribution:      2 images" in report


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--provider", "brave"], "--api-key: brave needs a subscription token: pass one or set BRAVE_SEARCH_API_KEY"),
        (["--provider", "google"], "--api-key: google needs an API key: pass one or set GOOGLE_SEARCH_API_KEY"),
        (
            ["--provider", "google", "--api-key", KEY],
            "--engine-id: google needs a search engine id (cx): pass one or set GOOGLE_SEARCH_ENGINE_ID",
        ),
        (
            ["--provider", "bing", "--endpoint", "http://127.0.0.1:9"],
            "--api-key: bing needs a subscription key: pass one or set BING_SEARCH_V7_SUBSCRIPTION_KEY",
        ),
    ],
    ids=["brave", "google-key", "google-engine", "bing"],
)
def test_cli_missing_key_is_one_line_naming_the_flag_and_the_variable(tmp_path, monkeypatch, capsys, arguments, message):
    for variable in ("BRAVE_SEARCH_API_KEY", "GOOGLE_SEARCH_API_KEY", "GOOGLE_SEARCH_ENGINE_ID", "BING_SEARCH_V7_SUBSCRIPTION_KEY"):
        monkeypatch.delenv(variable, raising=False)

    code = search_bing_api.main(["--query", "red dress", "--output", str(tmp_path / "out"), *arguments])

    assert code == 2
    assert capsys.readouterr().err == f"search_bing_api.py: error: {message}\n"
    assert not (tmp_path / "out").exists()


def test_cli_exits_non_zero_when_nothing_could_be_saved(httpserver, tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text(serve(httpserver, "/page", b"<html></html>", "text/html") + "\n")

    assert search_bing_api.main(["--urls", str(listing), "--output", str(tmp_path / "dataset" / "out")]) == 1


def test_cli_rerun_with_everything_fetched_exits_zero(httpserver, tmp_path, capsys):
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(serve_pictures(httpserver, 2)) + "\n")
    arguments = ["--urls", str(listing), "--output", str(tmp_path / "dataset" / "out")]
    search_bing_api.main(arguments)

    assert search_bing_api.main(arguments) == 0
    assert "already fetched:  2" in capsys.readouterr().out


def test_cli_reports_a_malformed_search_answer_in_one_line(httpserver, tmp_path, capsys):
    httpserver.expect_request("/v1/images/").respond_with_data("<html>gateway</html>", content_type="text/html")
    arguments = ["--query", "x", "--endpoint", httpserver.url_for("/"), "--output", str(tmp_path / "dataset" / "out")]

    assert search_bing_api.main(arguments) == 1
    error = capsys.readouterr().err
    assert error.startswith("search_bing_api.py: error: ") and "is not JSON" in error
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--urls", "missing.txt", "--output", "out"], "--urls: URL list missing.txt does not exist"),
        (["--urls", "urls.txt", "--output", "urls.txt"], "--output: output urls.txt is a file"),
        (["--query", "x", "--endpoint", "nowhere", "--output", "out"], "--endpoint: endpoint must be an http"),
        (["--query", "x", "--page-size", "21", "--output", "out"], "--page-size: page_size must be at most 20 for openverse"),
        (
            ["--query", "x", "--provider", "brave", "--api-key", KEY, "--license", "commercial", "--output", "out"],
            "--license: brave cannot filter by licence",
        ),
        (["--query", "x", "--manifest", "data.txt", "--output", "out"], "--manifest: expected a .csv file"),
    ],
    ids=["missing-url-list", "output-is-a-file", "bad-endpoint", "page-size", "licence-filter", "manifest-name"],
)
def test_cli_rejects_bad_input_in_one_line_before_any_request(tmp_path, monkeypatch, capsys, arguments, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "urls.txt").write_text("http://127.0.0.1/a.png\n")

    assert search_bing_api.main(arguments) == 2
    error = capsys.readouterr().err
    assert error.startswith("search_bing_api.py: error: ")
    assert message in error and error.count("\n") == 1


@pytest.mark.parametrize(
    ("flag_name", "value"),
    [("--max-results", "0"), ("--page-size", "0"), ("--timeout", "-1"), ("--workers", "many"), ("--retries", "-1"), ("--max-wait", "soon")],
)
def test_cli_rejects_out_of_range_numbers(tmp_path, capsys, flag_name, value):
    with pytest.raises(SystemExit) as exit_info:
        search_bing_api.main(["--urls", "u.txt", "--output", str(tmp_path), flag_name, value])

    assert exit_info.value.code == 2
    assert f"argument {flag_name}: expected" in capsys.readouterr().err


def test_cli_interrupted_by_ctrl_c_leaves_no_partial_file_and_resumes(httpserver, tmp_path):
    urls = serve_pictures(httpserver, 3)
    arrived, release = threading.Event(), threading.Event()

    def stall(request):
        arrived.set()
        release.wait(PROCESS_TIMEOUT)  # bounded, so that a failing test never holds the server
        return Response(encoded(".png", 200), content_type="image/png")

    httpserver.expect_oneshot_request("/stalled.png").respond_with_handler(stall)
    serve(httpserver, "/stalled.png", encoded(".png", 200))
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join([*urls, httpserver.url_for("/stalled.png")]) + "\n")
    output = tmp_path / "dataset" / "red_dress"
    # A timeout far longer than the test: the stalled download is still waiting when SIGINT comes.
    arguments = ["--urls", str(listing), "--output", str(output), "--workers", "1", "--timeout", str(PROCESS_TIMEOUT)]
    process = subprocess.Popen(interruptible("search_bing_api.py", *arguments), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    abandoning = threading.Event()
    errors: list[str] = []

    def read_errors():
        for line in process.stderr:
            errors.append(line)
            if "interrupted: abandoning" in line:
                abandoning.set()

    reader = threading.Thread(target=read_errors, daemon=True)
    reader.start()
    try:
        assert arrived.wait(PROCESS_TIMEOUT), f"the stalled image was never asked for; stderr: {errors}"
        records = output / MANIFEST_NAME
        # The three quick images are saved and recorded (a manifest line follows its file).
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while not (records.exists() and len(records.read_text().splitlines()) == 3):
            assert time.monotonic() < deadline, f"the three images were never recorded; stderr: {errors}"
            assert process.poll() is None, f"the run ended early; stderr: {errors}"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert abandoning.wait(PROCESS_TIMEOUT), f"the run never said it was interrupted; stderr: {errors}"
        release.set()  # only now may the stalled answer arrive: it must not be saved
        process.wait(timeout=PROCESS_TIMEOUT)
        reader.join(PROCESS_TIMEOUT)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()

    assert process.returncode == 130, errors
    assert "interrupted; run the same command again to resume" in "".join(errors)
    assert hidden_files(output) == []
    assert image_files(output) == ["00000000.png", "00000001.png", "00000002.png"]
    httpserver.log.clear()

    assert search_bing_api.main(arguments) == 0
    # The first run's stalled answer may still land in the log; nothing saved is asked for again.
    assert set(requested_paths(httpserver)) == {"/stalled.png"}
    assert image_files(output)[-1] == "00000003.png"
