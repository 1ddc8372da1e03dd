//! Isolation between tenants, through the real `millrace serve`: one tenant's
//! faulty plugins neither stop, slow down nor corrupt another tenant's pipeline.
//!
//! A test binary of its own, so that no other test shares the machine while it
//! measures throughput.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::served::{
    Served, component, deploy_scores, drain, pipeline_status, push, totals_per_key,
};
use millrace::client::{Body, Client};
use serde_json::json;

/// Sends `batches` batches of 500 records to `pipeline` back to back and waits
/// until the pipeline has read them; returns how long that took. `sent` counts the
/// records per key, `ts` is the next event time.
fn timed_workload(
    client: &Client,
    pipeline: &str,
    batches: usize,
    sent: &mut BTreeMap<String, u64>,
    ts: &mut u64,
) -> Duration {
    let records_read = || {
        pipeline_status(client, pipeline)["live"]["records_read"]
            .as_u64()
            .unwrap()
    };
    let target = records_read() + 500 * batches as u64;
    let started = Instant::now();
    for _ in 0..batches {
        let mut batch = String::new();
        for i in 0..500 {
            let user = format!("u{}", i % 7);
            *sent.entry(format!("\"{user}\"")).or_insert(0) += 1;
            batch.push_str(&format!(
                "{{\"user\": \"{user}\", \"score\": 1, \"ts\": {ts}}}\n"
            ));
            *ts += 3;
        }
        client
            .call(
                "POST",
                &format!("/v1/pipelines/{pipeline}/records"),
                Body::Bytes(batch.into_bytes()),
            )
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while records_read() < target {
        assert!(Instant::now() < deadline, "{pipeline} stalled");
        std::thread::sleep(Duration::from_millis(2));
    }
    started.elapsed()
}

/// What tenant B does while A's workload runs: deploys a pipeline around each kind
/// of faulty plugin, one every 250 ms, and feeds each poison; once each has been
/// quarantined, deletes them. Returns why each failed.
fn misbehave(client: Client, round: usize) -> Vec<String> {
    let spec = "source: { ingest: { timestamp: ts } }
steps:
  - pardo: { plugin: faulty }
sink: { file: out.jsonl }
";
    let kinds = ["panic", "loop", "bomb", "flood"];
    for kind in kinds {
        let name = format!("{kind}-{round}");
        client
            .call(
                "POST",
                "/v1/pipelines",
                Body::Json(json!({"name": name, "spec": spec})),
            )
            .unwrap();
        let poison: String = (0..8)
            .map(|i| format!("{{\"fault\": \"{kind}\", \"ts\": {i}}}\n"))
            .collect();
        client
            .call(
                "POST",
                &format!("/v1/pipelines/{name}/records"),
                Body::Bytes(poison.into_bytes()),
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut failures = Vec::new();
    for kind in kinds {
        let name = format!("{kind}-{round}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let outcome = loop {
            let status = pipeline_status(&client, &name);
            if status["outcome"]["state"] != "running" {
                break status["outcome"].clone();
            }
            assert!(Instant::now() < deadline, "{name} never failed");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(outcome["state"], "failed", "{name}: {outcome}");
        failures.push(outcome["message"].as_str().unwrap().to_owned());
        client
            .call("DELETE", &format!("/v1/pipelines/{name}"), Body::Empty)
            .unwrap();
    }
    failures
}

#[test]
fn one_tenants_faulty_plugins_neither_stop_nor_slow_nor_corrupt_anothers_pipeline() {
    let served = Served::start();
    let alice = served.tenant("alice", json!({}));
    let mallory = served.tenant(
        "mallory",
        json!({"cpu_per_call_ms": 100, "memory_per_instance": 48 << 20, "output_per_call": 1 << 20}),
    );
    let client = served.client(Some(&alice));
    deploy_scores(&client);
    push(
        &served.client(Some(&mallory)),
        "faulty",
        "dofn",
        component("faulty"),
    );

    let mut sent = BTreeMap::new();
    let mut ts = 1_000_000;
    // Warm up, then alternate: A alone, A while B misbehaves.
    timed_workload(&client, "scores", 10, &mut sent, &mut ts);
    let (mut alone, mut beside) = (Vec::new(), Vec::new());
    let mut failures = Vec::new();
    for round in 0..5 {
        alone.push(timed_workload(&client, "scores", 900, &mut sent, &mut ts));
        let chaos = {
            let client = served.client(Some(&mallory));
            std::thread::spawn(move || misbehave(client, round))
        };
        beside.push(timed_workload(&client, "scores", 900, &mut sent, &mut ts));
        failures.extend(chaos.join().unwrap());
    }
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let ratio = median(alone.clone()).as_secs_f64() / median(beside.clone()).as_secs_f64();
    eprintln!(
        "A's workload (450,000 records): alone {alone:?}, beside B's faulty plugins {beside:?}: \
         throughput ratio {ratio:.2}"
    );
    assert!(
        ratio >= 0.8,
        "A's throughput beside B's faults is {ratio:.2} of alone"
    );
    // A tenant's messages name its plugins by name and version, never by a server path.
    for failure in &failures {
        assert!(
            failure.contains("the plugin faulty@") && !failure.contains("/tenants/"),
            "{failure}"
        );
    }
    // Every kind of fault happened, and each cost B its own pipeline only.
    for reason in [
        "panicked",
        "ran longer than its CPU limit of 100ms",
        "exceeded its memory limit of 48 MiB",
        "more than its limit of 1 MiB",
    ] {
        assert!(
            failures.iter().any(|f| f.contains(reason)),
            "no failure says {reason:?}: {failures:#?}"
        );
    }

    // A's output is exact.
    let status = drain(&client);
    assert_eq!(status["live"]["dead_lettered"], 0, "{status}");
    let output = client
        .call("GET", "/v1/pipelines/scores/output", Body::Empty)
        .unwrap();
    let records = common::parse_lines(&String::from_utf8(output).unwrap());
    assert_eq!(totals_per_key(&records), sent);
}
