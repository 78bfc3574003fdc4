"""What every benchmark shares: where things are, running a variant in a fresh process, medians, tables.

A benchmark script runs each variant several times, each time in a fresh Python process (so
one variant's imports, caches and memory never help or hurt another, and each process's peak
RSS is that variant's own), interleaving the variants so that a busy machine slows them all
alike. The child prints one JSON object as its last line; `run_child` returns it.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
# Benchmark-only packages (tf_keras for the reference), installed by `make bench` with
# `pip install --no-deps --target`, so the product's virtualenv never sees them.
DEPS_DIR = BENCH_DIR / ".deps"
# The real photos live beside the project, never inside it (as in tests/conftest.py).
FASHION_DIR = Path(os.environ.get("FASHION_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data" / "fashion"))
# Pretrained weight files for offline transfer learning, beside the project too.
MODELS_DIR = Path(os.environ.get("SHARED_MODELS_DIR", PROJECT_ROOT.parent / "shared" / "models"))


def setup_paths() -> None:
    """Make ``pyimagesearch``, the bench modules and the bench-only packages importable."""
    for folder in (DEPS_DIR, BENCH_DIR, PROJECT_ROOT):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def child_environment() -> dict[str, str]:
    """The environment of a variant's process: quiet TensorFlow, the same import paths."""
    path = os.pathsep.join([str(PROJECT_ROOT), str(BENCH_DIR), str(DEPS_DIR)])
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}


def run_child(script: Path, arguments: Sequence[str], timeout: float = 3600) -> dict:
    """Run ``python script arguments`` in a fresh process and return the JSON of its last line.

    Raises:
        RuntimeError: If the process fails or prints no JSON; the message holds its stderr.
    """
    completed = subprocess.run(
        [sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_environment(),
        cwd=PROJECT_ROOT,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        command = " ".join([script.name, *arguments])
        raise RuntimeError(f"{command} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return json.loads(lines[-1])


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (``VmHWM`` of ``/proc/self/status``), in MB.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries the parent's RSS at fork over ``exec`` into
    it, so a child of a large benchmark process would report the parent's size.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM line in /proc/self/status")


def current_rss_mb() -> float:
    """This process's resident set size now (``/proc/self/statm``), in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far, all threads (nanosecond clock, not ticks)."""
    import time

    return time.process_time()


def settle(limit: float = 3.0) -> None:
    """Wait until this process is idle: numpy's OpenBLAS threads spin on a core for about 0.1 s
    after import, which would steal a core from a measurement timed right after importing. In the
    toolkit, loading and classifying come after other work (TensorFlow's import, a model's load)."""
    import time

    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        start = cpu_seconds()
        time.sleep(0.05)
        if cpu_seconds() - start < 0.005:
            return


# The instruction sets that decide which kernels oneDNN runs (and --precision auto).
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def machine() -> dict:
    """What the numbers were measured on: CPU model and count, memory, load, versions."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = set()
    try:
        flags = set(next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split())
    except (OSError, StopIteration):
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for module in ("numpy", "cv2", "PIL"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            pass
    return {
        "cpu": model,
        # What the CPU has, and what oneDNN was allowed to use of it (ONEDNN_MAX_CPU_ISA emulates an older CPU).
        "cpu_flags": {flag: flag in flags for flag in CPU_FLAGS},
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        **versions,
    }


def describe_machine(info: dict) -> str:
    """One line naming the CPU, its instruction sets that matter here and any oneDNN limit."""
    flags = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in info["cpu_flags"].items())
    limit = f"; ONEDNN_MAX_CPU_ISA={info['onednn_max_cpu_isa']}" if info.get("onednn_max_cpu_isa") else ""
    return f"{info['cpu']}, {info['usable_cpus']} CPUs ({flags}{limit})"


# The float32 matrix product whose rate `matmul_gflops` measures, in a fresh process so that it
# sees the environment (ONEDNN_MAX_CPU_ISA) the benchmark's children see.
_MATMUL = """
import json, time, tensorflow as tf
a = tf.random.uniform((SIZE, SIZE)); b = tf.random.uniform((SIZE, SIZE))
for _ in range(3): tf.matmul(a, b).numpy()
times = []
for _ in range(REPEATS):
    start = time.perf_counter(); tf.matmul(a, b).numpy(); times.append(time.perf_counter() - start)
times.sort()
print(json.dumps({"gflops": 2 * SIZE ** 3 / times[len(times) // 2] / 1e9}))
"""


def matmul_gflops(size: int = 2048, repeats: int = 15) -> float:
    """The machine's float32 matrix-product rate through TensorFlow (oneDNN), GFLOP/s: the median of
    ``repeats`` products of two ``size`` x ``size`` matrices, in a fresh process."""
    code = _MATMUL.replace("SIZE", str(size)).replace("REPEATS", str(repeats))
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_environment(), timeout=600, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])["gflops"]


def run_measured(arguments: Sequence[str], timeout: float = 1800, cwd: Path = PROJECT_ROOT) -> tuple[float, float]:
    """Run ``python arguments`` in a fresh process: its wall time in seconds and its own peak RSS in MiB
    (``wait4``'s resource usage of that one child; ``getrusage(RUSAGE_CHILDREN)`` is the maximum over all).

    Raises:
        RuntimeError: If the process fails or outlives ``timeout`` (it is killed); the message holds its stderr.
    """
    with tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, *arguments], stdout=subprocess.DEVNULL, stderr=stderr, env=child_environment(), cwd=cwd)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if process.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"{' '.join(arguments)} failed ({process.returncode}):\n{stderr.read()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def summarise(values: Sequence[float]) -> dict:
    """Median, minimum and maximum of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}


def group_scores(predicted: Sequence[set[str]], truth: Sequence[Iterable[str]], colours: Iterable[str], types: Iterable[str]) -> dict:
    """Shares of images whose predicted labels hold exactly one colour, the true one (``colour_right``);
    exactly one type, the true one (``type_right``); and both (``both_right``).

    Args:
        predicted: Each image's predicted labels.
        truth: Each image's true labels (one colour and one type).
        colours, types: The two label groups.
    """
    colours, types = set(colours), set(types)
    colour_right = [labels & colours == set(true) & colours for labels, true in zip(predicted, truth)]
    type_right = [labels & types == set(true) & types for labels, true in zip(predicted, truth)]
    count = max(len(predicted), 1)
    return {
        "both_right": sum(c and t for c, t in zip(colour_right, type_right)) / count,
        "colour_right": sum(colour_right) / count,
        "type_right": sum(type_right) / count,
    }


def set_library_constants(constants: dict[str, object]) -> None:
    """Change library constants in this process, ``{"module.NAME": value}`` (e.g.
    ``"models.colour_and_shape.ATTENTION_HIDDEN"``): how a benchmark's set-up tries what has no flag."""
    import importlib

    for name, value in constants.items():
        module, _, constant = name.rpartition(".")
        setattr(importlib.import_module(f"pyimagesearch.{module}"), constant, value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, results: dict) -> Path:
    """Write ``results`` to ``bench/results/<name>.json`` and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path
