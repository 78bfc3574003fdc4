#!/usr/bin/env python
"""Build a labelled image data set from an image search or from a list of image URLs.

    python search_bing_api.py --query "red dress" --output dataset/red_dress
    python search_bing_api.py --query "red dress" --output dataset/red_dress --provider brave
    python search_bing_api.py --urls red_dress.txt --output dataset/red_dress

The default provider, Openverse, needs no key. The script keeps the tutorial's name, though
Microsoft retired the Bing Image Search API on 2025-08-11 (--provider bing speaks its protocol
to a compatible endpoint).
"""

import argparse
import os
import sys
from collections.abc import Callable

from tqdm import tqdm

from pyimagesearch.cli import configure_logging, run
from pyimagesearch.download.builder import DatasetReport, build_dataset
from pyimagesearch.download.options import SETTINGS
from pyimagesearch.download.search import SearchError, SettingError
from pyimagesearch.options import add_options, build, flag

PROGRAM = "search_bing_api.py"


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from the settings' fields (pyimagesearch/download/options.py)."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Download the images an image search finds (or a list of image URLs) into one folder per label.",
        epilog="Re-running the same command resumes: URLs already settled are skipped.",
    )
    return add_options(parser, SETTINGS)


def format_report(report: DatasetReport, output: str) -> str:
    """The report printed at the end: counts, failures by reason, conflicts and the records written."""
    summary = report.summary
    lines = [
        f"results found:    {summary.found}",
        f"saved:            {summary.saved} (in {output})",
        f"already fetched:  {summary.already_fetched}",
        f"duplicates:       {summary.duplicates}",
        f"conflicts:        {len(summary.conflicts)}",
        f"failed:           {sum(summary.failed.values())}",
    ]
    lines += [f"  {reason}: {count}" for reason, count in sorted(summary.failed.items())]
    lines.append(f"attribution:      {report.attribution_rows} images in {os.path.join(output, 'ATTRIBUTION.csv')}")
    if report.manifest_rows is not None:
        lines.append(f"manifest:         {report.manifest_rows} images")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns 0, 1 when nothing could be saved or the search failed, 2 for wrong arguments, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    configure_logging()
    search, transfer, output = (build(settings, vars(args), strict=False) for settings in SETTINGS)

    bars: list[tqdm] = []

    def progress(total: int) -> Callable:
        bars.append(tqdm(total=total, unit="image", desc="downloading", disable=None))
        return lambda _outcome: bars[-1].update()

    def build_and_report() -> int:
        try:
            report = build_dataset(search, transfer, output, environ=os.environ, progress=progress)
        except SettingError as error:
            print(f"{PROGRAM}: error: {flag(error.setting)}: {error}", file=sys.stderr)
            return 2
        except (SearchError, OSError) as error:  # the service or the disk failed, not the arguments
            print(f"{PROGRAM}: error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{PROGRAM}: interrupted; run the same command again to resume where it stopped", file=sys.stderr)
            return 130
        finally:
            for bar in bars:
                bar.close()
        root = os.path.dirname(os.path.normpath(output.output))
        for url, sibling in report.summary.conflicts:
            print(f"conflict: {url} is already in {os.path.join(root, sibling)}; not saved in {output.output}", file=sys.stderr)
        print(format_report(report, output.output))
        summary = report.summary
        # Nothing new to save is fine on a re-run; nothing saved while something failed is not.
        return 1 if summary.found == 0 or (summary.saved == 0 and summary.failed) else 0

    return run(build_and_report, PROGRAM)


if __name__ == "__main__":
    raise SystemExit(main())
