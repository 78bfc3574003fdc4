"""What the data-set builder's tests share: a real HTTP server on 127.0.0.1, a guard that refuses
any connection beyond the loopback interface, and small real images made here.

Import the fixtures by name into a test module (``from download_support import httpserver, ...``).
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import urllib3.util.connection
from PIL import Image
from pytest_httpserver import HTTPServer

from pyimagesearch.download.records import MANIFEST_NAME
from pyimagesearch.download.web import build_session

REPOSITORY = Path(__file__).resolve().parent.parent
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
KEY = "test-key"
# A hard limit for every subprocess: it is killed (and waited for) when it runs out.
PROCESS_TIMEOUT = 300


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


@pytest.fixture
def label_folder(tmp_path) -> Path:
    """``dataset/red_dress`` under the test's own folder (created), so that its siblings are the test's alone."""
    folder = tmp_path / "dataset" / "red_dress"
    folder.mkdir(parents=True)
    return folder


def encoded(extension: str, shade: int, size: int = 8) -> bytes:
    """A small flat image; each shade gives different bytes (but one picture hash: flat is flat)."""
    pixels = np.full((size, size, 3), shade, np.uint8)
    ok, buffer = cv2.imencode(extension, pixels)
    assert ok
    return buffer.tobytes()


def picture(seed: int, extension: str = ".png", size: int = 64) -> bytes:
    """A small smooth image of random colours: pictures of different seeds are far apart as the split
    hashes them (more than 60 of 256 bits for seeds 0-29), a re-encoded copy close (see test_download_dataset.py)."""
    colours = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    ok, buffer = cv2.imencode(extension, cv2.resize(colours, (size, size), interpolation=cv2.INTER_CUBIC))
    assert ok
    return buffer.tobytes()


def gif(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 0, 0)).save(buffer, "GIF")
    return buffer.getvalue()


def serve(server: HTTPServer, path: str, body: bytes, content_type: str = "image/png") -> str:
    server.expect_request(path).respond_with_data(body, content_type=content_type)
    return server.url_for(path)


def serve_pictures(server: HTTPServer, count: int, first_seed: int = 0) -> list[str]:
    return [serve(server, f"/picture{seed}.png", picture(seed)) for seed in range(first_seed, first_seed + count)]


def requested_paths(server: HTTPServer) -> list[str]:
    return [request.path for request, _ in server.log]


def manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / MANIFEST_NAME).read_text().splitlines()]


def visible_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("."))


def image_files(folder: Path) -> list[str]:
    return [name for name in visible_files(folder) if name != "ATTRIBUTION.csv"]


def hidden_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith(".") and path.name != MANIFEST_NAME)


def run_process(arguments: list[str], cwd: Path, timeout: float = PROCESS_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a command with the project importable; ``subprocess.run`` kills it and waits if the timeout runs out."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )
