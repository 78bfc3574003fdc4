#!/usr/bin/env python
"""Build a labelled image data set from an image search or from a list of image URLs.

    python search_bing_api.py --query "red dress" --output dataset/red_dress
    python search_bing_api.py --urls red_dress.txt --output dataset/red_dress

Microsoft retired the Bing Image Search v7 API on 2025-08-11: --query needs an
endpoint that still speaks its protocol (--endpoint, --api-key); --urls needs none.
"""

import argparse
import logging
import math
import os
import sys
from collections.abc import Callable

from tqdm import tqdm

from pyimagesearch.cli import configure_logging, run
from pyimagesearch.download import (
    DEFAULT_MAX_BYTES,
    DEFAULT_WORKERS,
    DownloadSummary,
    download_images,
    prepare_output_folder,
)
from pyimagesearch.search_api import (
    API_KEY_ENVIRONMENT_VARIABLE,
    DEFAULT_ENDPOINT,
    DEFAULT_GROUP_SIZE,
    DEFAULT_MAX_RESULTS,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    MAX_GROUP_SIZE,
    SearchError,
    build_session,
    read_url_list,
    search_image_urls,
    search_url,
)

PROGRAM = "search_bing_api.py"
NO_KEY_MESSAGE = (
    f"--query needs an API key: pass --api-key or set {API_KEY_ENVIRONMENT_VARIABLE}, with --endpoint naming "
    "a service that still speaks the Bing Image Search v7 protocol (Microsoft retired the Bing Search APIs "
    "on 2025-08-11). Without one, put image URLs in a text file, one a line, and run with --urls FILE instead."
)
# Under "pyimagesearch", so that the handlers configure_logging installs print it.
logger = logging.getLogger("pyimagesearch.search_bing_api")


def _whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``minimum`` to ``maximum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}{upper}, got {text!r}")
        return value

    return parse


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds greater than zero."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds greater than 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line: a search (--query) or a URL list (--urls), an output folder and limits."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Download the images an image search finds (or a list of image URLs) into one folder per label.",
        epilog="Re-running the same command resumes: URLs already fetched are skipped.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-q", "--query", help='search terms, e.g. "red dress"')
    source.add_argument(
        "--urls", metavar="FILE", help="download the image URLs in FILE (one a line) instead of searching"
    )
    parser.add_argument("-o", "--output", required=True, help="folder for the images, e.g. dataset/red_dress")
    parser.add_argument(
        "--max-results", type=_whole_number(1), default=DEFAULT_MAX_RESULTS,
        help="the most search results to fetch (default: %(default)s)",
    )
    parser.add_argument(
        "--group-size", type=_whole_number(1, MAX_GROUP_SIZE), default=DEFAULT_GROUP_SIZE,
        help="search results per request (default: %(default)s)",
    )
    parser.add_argument(
        "--api-key", help=f"search API key (default: the environment variable {API_KEY_ENVIRONMENT_VARIABLE})"
    )
    parser.add_argument(
        "--endpoint", default=DEFAULT_ENDPOINT,
        help="base URL of a Bing Image Search v7 compatible API (default: %(default)s, retired)",
    )
    parser.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_TIMEOUT,
        help="seconds to wait to connect or between bytes (default: %(default)s)",
    )
    parser.add_argument(
        "--retries", type=_whole_number(0), default=DEFAULT_RETRIES,
        help="retries per request after a 429, 5xx or network error (default: %(default)s)",
    )
    parser.add_argument(
        "--workers", type=_whole_number(1), default=DEFAULT_WORKERS, help="parallel downloads (default: %(default)s)"
    )
    parser.add_argument(
        "--max-bytes", type=_whole_number(1), default=DEFAULT_MAX_BYTES,
        help="largest image accepted, in bytes (default: %(default)s)",
    )
    return parser


def format_summary(summary: DownloadSummary, output: str) -> str:
    """The report printed at the end: counts, and failures by reason."""
    lines = [
        f"results found:    {summary.found}",
        f"saved:            {summary.saved} (in {output})",
        f"already fetched:  {summary.already_fetched}",
        f"duplicates:       {summary.duplicates}",
        f"failed:           {sum(summary.failed.values())}",
    ]
    lines += [f"  {reason}: {count}" for reason, count in sorted(summary.failed.items())]
    return "\n".join(lines)


def _checked(flag: str, check: Callable[[], object]) -> object:
    """Call ``check``; prefix a ValueError it raises with the flag whose value caused it."""
    try:
        return check()
    except ValueError as error:
        raise ValueError(f"{flag}: {error}") from error


def _api_key(flag_value: str | None) -> str:
    """The key from --api-key, else from the environment; a ValueError explains what to do without one."""
    api_key = (flag_value or os.environ.get(API_KEY_ENVIRONMENT_VARIABLE, "")).strip()
    if not api_key:
        raise ValueError(NO_KEY_MESSAGE)
    return api_key


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns 0, 1 when nothing could be saved, 2 for wrong arguments, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    configure_logging()

    def build_dataset() -> int:
        # Every argument is checked before the first request, so a mistake costs no traffic.
        if args.urls is not None:
            urls = _checked("--urls", lambda: read_url_list(args.urls))
        else:
            api_key = _api_key(args.api_key)
            _checked("--endpoint", lambda: search_url(args.endpoint))
        _checked("--output", lambda: prepare_output_folder(args.output))
        with build_session(retries=args.retries, pool_size=args.workers) as session:
            if args.urls is None:
                if args.endpoint.rstrip("/") == DEFAULT_ENDPOINT:
                    logger.warning("%s was retired on 2025-08-11; expect it to fail (see --urls)", DEFAULT_ENDPOINT)
                found = search_image_urls(
                    session, query=args.query, api_key=api_key, endpoint=args.endpoint,
                    max_results=args.max_results, group_size=args.group_size, timeout=args.timeout,
                )
                logger.info("search found %d image URLs in %d request(s): %s", len(found.urls), found.pages, found.stop_reason)
                urls = found.urls
            with tqdm(total=len(urls), unit="image", desc="downloading", disable=None) as bar:
                summary = download_images(
                    urls, args.output, session=session, timeout=args.timeout,
                    max_bytes=args.max_bytes, workers=args.workers, progress=lambda _outcome: bar.update(),
                )
        print(format_summary(summary, args.output))
        # Nothing new to save is fine on a re-run; nothing saved while something failed is not.
        return 1 if summary.found == 0 or (summary.saved == 0 and summary.failed) else 0

    def build_and_report() -> int:
        try:
            return build_dataset()
        except (SearchError, OSError) as error:  # the endpoint or the disk failed, not the arguments
            print(f"{PROGRAM}: error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{PROGRAM}: interrupted; run the same command again to resume where it stopped", file=sys.stderr)
            return 130

    return run(build_and_report, PROGRAM)


if __name__ == "__main__":
    raise SystemExit(main())
