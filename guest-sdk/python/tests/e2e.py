"""The Python plugins through the real millrace binary, against the Rust plugins.

Each case runs a pipeline twice — once with the Rust plugin, once with its Python twin —
and checks both against what the repository's end-to-end tests (tests/*.rs) assert,
and that the two outputs are identical record for record::

    python3 guest-sdk/python/tests/e2e.py --millrace target/release/millrace \\
        --rust RUST_WASM_DIR --python plugins/python/target

RUST_WASM_DIR holds the Rust plugins built with ``cargo build --release --target
wasm32-wasip2 --manifest-path plugins/Cargo.toml`` (``sum.wasm``, ``parse_json.wasm``,
…); the Python folder holds ``plugins/python/build-all.sh``'s output. Exits 1 if any
case fails.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
MINUTE = 60_000


@dataclass
class Run:
    """What one run of a spec gave."""

    code: int
    stderr: str
    output: list[dict[str, Any]]
    dead: list[dict[str, Any]]


@dataclass
class Plugins:
    """Where the components of one language are."""

    language: str
    folder: Path
    names: dict[str, str]

    def __call__(self, name: str) -> str:
        return str(self.folder / self.names.get(name, name))


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Runner:
    """Runs specs with the real binary, each in a scratch folder with its own state."""

    def __init__(self, millrace: str) -> None:
        self.millrace = millrace
        self.scratch = Path(tempfile.mkdtemp(prefix="millrace-e2e-"))
        self.runs = 0

    def run(self, spec: str, files: dict[str, str]) -> Run:
        self.runs += 1
        folder = self.scratch / f"run-{self.runs}"
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
        (folder / "pipeline.yaml").write_text(spec)
        env = dict(os.environ, MILLRACE_STATE_DIR=str(folder / "state"))
        done = subprocess.run(
            [self.millrace, "run", "-q", "pipeline.yaml"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = lines(done.stdout)
        if (folder / "out.jsonl").exists():
            output = lines((folder / "out.jsonl").read_text())
        dead = (
            lines((folder / "out.dead.jsonl").read_text())
            if (folder / "out.dead.jsonl").exists()
            else []
        )
        return Run(done.returncode, done.stderr, output, dead)


class Report:
    """Collects the checks of every case."""

    def __init__(self) -> None:
        self.failures = 0

    def check(self, case: str, ok: bool, detail: str = "") -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {case}{': ' + detail if detail else ''}")
        if not ok:
            self.failures += 1


def add(key: str, value: Any, ts: int) -> str:
    return json.dumps({"add": [{"key": key, "value": value, "ts": ts}]}) + "\n"


def per_window(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Records per (key, window), in order (tests/conformance/README.md's rule)."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for record in records:
        grouped[json.dumps([record["key"], record["window"]])].append(
            json.dumps(record, sort_keys=True)
        )
    return dict(grouped)


def final_values(records: list[dict[str, Any]]) -> dict[tuple[str, int], Any]:
    return {(r["key"], r["window"]["start"]): r["value"] for r in records if not r["retraction"]}


# -- Cases --------------------------------------------------------------------------


def conformance(runner: Runner, report: Report, langs: list[Plugins]) -> None:
    """Every Streaming Systems case with the sum plugin matches Beam pane for pane."""
    folder = ROOT / "tests/conformance"
    for case in sorted(p.name for p in folder.iterdir() if (p / "pipeline.yaml").exists()):
        spec = (folder / case / "pipeline.yaml").read_text()
        input_text = (folder / case / "input.jsonl").read_text()
        expected = per_window(lines((folder / case / "expected.jsonl").read_text()))
        outputs = []
        for plugins in langs:
            edited = spec.replace("combine: sum", f"combine: {{ plugin: {plugins('sum')} }}")
            run = runner.run(edited, {"input.jsonl": input_text})
            outputs.append(run.output)
            report.check(
                f"conformance {case} ({plugins.language} sum)",
                run.code == 0 and per_window(run.output) == expected,
                run.stderr.strip()[-300:],
            )
        report.check(
            f"conformance {case}: Rust and Python outputs identical", outputs[0] == outputs[1]
        )


def two_stage(first: str, second: str) -> str:
    return f"""source: {{ test_stream: input.jsonl }}
steps:
  - window:
      sessions: {{ gap: 10m }}
      trigger: {{ after_watermark: {{ early: {{ after_count: 1 }}, late: {{ after_count: 1 }} }} }}
      accumulation: retracting
      allowed_lateness: 1d
  - combine: {first}
  - window:
      fixed: {{ size: 1h }}
      trigger: {{ repeatedly: {{ after_count: 1 }} }}
      accumulation: accumulating
  - combine: {second}
sink: {{ stdout: {{}} }}
"""


MERGING_EVENTS = [
    ("ann", 5, 0),
    ("ann", 7, 25 * MINUTE),
    ("bob", 1, 3 * MINUTE),
    ("ann", 3, 45 * MINUTE),
    ("bob", 4, 70 * MINUTE),
    ("ann", 2, 8 * MINUTE),
    ("ann", 6, 17 * MINUTE),
    ("ann", 1, 35 * MINUTE),
    ("bob", 9, 62 * MINUTE),
    ("ann", 4, 100 * MINUTE),
    ("cy", 10, 50 * MINUTE),
    ("cy", 1, 58 * MINUTE),
]


def hourly_session_sums() -> dict[tuple[str, int], list[int]]:
    """tests/common/sessions.rs: the sessions' sums per (key, hour of the session's end)."""
    per_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for key, value, ts in MERGING_EVENTS:
        per_key[key].append((ts, value))
    hours: dict[tuple[str, int], list[int]] = defaultdict(list)
    for key, points in per_key.items():
        sessions: list[list[int]] = []
        for ts, value in sorted(points):
            if sessions and ts < sessions[-1][1]:
                sessions[-1][1] = max(sessions[-1][1], ts + 10 * MINUTE)
                sessions[-1][2] += value
            else:
                sessions.append([ts, ts + 10 * MINUTE, value])
        for _, end, total in sessions:
            hours[(key, (end - 1) - (end - 1) % 3_600_000)].append(total)
    return hours


def retractions(runner: Runner, report: Report, langs: list[Plugins]) -> None:
    """Sum takes retracted session sums back (uncombine), into a sum and a mean."""
    stream = "".join(add(k, v, ts) for k, v, ts in MERGING_EVENTS)
    expected = {hour: sum(sums) for hour, sums in hourly_session_sums().items()}
    outputs = []
    for plugins in langs:
        sum_ = f"{{ plugin: {plugins('sum')} }}"
        run = runner.run(two_stage(sum_, sum_), {"input.jsonl": stream})
        actual = final_values(run.output)
        ok = (
            run.code == 0
            and all(actual[h] == expected.get(h, 0) for h in actual)
            and set(expected) <= set(actual)
        )
        report.check(
            f"sessions: retracted sums into hourly sums ({plugins.language} sum)",
            ok,
            run.stderr[-300:],
        )
        outputs.append(run.output)
        mean = f"{{ plugin: {langs[0]('mean')} }}"
        run = runner.run(two_stage(sum_, mean), {"input.jsonl": stream})
        means = {h: sum(s) / len(s) for h, s in hourly_session_sums().items()}
        actual = final_values(run.output)
        ok = (
            run.code == 0
            and all(actual[h] == means.get(h) for h in actual)
            and actual[("cy", 0)] is None
        )
        report.check(
            f"sessions: retracted sums into Rust mean ({plugins.language} sum)",
            ok,
            run.stderr[-300:],
        )
    report.check(
        f"sessions: Rust and Python outputs identical ({len(outputs[0])} records)",
        outputs[0] == outputs[1],
    )


def parse_json(runner: Runner, report: Report, langs: list[Plugins]) -> None:
    """tests/plugins.rs: parse, filter, re-key, dead-letter what cannot be parsed."""
    payloads = [
        (json.dumps({"type": "score", "user": "ann", "score": 5, "ts": 1000}), 1000),
        (json.dumps({"type": "login", "user": "ann", "ts": 2000}), 2000),
        (json.dumps({"type": "score", "user": "bob", "score": 7, "ts": 3000}), 3000),
        ("{not json", 3500),
        (json.dumps({"type": "score", "score": 1, "ts": 4000}), 4000),
        (json.dumps({"type": "score", "user": "ann", "score": 2, "ts": 61000}), 61000),
    ]
    events = "".join(json.dumps({"raw": raw, "at": ts}) + "\n" for raw, ts in payloads)
    runs = []
    for plugins in langs:
        spec = f"""source: {{ file: {{ path: events.jsonl, value: raw, timestamp: at }} }}
steps:
  - pardo:
      plugin: {plugins("parse-json")}
      config: {{ key: user, value: score, timestamp: ts, where: {{ type: score }} }}
  - window: {{ fixed: {{ size: 1m }} }}
  - combine: {{ plugin: {plugins("sum")} }}
sink: {{ file: out.jsonl }}
"""
        run = runner.run(spec, {"events.jsonl": events})
        runs.append(run)
        dead = run.dead
        ok = (
            run.code == 0
            and final_values(run.output) == {("ann", 0): 5, ("ann", 60000): 2, ("bob", 0): 7}
            and len(dead) == 2
            and dead[0]["step"].startswith("steps[0].pardo")
            and dead[0]["record"]["value"] == "{not json"
            and "JSON" in dead[0]["reason"]
            and dead[1]["record"]["ts"] == 4000
            and "user" in dead[1]["reason"]
        )
        reasons = " | ".join(d["reason"] for d in dead)
        report.check(
            f"parse-json + sum ({plugins.language})",
            ok,
            f"dead letters: {reasons} {run.stderr[-300:]}",
        )
    report.check(
        "parse-json + sum: Rust and Python outputs identical", runs[0].output == runs[1].output
    )
    strip = [
        [{k: v for k, v in d.items() if k not in ("reason", "step")} for d in r.dead] for r in runs
    ]
    report.check("parse-json: the same records dead-lettered", strip[0] == strip[1])


def dedup(runner: Runner, report: Report, langs: list[Plugins]) -> None:
    """tests/plugins.rs: keyed state and an event-time timer."""
    record = lambda id_, n: {"event_id": id_, "n": n}  # noqa: E731
    stream = "".join(
        [
            add("a", record(1, 1), 1000),
            add("a", record(1, 2), 2000),
            add("b", record(1, 3), 3000),
            '{"watermark": 5000}\n',
            add("a", record(1, 4), 5000),
            '{"watermark": 20000}\n',
            add("a", record(1, 5), 20000),
            add("a", record(2, 6), 20001),
            add("a", record(2, 7), 20002),
        ]
    )
    outputs = []
    for plugins in langs:
        spec = f"""source: {{ test_stream: input.jsonl }}
steps:
  - pardo: {{ plugin: {plugins("dedup")}, config: {{ id: event_id, horizon: 10000 }} }}
sink: {{ stdout: {{}} }}
"""
        run = runner.run(spec, {"input.jsonl": stream})
        passed = [(r["key"], r["value"]["n"]) for r in run.output]
        outputs.append(run.output)
        report.check(
            f"dedup ({plugins.language})",
            run.code == 0 and passed == [("a", 1), ("b", 3), ("a", 5), ("a", 6)],
            f"{passed} {run.stderr[-300:]}",
        )
        bad = runner.run(
            spec.replace("id: event_id, horizon: 10000", "horizon: -5"), {"input.jsonl": stream}
        )
        report.check(
            f"dedup refuses a bad config as a spec error ({plugins.language})",
            bad.code == 2 and '"horizon" must be a positive number' in bad.stderr,
            bad.stderr.strip().splitlines()[-1] if bad.stderr.strip() else "",
        )
    report.check("dedup: Rust and Python outputs identical", outputs[0] == outputs[1])


def threshold(runner: Runner, report: Report, langs: list[Plugins]) -> None:
    """tests/plugins.rs: a data-driven trigger."""
    stream = "".join(
        add(key, {"latency": ms}, ts)
        for key, ms, ts in [
            ("s", 50, 1000),
            ("s", 60, 2000),
            ("s", 150, 3000),
            ("s", 170, 4000),
            ("t", 101, 4500),
            ("s", 20, 5000),
            ("s", 120, 6000),
            ("s", 10, 7000),
        ]
    )
    outputs = []
    for plugins in langs:
        spec = f"""source: {{ test_stream: input.jsonl }}
steps:
  - window:
      global: {{}}
      trigger:
        repeatedly:
          plugin: {plugins("threshold")}
          config: {{ threshold: 100, field: latency }}
      accumulation: discarding
  - combine: count
sink: {{ stdout: {{}} }}
"""
        run = runner.run(spec, {"input.jsonl": stream})
        panes = [(r["key"], r["value"], r["pane"]["timing"]) for r in run.output]
        outputs.append(run.output)
        expected = [
            ("s", 3, "EARLY"),
            ("t", 1, "EARLY"),
            ("s", 3, "EARLY"),
            ("s", 1, "ON_TIME"),
            ("t", 0, "ON_TIME"),
        ]
        report.check(
            f"threshold ({plugins.language})",
            run.code == 0 and panes == expected,
            f"{panes} {run.stderr[-300:]}",
        )
    report.check("threshold: Rust and Python outputs identical", outputs[0] == outputs[1])


def game_sessions(runner: Runner, report: Report, langs: list[Plugins]) -> None:
    """The README's example, with each language's parse-json and sum."""
    example = ROOT / "examples/game-sessions"
    spec = (example / "pipeline.yaml").read_text()
    runs = []
    for plugins in langs:
        edited = (
            spec.replace("../../plugins/parse-json", plugins("parse-json"))
            .replace("../../plugins/sum", plugins("sum"))
            .replace("out/sessions.jsonl", "out.jsonl")
            .replace("out/rejected.jsonl", "out.dead.jsonl")
        )
        run = runner.run(edited, {"events.jsonl": (example / "events.jsonl").read_text()})
        runs.append(run)
        report.check(
            f"game-sessions example ({plugins.language})",
            run.code == 0 and bool(run.output),
            run.stderr[-300:],
        )
    report.check(
        f"game-sessions: Rust and Python outputs identical ({len(runs[0].output)} records)",
        runs[0].output == runs[1].output,
    )


def faults(runner: Runner, report: Report, python: Plugins) -> None:
    """tests/faults.rs, with the Python faulty plugin: each fault costs only its element."""
    fault = lambda kind: {"fault": kind}  # noqa: E731

    def bundle(*elements: tuple[Any, int]) -> str:
        return (
            json.dumps({"add": [{"key": "k", "value": v, "ts": ts} for v, ts in elements]}) + "\n"
        )

    stream = "".join(
        [
            bundle((1, 1000), (fault("error"), 1001), (2, 1002), (fault("panic"), 1003), (3, 1004)),
            bundle((fault("exit"), 1005), (4, 1006)),
            bundle((fault("recurse"), 1007), (5, 1008)),
            bundle((fault("loop"), 1009), (6, 1010)),
            bundle((7, 1011), (fault("bomb"), 1012)),
            bundle((fault("flood"), 1013), (8, 1014)),
            bundle((100, 61000)),
        ]
    )
    spec = f"""source: {{ test_stream: input.jsonl }}
steps:
  - pardo:
      plugin: {python("faulty")}
      limits: {{ cpu_per_call: 400ms, memory: 48MiB, output: 4MiB }}
  - window: {{ fixed: {{ size: 1m }} }}
  - combine: {{ plugin: {python("sum")} }}
sink: {{ file: out.jsonl }}
"""
    run = runner.run(spec, {"input.jsonl": stream})
    sums = [(r["window"]["start"], r["value"]) for r in run.output]
    report.check(
        "faults: every other element is summed",
        run.code == 0 and sums == [(0, 36), (60000, 100)],
        f"{sums} {run.stderr[-500:]}",
    )
    kinds = [d["record"]["value"]["fault"] for d in run.dead]
    report.check(
        "faults: each poison element is dead-lettered",
        kinds == ["error", "panic", "exit", "recurse", "loop", "bomb", "flood"],
        str(kinds),
    )
    for letter in run.dead:
        print(f"     {letter['record']['value']['fault']:8} {letter['reason'][:200]!r}")
    host_panicked = "panicked" in run.stderr and "thread 'main'" in run.stderr
    report.check("faults: the host did not panic", not host_panicked)


def scaffolds(runner: Runner, report: Report) -> dict[str, Path]:
    """tests/plugins.rs: a scaffolded plugin of every kind builds and runs as is."""
    sdk = ROOT / "guest-sdk/python"
    wasm = {}
    for kind in ["dofn", "combine", "window", "trigger"]:
        folder = runner.scratch / f"my-{kind}"
        subprocess.run([sdk / "new.sh", folder, "--kind", kind], check=True, capture_output=True)
        wasm[kind] = folder / f"my-{kind}.wasm"
        subprocess.run([sdk / "build.sh", folder, wasm[kind]], check=True, capture_output=True)
    stream = "".join(
        add("k", value, ts)
        for value, ts in [({"amount": 4}, 1000), ({"amount": 6}, 2000), ({"amount": 3}, 3000)]
    ) + add("k", {"other": 1}, 4000)
    spec = f"""source: {{ test_stream: input.jsonl }}
steps:
  - pardo: {{ plugin: {wasm["dofn"]}, config: {{ field: amount }} }}
  - window:
      custom: {{ plugin: {wasm["window"]}, config: {{ size: 60000 }} }}
      trigger: {{ repeatedly: {{ plugin: {wasm["trigger"]}, config: {{ total: 10 }} }} }}
  - combine: {{ plugin: {wasm["combine"]} }}
sink: {{ file: out.jsonl }}
"""
    run = runner.run(spec, {"input.jsonl": stream})
    panes = [(r["value"], r["pane"]["timing"]) for r in run.output]
    reasons = [d["reason"] for d in run.dead]
    report.check(
        "scaffolded Python plugins of all four kinds",
        run.code == 0
        and panes == [(10, "EARLY"), (3, "ON_TIME")]
        and reasons == ['no field "amount"'],
        f"{panes} {reasons} {run.stderr[-300:]}",
    )
    return wasm


def hot_swap(runner: Runner, report: Report, rust: Plugins, python: Plugins, other: Path) -> None:
    """millrace serve: a running combine step swaps Rust sum for Python sum and back,
    keeping its accumulators; a Python CombineFn of another accumulator is refused."""
    folder = runner.scratch / "served"
    folder.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, MILLRACE_SERVER=f"http://127.0.0.1:{port}", MILLRACE_TOKEN="admin")
    server = subprocess.Popen(
        [runner.millrace, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", folder / "data"],
        env=dict(env, MILLRACE_ADMIN_TOKEN="admin"),
        stderr=subprocess.DEVNULL,
    )

    def client(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [runner.millrace, *args], env=env, capture_output=True, text=True, timeout=120
        )

    try:
        for _ in range(100):
            if client("tenant", "list").returncode == 0:
                break
            time.sleep(0.1)
        env["MILLRACE_TOKEN"] = json.loads(client("tenant", "create", "ann").stdout)["token"]
        versions = {}
        for name, path in [("rust", rust("sum")), ("python", python("sum")), ("other", other)]:
            pushed = client("plugin", "push", "total", path, "--kind", "combine")
            versions[name] = json.loads(pushed.stdout)["version"]["version"][:12]
        spec = folder / "spec.yaml"
        spec.write_text(f"""name: totals
source: {{ ingest: {{ timestamp: ts, key: user, value: score }} }}
steps:
  - window:
      global: {{}}
      trigger: {{ repeatedly: {{ after_count: 1 }} }}
      accumulation: accumulating
  - combine: {{ plugin: total@{versions["rust"]} }}
sink: {{ file: out.jsonl }}
checkpoint: {{ interval: 100ms }}
""")
        client("pipeline", "deploy", spec)
        answers = []
        for ts, scores, swap_to in [
            (1000, [("ann", 5), ("bob", 1), ("ann", 2.5)], "python"),
            (2000, [("ann", 10), ("bob", -4)], "rust"),
            (3000, [("ann", 0.5), ("bob", 100)], None),
        ]:
            batch = folder / "batch.jsonl"
            batch.write_text(
                "".join(
                    json.dumps({"user": u, "score": v, "ts": ts + i}) + "\n"
                    for i, (u, v) in enumerate(scores)
                )
            )
            client("pipeline", "send", "totals", batch)
            time.sleep(1.5)
            if swap_to:
                swapped = client(
                    "pipeline", "swap", "totals", "steps[1].combine", f"total@{versions[swap_to]}"
                )
                answers.append(swapped.returncode)
        refused = client(
            "pipeline", "swap", "totals", "steps[1].combine", f"total@{versions['other']}"
        )
        client("pipeline", "stop", "totals", "--drain")
        output = lines(client("pipeline", "output", "totals").stdout)
    finally:
        server.terminate()
        server.wait(timeout=30)
    totals = [(r["key"], r["value"]) for r in output]
    report.check(
        "hot swap: Rust sum -> Python sum -> Rust sum keeps the accumulators",
        answers == [0, 0]
        and totals
        == [("ann", 7.5), ("bob", 1), ("ann", 17.5), ("bob", -3), ("ann", 18.0), ("bob", 97)],
        str(totals),
    )
    report.check(
        "hot swap: a Python CombineFn of another accumulator format is refused",
        refused.returncode != 0 and "pickle/int/1" in refused.stderr,
        refused.stderr.strip()[-200:],
    )


CASES: list[Callable[..., None]] = [
    conformance,
    retractions,
    parse_json,
    dedup,
    threshold,
    game_sessions,
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--millrace", required=True, help="the millrace binary")
    parser.add_argument(
        "--rust",
        required=True,
        type=lambda p: Path(p).resolve(),
        help="folder of the Rust plugins' .wasm files",
    )
    parser.add_argument(
        "--python",
        required=True,
        type=lambda p: Path(p).resolve(),
        help="folder of the Python plugins' .wasm files",
    )
    args = parser.parse_args()
    rust = Plugins(
        "Rust",
        args.rust,
        {
            n: n.replace("-", "_") + ".wasm"
            for n in ["sum", "parse-json", "dedup", "threshold", "mean", "faulty"]
        },
    )
    python = Plugins(
        "Python",
        args.python,
        {n: n + ".wasm" for n in ["sum", "parse-json", "dedup", "threshold", "faulty"]},
    )
    runner = Runner(args.millrace)
    report = Report()
    for case in CASES:
        case(runner, report, [rust, python])
    faults(runner, report, python)
    scaffolded = scaffolds(runner, report)
    hot_swap(runner, report, rust, python, scaffolded["combine"])
    print(f"{report.failures} failed; scratch folder {runner.scratch}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
