//! Durable state through the real binary: runs killed with SIGKILL at random moments
//! or inside a checkpoint resume and publish exactly the output of a run that was
//! never interrupted, byte for byte; damaged checkpoints are skipped; state written
//! by another pipeline is refused; state does not outlive its windows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{plugin, write};
use millrace_state::{KeyBuilder, RocksBackend, StateBackend, Tag};

/// A scratch folder with a large, out-of-order event log (a few malformed lines
/// and values among them) and a spec over it: sessions with early and late
/// firings, retracting, and the sum plugin.
struct Scenario {
    dir: tempfile::TempDir,
}

impl Scenario {
    fn new(events: usize, gap: &str) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut log = String::with_capacity(events * 48);
        let mut time: i64 = 1_700_000_000_000;
        for i in 0..events {
            time += rng.i64(0..200);
            let ts = time - rng.i64(0..20_000);
            let user = rng.u32(0..2000);
            match i % 40_000 {
                7 => log.push_str("{\"user\": \"u1\", \"score\": \"lots\", \"ts\": 5}\n"),
                8 => log.push_str("not json at all\n"),
                _ => {}
            }
            let score = rng.u32(1..10);
            log.push_str(&format!(
                "{{\"user\": \"u{user}\", \"score\": {score}, \"ts\": {ts}}}\n"
            ));
        }
        write(dir.path(), "events.jsonl", &log);
        let scenario = Scenario { dir };
        scenario.spec(gap);
        scenario
    }

    fn spec(&self, gap: &str) {
        write(
            self.dir.path(),
            "pipeline.yaml",
            &format!(
                "name: sessions
source:
  file:
    path: events.jsonl
    key: user
    value: score
    watermark: {{ max_out_of_orderness: 5s }}
    bundle_size: 100
steps:
  - window:
      sessions: {{ gap: {gap} }}
      trigger: {{ after_watermark: {{ early: {{ after_count: 5 }}, late: {{ after_count: 1 }} }} }}
      accumulation: retracting
      allowed_lateness: 10s
  - combine: {{ plugin: {} }}
sink: {{ file: out.jsonl }}
checkpoint: {{ interval: 50ms, records: 10000, keep: 3 }}
",
                plugin("sum")
            ),
        );
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `millrace run` writing `output` (and its dead letters) with state in `state`.
    fn command(&self, output: &str, state: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_millrace"));
        command
            .arg("run")
            .arg(self.path("pipeline.yaml"))
            .arg("--output")
            .arg(self.path(output))
            .arg("--state-dir")
            .arg(self.path(state))
            .arg("--quiet")
            .env_remove("MILLRACE_FAIL_AT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    fn run(&self, output: &str, state: &str) -> Output {
        let output = self.command(output, state).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// An uninterrupted run into `ref.jsonl`; how long it took.
    fn reference(&self) -> Duration {
        let started = Instant::now();
        self.run("ref.jsonl", "ref-state");
        started.elapsed()
    }

    fn assert_same_as_reference(&self, output: &str) {
        let dead = |name: &str| name.replace(".jsonl", ".dead.jsonl");
        for (ours, theirs) in [
            (output.to_owned(), "ref.jsonl".to_owned()),
            (dead(output), dead("ref.jsonl")),
        ] {
            let ours = std::fs::read(self.path(&ours)).unwrap();
            let theirs = std::fs::read(self.path(&theirs)).unwrap();
            assert!(!theirs.is_empty());
            assert!(
                ours == theirs,
                "the output differs from the uninterrupted run's ({} bytes vs {})",
                ours.len(),
                theirs.len()
            );
        }
    }
}

#[test]
fn killed_at_random_moments_a_pipeline_resumes_to_the_exact_output() {
    let scenario = Scenario::new(300_000, "30s");
    let whole = scenario.reference();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut kills = 0;
    for _ in 0..100 {
        let mut child = scenario.command("out.jsonl", "state").spawn().unwrap();
        // Each attempt gets a fraction of an uninterrupted run, so that several
        // are killed before one finishes.
        let fraction = 0.05 + 0.1 * rng.f64();
        let deadline = Instant::now() + whole.mul_f64(fraction);
        let mut finished = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match finished {
            Some(status) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                assert!(
                    status.success(),
                    "the last attempt finished with {status}: {stderr}"
                );
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    assert!(kills >= 5, "only {kills} attempts were killed");
    scenario.assert_same_as_reference("out.jsonl");
}

#[test]
fn a_crash_at_any_point_of_a_checkpoint_resumes_to_the_exact_output() {
    let scenario = Scenario::new(40_000, "30s");
    scenario.reference();
    for (i, point) in [
        "checkpoint:before-snapshot",
        "checkpoint:before-manifest",
        "checkpoint:before-publish",
        "checkpoint:after-publish",
    ]
    .into_iter()
    .enumerate()
    {
        let output = format!("out{i}.jsonl");
        let state = format!("state{i}");
        let crashed = scenario
            .command(&output, &state)
            .env("MILLRACE_FAIL_AT", format!("{point}@3"))
            .output()
            .unwrap();
        assert!(!crashed.status.success(), "{point}: the run was aborted");
        assert!(
            String::from_utf8_lossy(&crashed.stderr).contains(point),
            "{point}: {}",
            String::from_utf8_lossy(&crashed.stderr)
        );
        scenario.run(&output, &state);
        scenario.assert_same_as_reference(&output);
    }
}

/// Runs until the 3rd checkpoint is complete and published, then aborts.
fn run_to_third_checkpoint(scenario: &Scenario, output: &str, state: &str) {
    let crashed = scenario
        .command(output, state)
        .env("MILLRACE_FAIL_AT", "checkpoint:after-publish@3")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
}

fn checkpoint_dirs(state: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(state.join("sessions/checkpoints"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn a_damaged_checkpoint_is_skipped_for_the_one_before() {
    let scenario = Scenario::new(40_000, "30s");
    scenario.reference();
    run_to_third_checkpoint(&scenario, "out.jsonl", "state");
    let newest = checkpoint_dirs(&scenario.path("state")).pop().unwrap();
    let table = std::fs::read_dir(&newest)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "sst"))
        .expect("the checkpoint has a table file");
    // Damage the hard-linked table: truncate a copy in its place.
    let bytes = std::fs::read(&table).unwrap();
    std::fs::remove_file(&table).unwrap();
    std::fs::write(&table, &bytes[..bytes.len() / 2]).unwrap();

    let output = scenario.command("out.jsonl", "state").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipping checkpoint 3") && stderr.contains("instead of"),
        "{stderr}"
    );
    scenario.assert_same_as_reference("out.jsonl");
}

#[test]
fn state_written_by_another_pipeline_is_refused_unless_discarded() {
    let scenario = Scenario::new(40_000, "30s");
    run_to_third_checkpoint(&scenario, "out.jsonl", "state");
    scenario.spec("1m");
    let refused = scenario.command("out.jsonl", "state").output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("was written by a different pipeline")
            && stderr.contains("steps[1].step.strategy")
            && stderr.contains("--fresh"),
        "{stderr}"
    );
    let fresh = scenario
        .command("out.jsonl", "state")
        .arg("--fresh")
        .output()
        .unwrap();
    assert!(fresh.status.success());
    scenario.reference();
    scenario.assert_same_as_reference("out.jsonl");
}

#[test]
fn checkpoints_are_listed_and_an_older_one_can_be_resumed() {
    let scenario = Scenario::new(40_000, "30s");
    scenario.reference();
    run_to_third_checkpoint(&scenario, "out.jsonl", "state");
    let listing = Command::new(env!("CARGO_BIN_EXE_millrace"))
        .arg("checkpoints")
        .arg(scenario.path("pipeline.yaml"))
        .arg("--state-dir")
        .arg(scenario.path("state"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.status.success());
    for id in 1..=3 {
        assert!(
            text.contains(&format!("\n     {id}  ")) || text.starts_with(&format!("     {id}  ")),
            "{text}"
        );
    }
    assert!(
        text.contains("\"offset\":") && text.contains("bytes published"),
        "{text}"
    );

    let older = scenario
        .command("out.jsonl", "state")
        .args(["--from-checkpoint", "2"])
        .output()
        .unwrap();
    assert!(
        older.status.success(),
        "{}",
        String::from_utf8_lossy(&older.stderr)
    );
    scenario.assert_same_as_reference("out.jsonl");

    let missing = scenario
        .command("out.jsonl", "state")
        .args(["--from-checkpoint", "99"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("there is no checkpoint 99"));
}

/// How many keys of step `step` hold windows in the checkpoint `dir`.
fn keys_with_windows(dir: &Path, step: u16) -> usize {
    let scratch = tempfile::tempdir().unwrap();
    let mut store = RocksBackend::open(&scratch.path().join("db")).unwrap();
    store.restore(dir).unwrap();
    let mut keys = 0;
    store
        .scan(&KeyBuilder::new(step, Tag::Windows).build(), &mut |_, _| {
            keys += 1;
            Ok(())
        })
        .unwrap();
    keys
}

#[test]
fn window_state_is_gone_once_the_watermark_passes_its_lateness_horizon() {
    let dir = tempfile::tempdir().unwrap();
    // Three keys in the first minute, then only one key, far in event time: for a
    // while without a watermark (the first checkpoints come then), then with it.
    let mut script = String::from(
        "{\"add\": [{\"key\": \"a\", \"value\": 1, \"ts\": 1000}, \
         {\"key\": \"b\", \"value\": 1, \"ts\": 1000}, {\"key\": \"c\", \"value\": 1, \"ts\": 1000}]}\n",
    );
    for i in 0..1000 {
        script.push_str(&format!(
            "{{\"add\": [{{\"key\": \"d\", \"value\": 1, \"ts\": {}}}]}}\n",
            600_000 + i
        ));
    }
    for i in 0..5000 {
        script.push_str(&format!(
            "{{\"add\": [{{\"key\": \"d\", \"value\": 1, \"ts\": {}}}]}}\n{{\"watermark\": {}}}\n",
            600_000 + i * 1000,
            600_000 + i * 1000
        ));
    }
    write(dir.path(), "input.jsonl", &script);
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        "name: bounded
source: { test_stream: input.jsonl }
steps:
  - window: { fixed: { size: 1m }, allowed_lateness: 1m }
  - combine: sum
sink: { file: out.jsonl }
checkpoint: { interval: 1h, records: 100, keep: 100 }
",
    );
    let state = dir.path().join("state");
    let output = Command::new(env!("CARGO_BIN_EXE_millrace"))
        .arg("run")
        .arg(&spec)
        .arg("--state-dir")
        .arg(&state)
        .env("MILLRACE_FAIL_AT", "checkpoint:after-publish@20")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let checkpoints: Vec<PathBuf> = std::fs::read_dir(state.join("bounded/checkpoints"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    let first = checkpoints.iter().min().unwrap();
    let last = checkpoints.iter().max().unwrap();
    // The grouping is step 1 (step 0 assigns windows).
    assert!(
        keys_with_windows(first, 1) >= 3,
        "the first minute's windows are live at first"
    );
    assert_eq!(
        keys_with_windows(last, 1),
        1,
        "only d's current window is left once the watermark passed a, b and c's horizon"
    );
}
