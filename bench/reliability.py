#!/usr/bin/env python
"""Nothing breaks, nothing is lost: the bad-input campaign and the fault campaign, with counts.

Bad inputs: every kind of tests/bad_inputs.py (unreadable and odd images, odd folder layouts, bad
model files, labelbins, manifests, feature tables, out-of-range flags, and bad images served to
the downloader by a server on 127.0.0.1) goes through every CLI it reaches, each run a real
subprocess in a folder holding an earlier run's outputs. A run passes when it ends with the exit
code expected, prints no traceback, ends a failure with one line naming the file or flag, leaves
every earlier output as it was (or, on success, replaced by a complete new one) and every input
byte for byte as it was (hashed before and after).

Faults: SIGKILL and SIGINT at seeded random events (after the k-th epoch's backup of a training,
after the n-th annotated copy, when the export's temporary file appears, after the n-th downloaded
image); afterwards every file that existed is its old or its new complete version, and the same
command run again (--resume for training) ends as an uninterrupted run does.

    nice -n 10 python bench/reliability.py                 # both campaigns (about 20 minutes on 2 cores)
    nice -n 10 python bench/reliability.py --campaign bad-inputs --groups images,flags

Writes bench/results/reliability.json and prints the counts that docs/reliability.md quotes.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(PROJECT_ROOT / "tests"), str(PROJECT_ROOT), str(BENCH_DIR)]

from bad_inputs import TRAINING_FLAGS, campaign_runs, make_dataset, run_and_judge  # noqa: E402
from common import RESULTS_DIR, machine  # noqa: E402

GROUPS = ("images", "layouts", "models", "labelbins", "manifests", "tables", "flags", "downloads")
# No process outlives this: a hang is a failed run, not a stuck campaign.
TIMEOUT = 600


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def command(script: str, args: list[str]) -> list[str]:
    return [sys.executable, str(PROJECT_ROOT / script), *args]


def train_reference(folder: Path) -> Path:
    """The earlier run every case works against: a tiny training with its export."""
    import subprocess

    dataset = make_dataset(folder / "dataset", per_combination=6)
    flags = [flag for flag in TRAINING_FLAGS if flag != "--no-export"]
    completed = subprocess.run(
        command("train.py", ["--dataset", str(dataset), *flags]),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=environment(),
    )
    if completed.returncode != 0:
        raise SystemExit(f"the reference training failed:\n{completed.stderr[-3000:]}")
    return folder


def bad_input_campaign(root: Path, groups: tuple[str, ...], training: bool) -> list[dict]:
    trained = train_reference(root / "trained")
    runs = campaign_runs(root / "cases", trained, tuple(group for group in groups if group != "downloads"), training)
    verdicts = []
    for number, run in enumerate(runs):
        verdict = run_and_judge(run, root / "runs" / f"{number:03d}", trained, command, environment(), TIMEOUT)
        verdicts.append(verdict.to_json())
        status = "ok" if not verdict.problems else "FAIL " + "; ".join(verdict.problems)
        print(f"[{number + 1}/{len(runs)}] {run.case} {run.script} -> {verdict.returncode} ({verdict.seconds:.1f} s) {status}", flush=True)
        if verdict.problems:
            print(f"    {verdict.error_line or '(no error line)'}", flush=True)
    if "downloads" in groups:
        from reliability_faults import download_campaign

        verdicts += download_campaign(root / "downloads", trained, command, environment(), TIMEOUT)
    return verdicts


def _without_timestamp(line: str) -> str:
    """A C++ library's log line without its time and thread (``I0000 00:00:1796317073.217 18149 port.cc``)."""
    return re.sub(r"^([IWEF]\d{4}) [\d:.]+\s+\d+ ", r"\1 ", line)[:160]


def summarise_bad_inputs(verdicts: list[dict]) -> dict:
    kinds = {verdict["case"] for verdict in verdicts}
    return {
        "kinds": len(kinds),
        "runs": len(verdicts),
        "commands": dict(Counter(verdict["script"] for verdict in verdicts)),
        "passed": sum(not verdict["problems"] for verdict in verdicts),
        "tracebacks": sum(verdict["traceback"] for verdict in verdicts),
        "damaged_files": sum(len(verdict["damaged"]) for verdict in verdicts),
        "changed_inputs": sum(bool(verdict["changed_inputs"]) for verdict in verdicts),
        "failures": [
            f"{verdict['case']} {verdict['script']}: {'; '.join(verdict['problems'])}" for verdict in verdicts if verdict["problems"]
        ],
        "runs_with_foreign_stderr_lines": sum(bool(verdict["foreign_lines"]) for verdict in verdicts),
        "foreign_stderr_lines": sorted({_without_timestamp(line) for verdict in verdicts for line in verdict["foreign_lines"]}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaign", choices=("all", "bad-inputs", "faults"), default="all")
    parser.add_argument("--groups", default=",".join(GROUPS), help=f"bad-input groups, of {', '.join(GROUPS)}")
    parser.add_argument("--no-training", action="store_true", help="skip train.py on image folders (the slow part)")
    parser.add_argument("--seeds", type=int, default=3, help="fault campaign: seeds per kind of fault")
    parser.add_argument("--output", default=str(RESULTS_DIR / "reliability.json"))
    args = parser.parse_args(argv)
    groups = tuple(args.groups.split(","))
    # A campaign run alone replaces its own section of an existing results file and keeps the other's.
    output = Path(args.output)
    results = json.loads(output.read_text()) if output.is_file() else {}
    run_by = {
        "command": " ".join(["python bench/reliability.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reliability-") as folder:
        root = Path(folder)
        if args.campaign in ("all", "bad-inputs"):
            verdicts = bad_input_campaign(root / "bad", groups, not args.no_training)
            minutes = round((time.perf_counter() - started) / 60, 1)
            results["bad_inputs"] = {**run_by, "minutes": minutes, "summary": summarise_bad_inputs(verdicts), "runs": verdicts}
            print(json.dumps(results["bad_inputs"]["summary"], indent=2, ensure_ascii=False))
        if args.campaign in ("all", "faults"):
            from reliability_faults import fault_campaign

            faults_started = time.perf_counter()
            faults = fault_campaign(root / "faults", args.seeds, command, environment(), TIMEOUT)
            results["faults"] = {**run_by, "minutes": round((time.perf_counter() - faults_started) / 60, 1), **faults}
            print(json.dumps(results["faults"]["summary"], indent=2))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {output} ({(time.perf_counter() - started) / 60:.1f} minutes)")
    failed = results.get("bad_inputs", {}).get("summary", {}).get("failures") or results.get("faults", {}).get("summary", {}).get(
        "failures"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
