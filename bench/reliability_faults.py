"""The fault campaign of bench/reliability.py, and the downloader's share of the bad-input campaign.

Each fault is a SIGKILL or SIGINT sent at a seeded random event of a real run: after the k-th
epoch's backup of a training (--work-dir), after the n-th annotated copy classify.py writes, when
export.py's temporary file appears, after the n-th image the downloader saves (from a server on
127.0.0.1). Runs synchronise on those events (a file appearing or changing), never on time.
Afterwards every file that existed before is its old or its new complete version, and the same
command run again (with --resume for training) ends as the uninterrupted run does.
"""

import hashlib
import json
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bad_inputs import BAD_IMAGES, ODD_IMAGES, TEMPORARY_MARK, Run, _complete, encode, good_image, hash_tree, make_dataset, run_and_judge
from conftest import interruptible

EPOCHS = 3


def serve(files: dict[str, bytes]) -> tuple[ThreadingHTTPServer, str]:
    """A server on 127.0.0.1 answering ``/name`` with ``files[name]`` (404 otherwise); returns it and its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            body = files.get(self.path.lstrip("/"))
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "image/jpeg" if self.path.endswith(".jpg") else "application/octet-stream")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def download_campaign(root: Path, trained: Path, command: Callable, env: dict, timeout: float) -> list[dict]:
    """Each bad and odd image of the corpus served to search_bing_api.py: a bad one counted as failed and not
    saved (exit code 1), an odd one saved (exit code 0); nothing else in the data set touched."""
    files, runs = {}, []
    for kinds in (BAD_IMAGES, ODD_IMAGES):
        for number, kind in enumerate(kinds):
            name = f"{kind.name}{Path(kind.filename).suffix}"
            files[name] = kind.make(number)
    server, base = serve(files)
    verdicts = []
    try:
        existing = make_dataset(root / "dataset", per_combination=2)
        for kinds, bad in ((BAD_IMAGES, True), (ODD_IMAGES, False)):
            for kind in kinds:
                listing = root / "lists" / f"{kind.name}.txt"
                listing.parent.mkdir(parents=True, exist_ok=True)
                listing.write_text(f"{base}/{kind.name}{Path(kind.filename).suffix}\n")
                readable = not bad and not kind.maybe_readable
                runs.append(
                    Run(
                        kind.name,
                        "search_bing_api.py",
                        ["--urls", listing, "--output", existing / "red_dress", "--retries", "0"],
                        (0,) if readable else (0, 1) if kind.maybe_readable else (1,),
                        "",
                        [listing, existing / "blue_jeans"],
                        "saved:            1" if readable else "" if kind.maybe_readable else "failed:           1",
                    )
                )
        for number, run in enumerate(runs):
            verdict = run_and_judge(run, root / "runs" / f"{number:03d}", trained, command, env, timeout)
            verdicts.append(verdict.to_json())
            status = "ok" if not verdict.problems else "FAIL " + "; ".join(verdict.problems)
            print(f"[download {number + 1}/{len(runs)}] {run.case} -> {verdict.returncode} {status}", flush=True)
    finally:
        server.shutdown()
    return verdicts


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float) -> bool:
    """Poll until ``condition()`` holds (True) or ``process`` ends first (False); a hang past ``timeout`` raises."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            return condition()
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise TimeoutError("the event never came")
        time.sleep(0.005)
    return True


def _start(script: str, args: list, cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    with open(log, "w") as handle:
        # interruptible: SIGINT acts as Ctrl-C in a terminal even where the campaign inherited it ignored.
        return subprocess.Popen(interruptible(script, *map(str, args)), cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT)


def _interrupt(process: subprocess.Popen, fault: signal.Signals, timeout: float) -> int:
    if process.poll() is None:
        process.send_signal(fault)
    return process.wait(timeout=timeout)


def _files(folder: Path) -> dict[str, str]:
    return {name: digest for name, digest in hash_tree(folder).items() if digest != "dir"}


def _judge_files(before: dict[str, str], after: dict[str, str], new: dict[str, str], folder: Path) -> tuple[list[str], list[str]]:
    """Files that are neither their old nor a complete new version, and temporary files left behind."""
    damaged, temporary = [], []
    for name, digest in after.items():
        if TEMPORARY_MARK in Path(name).name:
            temporary.append(name)
        elif digest not in (before.get(name), new.get(name)) and not (name not in new and _complete(folder / name)):
            damaged.append(name)
    damaged += [f"{name} (removed)" for name in before if name not in after]
    return damaged, temporary


def _last_metrics(path: Path) -> dict:
    import csv

    rows = list(csv.DictReader(path.open()))
    return {
        "epochs": [int(row["epoch"]) for row in rows],
        "loss": float(rows[-1]["loss"]),
        "val_exact_match": float(rows[-1]["val_exact_match"]),
    }


def _record(results: list[dict], result: dict) -> None:
    """Add one fault run's ``result`` to ``results`` and print its line."""
    results.append(result)
    problems = result["problems"]
    print(
        f"[fault] {result['kind']} {result['fault']} seed {result['seed']} {result['moment']}: exit {result['exit_code']}, "
        f"{'ok' if not problems else 'FAIL ' + '; '.join(problems)}",
        flush=True,
    )


def training_faults(root: Path, seeds: int, env: dict, timeout: float) -> list[dict]:
    """SIGKILL and SIGINT after the k-th epoch's backup (k seeded), over an earlier run's outputs; then --resume."""
    dataset = make_dataset(root / "dataset", per_combination=8)
    args = [
        "--dataset",
        dataset,
        "--epochs",
        EPOCHS,
        "--image-size",
        32,
        "--no-export",
        "--seed",
        0,
        "--patience",
        0,
        "--arch",
        "smallervggnet",
        "--work-dir",
        "work",
    ]
    reference = root / "uninterrupted"
    reference.mkdir(parents=True)
    process = _start("train.py", args, reference, env, reference / "log")
    assert process.wait(timeout=timeout) == 0, (reference / "log").read_text()[-2000:]
    expected = _last_metrics(reference / "fashion.metrics.csv")
    earlier = root / "earlier"
    earlier.mkdir()
    process = _start("train.py", [*args[:2], "--epochs", 1, *args[4:13]], earlier, env, earlier / "log")  # no --work-dir
    assert process.wait(timeout=timeout) == 0, (earlier / "log").read_text()[-2000:]
    results = []
    for seed in range(seeds):
        for fault in (signal.SIGKILL, signal.SIGINT):
            rng = random.Random(f"{seed}-{fault.name}")
            epoch = rng.randint(0, EPOCHS - 1)  # 0: as soon as the data set is loaded
            folder = root / f"{fault.name}-{seed}"
            shutil.copytree(earlier, folder, ignore=shutil.ignore_patterns("log", "work"))
            outputs = ["fashion.model", "mlb.pickle", "plot.png", "fashion.metrics.csv"]
            before = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in outputs}
            process = _start("train.py", args, folder, env, folder / "first.log")
            backup = folder / "work" / "backup" / "training_metadata.json"
            if epoch == 0:
                event = lambda: "images:" in (folder / "first.log").read_text()  # noqa: E731
            else:
                event = lambda: backup.is_file() and json.loads(backup.read_text() or "{}").get("epoch", 0) >= epoch  # noqa: E731
            reached = _wait_for(event, process, timeout)
            code = _interrupt(process, fault, timeout)
            after = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in outputs if (folder / name).is_file()}
            damaged = [name for name in outputs if name not in after or (after[name] != before[name] and not _complete(folder / name))]
            temporary = [name for name in hash_tree(folder) if TEMPORARY_MARK in Path(name).name]
            resumed = _start("train.py", [*args, "--resume"], folder, env, folder / "resumed.log")
            resumed_code = resumed.wait(timeout=timeout)
            metrics = _last_metrics(folder / "fashion.metrics.csv") if resumed_code == 0 else {}
            problems = []
            if damaged:
                problems.append(f"damaged: {', '.join(damaged)}")
            if "Traceback" in (folder / "first.log").read_text() and fault == signal.SIGINT:
                problems.append("traceback on Ctrl-C")
            if resumed_code != 0:
                problems.append(f"--resume exited {resumed_code}: {(folder / 'resumed.log').read_text().strip().splitlines()[-1:]}")
            elif metrics["epochs"] != list(range(1, EPOCHS + 1)):
                problems.append(f"epochs in the metrics CSV after resuming: {metrics['epochs']}")
            _record(
                results,
                {
                    "kind": "training",
                    "fault": fault.name,
                    "seed": seed,
                    "moment": f"after epoch {epoch}" if epoch else "data loaded",
                    "signal_reached_a_running_process": reached,
                    "exit_code": code,
                    "damaged": damaged,
                    "temporary_files": temporary,
                    "resumed_exit_code": resumed_code,
                    "loss_difference": round(metrics["loss"] - expected["loss"], 4) if metrics else None,
                    "val_exact_match_difference": round(metrics["val_exact_match"] - expected["val_exact_match"], 4) if metrics else None,
                    "problems": problems,
                },
            )
    return results


def classification_faults(root: Path, seeds: int, trained: Path, env: dict, timeout: float) -> list[dict]:
    """SIGKILL and SIGINT after the n-th annotated copy (n seeded) over an earlier run's copies; then the same command."""
    images = make_dataset(root / "images", per_combination=50)
    args = ["--model", trained / "fashion.model", "--labelbin", trained / "mlb.pickle", "--image", images, "--output", "out"]
    reference = root / "uninterrupted"
    reference.mkdir(parents=True)
    process = _start("classify.py", args, reference, env, reference / "log")
    assert process.wait(timeout=timeout) == 0, (reference / "log").read_text()[-2000:]
    new = _files(reference / "out")
    old_copy = encode(good_image(12345), ".jpg")
    results = []
    for seed in range(seeds):
        for fault in (signal.SIGKILL, signal.SIGINT):
            count = random.Random(f"classify-{seed}-{fault.name}").randint(1, len(new) - 1)
            folder = root / f"{fault.name}-{seed}"
            (folder / "out").mkdir(parents=True)
            for name in new:  # the earlier run's copies, each to be replaced
                (folder / "out" / name).write_bytes(old_copy)
            before = _files(folder / "out")
            process = _start("classify.py", args, folder, env, folder / "first.log")
            replaced = lambda: sum(digest != before.get(name) for name, digest in _files(folder / "out").items()) >= count  # noqa: E731
            reached = _wait_for(replaced, process, timeout)
            code = _interrupt(process, fault, timeout)
            damaged, temporary = _judge_files(before, _files(folder / "out"), new, folder / "out")
            again = _start("classify.py", args, folder, env, folder / "again.log").wait(timeout=timeout)
            final = {name: digest for name, digest in _files(folder / "out").items() if TEMPORARY_MARK not in name}
            problems = [f"damaged: {', '.join(damaged[:3])}"] if damaged else []
            if again != 0 or final != new:
                problems.append(f"the same command again: exit {again}, {sum(final.get(n) != d for n, d in new.items())} copies differ")
            _record(
                results,
                {
                    "kind": "classification",
                    "fault": fault.name,
                    "seed": seed,
                    "moment": f"after annotated copy {count}",
                    "signal_reached_a_running_process": reached and code != 0,
                    "exit_code": code,
                    "damaged": damaged,
                    "temporary_files": temporary,
                    "rerun_exit_code": again,
                    "problems": problems,
                },
            )
    return results


def _onnx_outputs(path: Path):
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = [1 if not isinstance(side, int) else side for side in session.get_inputs()[0].shape]
    batch = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def export_faults(root: Path, seeds: int, trained: Path, env: dict, timeout: float) -> list[dict]:
    """SIGKILL and SIGINT when export.py's temporary file appears (or is first non-empty), over an earlier export."""
    import numpy as np

    root.mkdir(parents=True)
    reference = _start(
        "export.py", ["--model", trained / "fashion.model", "--output", root / "uninterrupted.onnx"], root, env, root / "uninterrupted.log"
    )
    assert reference.wait(timeout=timeout) == 0, (root / "uninterrupted.log").read_text()[-2000:]
    expected = _onnx_outputs(root / "uninterrupted.onnx")
    results = []
    for seed in range(seeds):
        for fault in (signal.SIGKILL, signal.SIGINT):
            moment = random.Random(f"export-{seed}-{fault.name}").choice(["appears", "is written"])
            folder = root / f"{fault.name}-{seed}"
            folder.mkdir()
            shutil.copyfile(trained / "fashion.onnx", folder / "fashion.onnx")
            before = _files(folder)
            args = ["--model", trained / "fashion.model", "--output", folder / "fashion.onnx"]
            process = _start("export.py", args, folder, env, root / f"{fault.name}-{seed}.log")

            def temporary_file() -> bool:
                parts = [path for path in folder.iterdir() if TEMPORARY_MARK in path.name]
                return bool(parts) and (moment == "appears" or any(path.stat().st_size > 0 for path in parts if path.exists()))

            reached = _wait_for(temporary_file, process, timeout)
            code = _interrupt(process, fault, timeout)
            after = _files(folder)
            temporary = [name for name in after if TEMPORARY_MARK in name]
            kept = after.get("fashion.onnx")
            damaged = []
            if kept is None:
                damaged.append("fashion.onnx (removed)")
            elif kept != before["fashion.onnx"]:
                try:
                    _onnx_outputs(folder / "fashion.onnx")
                except Exception:  # noqa: BLE001 (any failure to run it is damage)
                    damaged.append("fashion.onnx")
            again = _start("export.py", args, folder, env, root / f"{fault.name}-{seed}-again.log").wait(timeout=timeout)
            problems = [f"damaged: {', '.join(damaged)}"] if damaged else []
            difference = float(np.abs(_onnx_outputs(folder / "fashion.onnx") - expected).max()) if again == 0 else None
            if again != 0 or difference > 1e-5:
                problems.append(f"the same command again: exit {again}, outputs differ by {difference}")
            _record(
                results,
                {
                    "kind": "export",
                    "fault": fault.name,
                    "seed": seed,
                    "moment": f"when the temporary file {moment}",
                    "signal_reached_a_running_process": reached,
                    "exit_code": code,
                    "damaged": damaged,
                    "temporary_files": temporary,
                    "rerun_exit_code": again,
                    "problems": problems,
                },
            )
    return results


def _picture(seed: int) -> bytes:
    return encode(good_image(seed, size=64), ".jpg")


def download_faults(root: Path, seeds: int, env: dict, timeout: float) -> list[dict]:
    """SIGKILL and SIGINT after the n-th saved image (n seeded); then the same command, which resumes."""
    count = 60
    files = {f"p{index}.jpg": _picture(1000 + index) for index in range(count)}
    server, base = serve(files)
    root.mkdir(parents=True)
    listing = root / "urls.txt"
    listing.write_text("".join(f"{base}/{name}\n" for name in files))
    expected = {hashlib.sha256(data).hexdigest() for data in files.values()}
    results = []
    try:
        for seed in range(seeds):
            for fault in (signal.SIGKILL, signal.SIGINT):
                saved_before_fault = random.Random(f"download-{seed}-{fault.name}").randint(1, count - 1)
                folder = root / f"{fault.name}-{seed}"
                output = folder / "dataset" / "red_dress"
                args = ["--urls", listing, "--output", output, "--retries", "0", "--workers", "2"]
                folder.mkdir()
                process = _start("search_bing_api.py", args, folder, env, folder / "first.log")

                def saved_images() -> list[Path]:
                    # A killed write leaves its temporary part (".00000009.jpg.x.part.jpg"): judged as temporary, not as an image.
                    return [path for path in output.iterdir() if path.suffix == ".jpg" and TEMPORARY_MARK not in path.name]

                reached = _wait_for(lambda: output.is_dir() and len(saved_images()) >= saved_before_fault, process, timeout)
                code = _interrupt(process, fault, timeout)
                images = {path.name: path for path in saved_images()} if output.is_dir() else {}
                damaged = [name for name, path in images.items() if hashlib.sha256(path.read_bytes()).hexdigest() not in expected]
                temporary = [name for name in hash_tree(folder) if TEMPORARY_MARK in Path(name).name]
                again = _start("search_bing_api.py", args, folder, env, folder / "again.log").wait(timeout=timeout)
                final = {hashlib.sha256(path.read_bytes()).hexdigest() for path in output.iterdir() if path.suffix == ".jpg"}
                problems = [f"damaged: {', '.join(damaged[:3])}"] if damaged else []
                if again != 0 or final != expected:
                    problems.append(
                        f"the same command again: exit {again}, {len(final)} of {count} images, {len(final - expected)} unknown"
                    )
                _record(
                    results,
                    {
                        "kind": "download",
                        "fault": fault.name,
                        "seed": seed,
                        "moment": f"after saved image {saved_before_fault}",
                        "signal_reached_a_running_process": reached and code != 0,
                        "exit_code": code,
                        "damaged": damaged,
                        "temporary_files": temporary,
                        "rerun_exit_code": again,
                        "problems": problems,
                    },
                )
    finally:
        server.shutdown()
    return results


def fault_campaign(root: Path, seeds: int, command: Callable, env: dict, timeout: float) -> dict:
    """Every kind of fault, ``seeds`` seeds each, SIGKILL and SIGINT: results and their summary."""
    from reliability import train_reference

    trained = train_reference(root / "trained")
    runs = (
        download_faults(root / "download", seeds, env, timeout)
        + classification_faults(root / "classification", seeds, trained, env, timeout)
        + export_faults(root / "export", seeds, trained, env, timeout)
        + training_faults(root / "training", seeds, env, timeout)
    )
    summary = {
        "faults": len(runs),
        "kinds": sorted({run["kind"] for run in runs}),
        "interrupted_mid_run": sum(bool(run["signal_reached_a_running_process"]) for run in runs),
        "damaged_files": sum(len(run["damaged"]) for run in runs),
        "temporary_files_left": sum(len(run["temporary_files"]) for run in runs),
        "reruns_matching_the_uninterrupted_run": sum(
            not any("again" in problem or "resume" in problem for problem in run["problems"]) for run in runs
        ),
        "failures": [f"{run['kind']} {run['fault']} seed {run['seed']}: {'; '.join(run['problems'])}" for run in runs if run["problems"]],
    }
    training = [run for run in runs if run["kind"] == "training" and run["loss_difference"] is not None]
    if training:
        summary["resumed_training_vs_uninterrupted"] = {
            "largest_loss_difference": max(abs(run["loss_difference"]) for run in training),
            "largest_val_exact_match_difference": max(abs(run["val_exact_match_difference"]) for run in training),
        }
    return {"summary": summary, "runs": runs}
