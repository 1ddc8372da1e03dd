"""What a Python plugin costs, against its Rust twin and the built-in, with the real binary.

Each scenario runs a generated stream (``source: generator``) through one pipeline
per variant, a few times each, and reports the best CPU time (user + system of the
``millrace run`` process), the events per CPU-second, and the plugin's cost per
element: its CPU time less that of the variant without the plugin, per element::

    python3 guest-sdk/python/tests/bench.py --millrace target/release/millrace \\
        --rust RUST_WASM_DIR --python plugins/python/target [--elements 200000]

It also measures startup: compiling a component (a fresh cache folder) and running a
one-element pipeline once the compiled component is cached (instantiation included).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path


def measure(
    millrace: str, spec: str, env: dict[str, str], runs: int, warm: bool = True
) -> tuple[float, float]:
    """The best (CPU seconds, wall seconds) of ``runs`` runs of ``spec``, after one run
    that compiles its plugins into the cache (unless ``warm`` is false)."""
    best_cpu = best_wall = float("inf")
    with tempfile.TemporaryDirectory(prefix="millrace-bench-") as scratch:
        (Path(scratch) / "pipeline.yaml").write_text(spec)
        for run in range(-1 if warm else 0, runs):
            env = dict(env, MILLRACE_STATE_DIR=f"{scratch}/state-{run}")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(
                [millrace, "run", "-q", "pipeline.yaml"], cwd=scratch, env=env, check=True
            )
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            if run >= 0:
                best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
    return best_cpu, best_wall


def spec(elements: int, keys: int, steps: str) -> str:
    return f"""name: bench
source: {{ generator: {{ elements: {elements}, keys: {keys} }} }}
steps:
{steps}
sink: {{ file: out.jsonl }}
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--millrace", required=True)
    parser.add_argument("--rust", required=True, type=lambda p: Path(p).resolve())
    parser.add_argument("--python", required=True, type=lambda p: Path(p).resolve())
    parser.add_argument("--elements", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.elements
    env = dict(os.environ)
    window = "  - window: { fixed: { size: 1m } }\n"
    rust, python = args.rust, args.python
    scenarios = {
        "combine sum, 1000 keys": (
            1000,
            {
                "built-in sum": window + "  - combine: sum",
                "Rust sum": window + f"  - combine: {{ plugin: {rust / 'sum.wasm'} }}",
                "Python sum": window + f"  - combine: {{ plugin: {python / 'sum.wasm'} }}",
            },
        ),
        "combine sum, 10 keys": (
            10,
            {
                "built-in sum": window + "  - combine: sum",
                "Rust sum": window + f"  - combine: {{ plugin: {rust / 'sum.wasm'} }}",
                "Python sum": window + f"  - combine: {{ plugin: {python / 'sum.wasm'} }}",
            },
        ),
        "pardo pass-through, then count": (
            1000,
            {
                "no pardo": window + "  - combine: count",
                "Rust faulty": f"  - pardo: {{ plugin: {rust / 'faulty.wasm'} }}\n"
                + window
                + "  - combine: count",
                "Python faulty": f"  - pardo: {{ plugin: {python / 'faulty.wasm'} }}\n"
                + window
                + "  - combine: count",
            },
        ),
        "pardo dedup (state + timer per element), then count": (
            1000,
            {
                "no pardo": window + "  - combine: count",
                "Rust dedup": f"  - pardo: {{ plugin: {rust / 'dedup.wasm'}, "
                "config: { horizon: 1000 } }\n" + window + "  - combine: count",
                "Python dedup": f"  - pardo: {{ plugin: {python / 'dedup.wasm'}, "
                "config: { horizon: 1000 } }\n" + window + "  - combine: count",
            },
        ),
    }
    print(f"{n} elements, best of {args.runs} runs\n")
    print("| scenario | variant | CPU s | events per CPU-second | plugin cost per element |")
    print("| --- | --- | --- | --- | --- |")
    for name, (keys, variants) in scenarios.items():
        base = None
        for variant, steps in variants.items():
            cpu, _ = measure(args.millrace, spec(n, keys, steps), env, args.runs)
            if base is None:
                base, cost = cpu, "—"
            else:
                cost = f"{(cpu - base) / n * 1e6:.2f} µs"
            print(f"| {name} | {variant} | {cpu:.2f} | {n / cpu:,.0f} | {cost} |", flush=True)

    print("\n| startup | Rust | Python |\n| --- | --- | --- |")
    rows = {}
    for language, folder in [("Rust", rust), ("Python", python)]:
        steps = window + f"  - combine: {{ plugin: {folder / 'sum.wasm'} }}"
        with tempfile.TemporaryDirectory(prefix="millrace-cache-") as cache:
            cold = dict(env, MILLRACE_CACHE_DIR=cache)
            _, compile_wall = measure(args.millrace, spec(1, 1, steps), cold, 1, warm=False)
            _, warm_wall = measure(args.millrace, spec(1, 1, steps), cold, args.runs)
        size = (folder / "sum.wasm").stat().st_size
        rows[language] = (size, compile_wall, warm_wall)
    print(f"| component size | {rows['Rust'][0] / 1e3:.0f} KB | {rows['Python'][0] / 1e6:.1f} MB |")
    print(
        f"| first run (compiles the component) | {rows['Rust'][1]:.2f} s "
        f"| {rows['Python'][1]:.2f} s |"
    )
    print(
        f"| run of 1 element, compiled component cached | {rows['Rust'][2] * 1e3:.0f} ms "
        f"| {rows['Python'][2] * 1e3:.0f} ms |"
    )


if __name__ == "__main__":
    main()
