"""The spread of every score the test suite asserts: the suite under several seeds, on two kinds of CPU.

Each run is the whole suite (or the tests named) with ``PYIMAGESEARCH_TEST_SEED`` set, so that
every training a test runs takes that seed (tests/conftest.py). The two CPUs:

- ``avx2``: a CPU without AVX-512 and bfloat16, emulated on this one with
  ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN's kernels then are the ones such a CPU runs, and
  ``--precision auto`` trains in float32). Tests that ask for bfloat16 explicitly are left out
  there: oneDNN, limited to AVX2, refuses bfloat16 convolutions that a real AVX2 CPU runs
  through TensorFlow's own kernels.
- ``native``: this CPU as it is (``--precision auto`` trains in bfloat16 where it has AMX or
  AVX512-BF16).

The tests record what they assert with pytest's ``record_property``; this script reads them
back from each run's JUnit XML and writes, per test and score, every value, the minimum,
median and maximum, and the failures.

    python bench/test_spread.py --seeds 1 2 3 4 5
    python bench/test_spread.py --seeds 1 2 3 --cpus avx2 --tests tests/test_unknown.py
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPUS = {
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "native": {},
}
# Tests that train in bfloat16 whatever --precision auto would choose (see the module docstring).
EXPLICIT_BFLOAT16 = "not bfloat16 and not test_train_export_writes_an_onnx_model_that_classify_runs"


def run_suite(seed: int, cpu: str, tests: list[str], workers: int, report: Path) -> None:
    """One pytest run under ``seed`` on ``cpu``, its results in the JUnit XML file ``report``."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *tests]
    if workers > 0:
        command += ["-n", str(workers), "--dist", "loadfile"]
    if cpu == "avx2":
        command += ["-k", EXPLICIT_BFLOAT16]
    env = {**os.environ, **CPUS[cpu], "PYIMAGESEARCH_TEST_SEED": str(seed), "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    print(
        f"seed {seed} on {cpu}: {completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else completed.returncode}",
        flush=True,
    )


def read_report(report: Path) -> tuple[dict[str, dict[str, object]], list[str]]:
    """``({test id: {property: value}}, [failed test ids])`` from a JUnit XML file."""
    scores, failed = {}, []
    for case in ElementTree.parse(report).iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        properties = {item.get("name"): item.get("value") for item in case.iter("property")}
        if properties:
            scores[test] = properties
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(test)
    return scores, failed


def as_number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def summarise(runs: list[dict]) -> dict:
    """Per test and score, the values of every run and, for numbers, their minimum, median and maximum."""
    table: dict[str, dict[str, dict]] = {}
    for run in runs:
        for test, properties in run["scores"].items():
            for name, value in properties.items():
                entry = table.setdefault(test, {}).setdefault(name, {"values": {}})
                entry["values"][f"{run['cpu']} seed {run['seed']}"] = value
    for scores in table.values():
        for entry in scores.values():
            numbers = [as_number(value) for value in entry["values"].values()]
            if numbers and all(number is not None for number in numbers):
                entry.update(min=min(numbers), median=statistics.median(numbers), max=max(numbers))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="seeds to run the suite under")
    parser.add_argument("--cpus", nargs="+", choices=tuple(CPUS), default=list(CPUS), help="CPUs to run on (emulated)")
    parser.add_argument("--tests", nargs="+", default=["tests"], help="test files or node ids")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist processes (0: one process)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "test_spread.json")
    args = parser.parse_args(argv)

    command = " ".join(["python", "bench/test_spread.py", *(argv if argv is not None else sys.argv[1:])])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for cpu in args.cpus:
            for seed in args.seeds:
                report = Path(scratch) / f"{cpu}-{seed}.xml"
                run_suite(seed, cpu, args.tests, args.workers, report)
                scores, failed = read_report(report)
                runs.append({"cpu": cpu, "seed": seed, "scores": scores, "failed": failed})
                # Written after every run: a long sweep can be read, or stopped, half way.
                result = {
                    "command": command,
                    "runs": [{key: run[key] for key in ("cpu", "seed", "failed")} for run in runs],
                    "scores": summarise(runs),
                }
                args.output.write_text(json.dumps(result, indent=1) + "\n")
    for test, scores in result["scores"].items():
        for name, entry in scores.items():
            spread = f"{entry['min']:.3g} / {entry['median']:.3g} / {entry['max']:.3g}" if "min" in entry else ""
            print(f"{test} {name}: {spread or ' '.join(map(str, entry['values'].values()))}")
    for run in runs:
        if run["failed"]:
            print(f"failed on {run['cpu']} seed {run['seed']}: {', '.join(run['failed'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
