//! `millrace serve` through the real binary on loopback: tenants and tokens, plugins
//! as versioned artifacts, and pipelines whose plugins are swapped while they run.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::languages::{C, GO, JS, PYTHON, RUST};
use common::served::{
    ADMIN, Answers, SPEC, Served, component, deploy, deploy_scores, drain, json_of,
    pipeline_status, push, raw, scores, served_with_tenant, status_of, totals_per_key,
};
use millrace::client::{Body, Client, ClientError};
use millrace_wasm::retag;
use serde_json::{Value, json};

#[test]
fn every_endpoint_answers_401_without_a_valid_token_and_404_for_another_tenants_names() {
    let served = Served::start();
    let answers = Answers::default();
    let alice = served.tenant("alice", json!({}));
    let bob = served.tenant("bob", json!({}));
    let client = served.client(Some(&alice));
    deploy_scores(&client);

    let tenant_calls: Vec<(&str, &str, Body)> = vec![
        ("GET", "/v1/plugins/total", Body::Empty),
        ("GET", "/v1/pipelines/scores", Body::Empty),
        (
            "POST",
            "/v1/pipelines/scores/records",
            Body::Bytes(b"{}\n".to_vec()),
        ),
        (
            "POST",
            "/v1/pipelines/scores/swap",
            Body::Json(json!({"step": "steps[2].combine", "plugin": "total"})),
        ),
        (
            "POST",
            "/v1/pipelines/scores/rollback",
            Body::Json(json!({"step": "steps[2].combine"})),
        ),
        ("POST", "/v1/pipelines/scores/stop", Body::Json(json!({}))),
        ("POST", "/v1/pipelines/scores/start", Body::Empty),
        ("GET", "/v1/pipelines/scores/output", Body::Empty),
        ("GET", "/v1/pipelines/scores/dead-letters", Body::Empty),
        ("GET", "/v1/pipelines/scores/history", Body::Empty),
        ("GET", "/v1/pipelines/scores/graph", Body::Empty),
        ("DELETE", "/v1/pipelines/scores", Body::Empty),
    ];
    let listings = [
        ("PUT", "/v1/plugins/total?kind=combine"),
        ("GET", "/v1/plugins"),
        ("GET", "/v1/pipelines"),
        ("POST", "/v1/pipelines"),
        ("GET", "/metrics"),
    ];
    let admin_calls = [
        ("GET", "/v1/tenants"),
        ("POST", "/v1/tenants"),
        ("GET", "/v1/tenants/alice"),
    ];
    let body = |body: &Body| match body {
        Body::Empty => Body::Empty,
        Body::Json(value) => Body::Json(value.clone()),
        Body::Bytes(bytes) => Body::Bytes(bytes.clone()),
    };
    let all = tenant_calls
        .iter()
        .map(|(m, p, b)| (*m, *p, body(b)))
        .chain(listings.iter().map(|(m, p)| (*m, *p, Body::Empty)))
        .chain(
            admin_calls
                .iter()
                .map(|(m, p)| (*m, *p, Body::Json(json!({"name": "eve"})))),
        );
    for (method, path, request) in all {
        for token in [None, Some("not-a-token")] {
            let status = answers.status(&served, token, method, path, body(&request));
            assert_eq!(status, 401, "{method} {path} with {token:?}");
        }
    }
    for (method, path, request) in &tenant_calls {
        let status = answers.status(&served, Some(&bob), method, path, body(request));
        assert_eq!(status, 404, "{method} {path} with another tenant's token");
        let status = answers.status(&served, Some(ADMIN), method, path, body(request));
        assert_eq!(status, 403, "{method} {path} with the admin token");
    }
    for (method, path) in admin_calls {
        let status = answers.status(
            &served,
            Some(&alice),
            method,
            path,
            Body::Json(json!({"name": "eve"})),
        );
        assert_eq!(status, 403, "{method} {path} with a tenant's token");
    }
    // Listings show a tenant only its own.
    let bobs = json_of(
        &served
            .client(Some(&bob))
            .call("GET", "/v1/pipelines", Body::Empty)
            .unwrap(),
    );
    assert_eq!(bobs, json!([]));
    let metrics = served
        .client(Some(&bob))
        .call("GET", "/metrics", Body::Empty)
        .unwrap();
    assert!(!String::from_utf8_lossy(&metrics).contains("alice"));
    let metrics = served
        .client(Some(&alice))
        .call("GET", "/metrics", Body::Empty)
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("millrace_pipeline_up{tenant=\"alice\",pipeline=\"scores\"} 1"),
        "{metrics}"
    );
    // The document that describes the API names every route.
    let document = json_of(
        &served
            .client(None)
            .call("GET", "/openapi.json", Body::Empty)
            .unwrap(),
    );
    for path in [
        "/v1/tenants",
        "/v1/tenants/{tenant}",
        "/v1/plugins",
        "/v1/plugins/{plugin}",
        "/v1/pipelines",
        "/v1/pipelines/{pipeline}",
        "/v1/pipelines/{pipeline}/records",
        "/v1/pipelines/{pipeline}/swap",
        "/v1/pipelines/{pipeline}/rollback",
        "/v1/pipelines/{pipeline}/stop",
        "/v1/pipelines/{pipeline}/start",
        "/v1/pipelines/{pipeline}/output",
        "/v1/pipelines/{pipeline}/dead-letters",
        "/v1/pipelines/{pipeline}/history",
        "/v1/pipelines/{pipeline}/graph",
        "/metrics",
        "/",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path}");
    }
    // Each status a route answers is in the document: the calls above, and what
    // the owner gets for its own calls, right and wrong.
    let scores = "/v1/pipelines/scores";
    let own: Vec<(&str, String, Body)> = vec![
        ("GET", "/v1/plugins".into(), Body::Empty),
        ("GET", "/v1/plugins/total".into(), Body::Empty),
        ("GET", "/v1/plugins/nothing".into(), Body::Empty),
        ("GET", "/v1/plugins/%FF".into(), Body::Empty),
        (
            "PUT",
            "/v1/plugins/junk?kind=dofn".into(),
            Body::Bytes(b"x".to_vec()),
        ),
        ("PUT", "/v1/plugins/junk".into(), Body::Bytes(b"x".to_vec())),
        ("GET", "/v1/pipelines".into(), Body::Empty),
        ("GET", scores.into(), Body::Empty),
        ("POST", "/v1/pipelines".into(), Body::Bytes(b"{".to_vec())),
        (
            "POST",
            "/v1/pipelines".into(),
            Body::Json(json!({"name": "scores", "spec": SPEC})),
        ),
        (
            "POST",
            "/v1/pipelines".into(),
            Body::Json(json!({"name": "x", "spec": SPEC, "more": 1})),
        ),
        (
            "POST",
            format!("{scores}/records"),
            Body::Bytes(b"{}\n".to_vec()),
        ),
        (
            "POST",
            format!("{scores}/swap"),
            Body::Json(json!({"step": "steps[2].combine"})),
        ),
        (
            "POST",
            format!("{scores}/swap"),
            Body::Json(json!({"step": "steps[2].combine", "plugin": "total"})),
        ),
        (
            "POST",
            format!("{scores}/swap"),
            Body::Json(json!({"step": "steps[9]", "plugin": "total"})),
        ),
        (
            "POST",
            format!("{scores}/rollback"),
            Body::Json(json!({"step": "steps[2].combine", "plugin": "total"})),
        ),
        (
            "POST",
            format!("{scores}/rollback"),
            Body::Json(json!({"step": "steps[2].combine"})),
        ),
        (
            "POST",
            format!("{scores}/rollback"),
            Body::Json(json!({"step": "steps[9]"})),
        ),
        (
            "POST",
            format!("{scores}/stop"),
            Body::Bytes(b"{\"drain\": 3}".to_vec()),
        ),
        ("POST", format!("{scores}/start"), Body::Empty),
        ("GET", format!("{scores}/output"), Body::Empty),
        ("GET", format!("{scores}/dead-letters"), Body::Empty),
        ("DELETE", scores.into(), Body::Empty),
        ("POST", format!("{scores}/stop"), Body::Json(json!({}))),
        (
            "POST",
            format!("{scores}/records"),
            Body::Bytes(b"{}\n".to_vec()),
        ),
        (
            "POST",
            format!("{scores}/swap"),
            Body::Json(json!({"step": "steps[2].combine", "plugin": "total"})),
        ),
        ("POST", format!("{scores}/start"), Body::Empty),
        ("POST", format!("{scores}/stop"), Body::Empty),
        ("DELETE", scores.into(), Body::Empty),
        ("GET", "/metrics".into(), Body::Empty),
    ];
    for (method, path, request) in own {
        answers.status(&served, Some(&alice), method, &path, request);
    }
    let admin: Vec<(&str, &str, Body)> = vec![
        ("GET", "/v1/tenants", Body::Empty),
        ("GET", "/v1/tenants/alice", Body::Empty),
        ("GET", "/v1/tenants/nobody", Body::Empty),
        ("POST", "/v1/tenants", Body::Json(json!({"name": "alice"}))),
        ("POST", "/v1/tenants", Body::Json(json!({"name": "Bad"}))),
        (
            "POST",
            "/v1/tenants",
            Body::Json(json!({"name": "zed", "quotas": {"pipelines": 0}})),
        ),
        ("POST", "/v1/tenants", Body::Json(json!({"name": "zed"}))),
        ("GET", "/metrics", Body::Empty),
    ];
    for (method, path, request) in admin {
        answers.status(&served, Some(ADMIN), method, path, request);
    }
    // A body over the limit is refused from its headers; the client sees the
    // answer before it has sent the body, so ask over a raw connection.
    let put = "/v1/plugins/big?kind=dofn";
    let answer = common::served::raw(
        &served,
        format!(
            "PUT {put} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n\
             Content-Length: {}\r\n\r\n",
            (64 << 20) + 1
        )
        .as_bytes(),
        Duration::from_secs(10),
    );
    assert!(answer.text.starts_with("HTTP/1.1 413"), "{}", answer.text);
    answers.record("PUT", put, 413);
    answers.check_documented(&document);
}

#[test]
fn pushes_are_validated_and_quotas_enforced() {
    let served = Served::start();
    let token = served.tenant("carol", json!({"pipelines": 1, "plugin_bytes": 3_000_000}));
    let client = served.client(Some(&token));
    let refused = |result: Result<Vec<u8>, ClientError>| match result {
        Err(ClientError::Refused { status, message }) => (status, message),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let (status, message) = refused(client.call(
        "PUT",
        "/v1/plugins/junk?kind=combine",
        Body::Bytes(b"not wasm".to_vec()),
    ));
    assert_eq!(status, 400);
    assert!(message.contains("not a WebAssembly component"), "{message}");
    let (status, message) = refused(client.call(
        "PUT",
        "/v1/plugins/parse?kind=combine",
        Body::Bytes(component("parse-json")),
    ));
    assert_eq!(status, 400);
    assert!(
        message.contains("does not export millrace:plugin/combine-fn"),
        "{message}"
    );

    let first = push(&client, "total", "combine", component("sum"));
    assert_eq!(
        first,
        push(&client, "total", "combine", component("sum")),
        "content-addressed"
    );
    push(&client, "parse", "dofn", component("parse-json"));
    let (status, message) = refused(client.call(
        "PUT",
        "/v1/plugins/big?kind=combine",
        Body::Bytes(retag(&component("sum"), &"x".repeat(3_000_000))),
    ));
    assert_eq!(status, 429, "{message}");

    deploy(&client, "one", SPEC);
    let (status, message) = refused(client.call(
        "POST",
        "/v1/pipelines",
        Body::Json(json!({"name": "two", "spec": SPEC})),
    ));
    assert_eq!(status, 429);
    assert!(message.contains("quota"), "{message}");
    let (status, message) = refused(client.call(
        "POST",
        "/v1/pipelines",
        Body::Json(
            json!({"name": "one", "spec": SPEC.replace("plugin: total", "plugin: nothing")}),
        ),
    ));
    assert_eq!(status, 409, "{message}");
}

/// Sends batches of records until told to stop; returns how many it sent per key.
fn feed(
    client: Client,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> std::thread::JoinHandle<BTreeMap<String, u64>> {
    std::thread::spawn(move || {
        let mut per_key = BTreeMap::new();
        let mut ts = 1_000_000;
        for _ in 0..100_000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let mut batch = String::new();
            for i in 0..50 {
                let user = format!("u{}", i % 7);
                *per_key.entry(format!("\"{user}\"")).or_insert(0) += 1;
                batch.push_str(&format!(
                    "{{\"user\": \"{user}\", \"score\": 1, \"ts\": {ts}}}\n"
                ));
                ts += 7;
            }
            client
                .call(
                    "POST",
                    "/v1/pipelines/scores/records",
                    Body::Bytes(batch.into_bytes()),
                )
                .unwrap();
            sent.fetch_add(50, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(2));
        }
        per_key
    })
}

#[test]
fn a_combine_swapped_from_language_to_language_under_load_keeps_every_accumulator() {
    // Every language's `sum` keeps the same accumulator bytes under the same format
    // name, so each takes over the windows the one before left open.
    let languages = [RUST, PYTHON, JS, C, GO, RUST];
    let (served, token, client) = served_with_tenant("erin");
    let versions: Vec<String> = languages
        .iter()
        .map(|language| {
            push(
                &client,
                "total",
                "combine",
                component(&language.example("sum")),
            )
        })
        .collect();
    push(&client, "parse", "dofn", component("parse-json"));
    deploy(
        &client,
        "scores",
        &SPEC.replace(
            "plugin: total",
            &format!("plugin: \"total@{}\"", versions[0]),
        ),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let feeder = feed(served.client(Some(&token)), stop.clone(), sent.clone());
    for (language, version) in languages.iter().zip(&versions).skip(1) {
        let target = sent.load(Ordering::Relaxed) + 500;
        let deadline = Instant::now() + Duration::from_secs(20);
        while sent.load(Ordering::Relaxed) < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let swapped = client
            .call(
                "POST",
                "/v1/pipelines/scores/swap",
                Body::Json(
                    json!({"step": "steps[2].combine", "plugin": format!("total@{version}")}),
                ),
            )
            .unwrap_or_else(|err| panic!("swapping in the {} sum: {err}", language.name));
        assert_eq!(json_of(&swapped)["to"], version.as_str());
    }
    let target = sent.load(Ordering::Relaxed) + 500;
    let deadline = Instant::now() + Duration::from_secs(20);
    while sent.load(Ordering::Relaxed) < target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let expected = feeder.join().unwrap();
    let status = drain(&client);
    assert_eq!(
        status["swaps"].as_array().unwrap().len(),
        languages.len() - 1
    );
    let output = client
        .call("GET", "/v1/pipelines/scores/output", Body::Empty)
        .unwrap();
    let records = common::parse_lines(&String::from_utf8(output).unwrap());
    // No loss, no duplicates, across the languages' code.
    assert_eq!(totals_per_key(&records), expected);
    // Each language's version summed some of the panes.
    let summed_by: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r["pane"]["versions"]["steps[2].combine"].as_str().unwrap())
        .collect();
    let pushed: std::collections::BTreeSet<&str> = versions.iter().map(String::as_str).collect();
    assert_eq!(summed_by, pushed);
}

#[test]
fn plugins_swapped_twenty_times_under_load_lose_and_duplicate_nothing() {
    let (served, token, client) = served_with_tenant("dana");
    let sum = component("sum");
    let parse = component("parse-json");
    let first_total = push(&client, "total", "combine", sum.clone());
    let first_parse = push(&client, "parse", "dofn", parse.clone());
    deploy(&client, "scores", SPEC);
    // Versions pushed later do not change the running pipeline until swapped in.
    let totals = [
        first_total,
        push(&client, "total", "combine", retag(&sum, "2")),
    ];
    let parsers = [
        first_parse,
        push(&client, "parse", "dofn", retag(&parse, "2")),
    ];
    push(&client, "average", "combine", component("mean"));
    // A DoFn that cannot start with this step's config (it needs `horizon`).
    push(&client, "dedup", "dofn", component("dedup"));

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let feeder = feed(served.client(Some(&token)), stop.clone(), sent.clone());
    let swap = |step: &str, plugin: String| {
        client.call(
            "POST",
            "/v1/pipelines/scores/swap",
            Body::Json(json!({"step": step, "plugin": plugin})),
        )
    };
    let mut swaps = 0;
    for round in 0..10 {
        // Let some records through between swaps.
        let target = sent.load(Ordering::Relaxed) + 200;
        let deadline = Instant::now() + Duration::from_secs(10);
        while sent.load(Ordering::Relaxed) < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let next = (round + 1) % 2;
        let record = json_of(&swap("steps[2].combine", format!("total@{}", totals[next])).unwrap());
        assert_eq!(record["to"], totals[next].as_str());
        let record =
            json_of(&swap("steps[0].pardo", format!("parse@{}", &parsers[next][..12])).unwrap());
        assert_eq!(record["to"], parsers[next].as_str());
        swaps += 2;
        if round == 4 {
            // A version that cannot take over is refused; the old one keeps running.
            let refused = swap("steps[2].combine", "average".to_owned());
            match refused {
                Err(ClientError::Refused {
                    status: 400,
                    message,
                }) => {
                    assert!(message.contains("accumulators"), "{message}");
                }
                other => panic!("the swap to mean should be refused: {other:?}"),
            }
            let refused = swap("steps[0].pardo", "total".to_owned());
            assert_eq!(status_of(refused), 400, "a CombineFn cannot replace a DoFn");
            match swap("steps[0].pardo", "dedup".to_owned()) {
                Err(ClientError::Refused {
                    status: 400,
                    message,
                }) => assert!(message.contains("horizon"), "{message}"),
                other => panic!("a version that cannot start is refused: {other:?}"),
            }
        }
    }
    assert_eq!(swaps, 20);
    // One rollback: back to the version before the last swap.
    let rolled = json_of(
        &client
            .call(
                "POST",
                "/v1/pipelines/scores/rollback",
                Body::Json(json!({"step": "steps[2].combine"})),
            )
            .unwrap(),
    );
    assert_eq!(rolled["to"], totals[1].as_str());
    assert_eq!(rolled["rollback"], true);

    stop.store(true, Ordering::Relaxed);
    let expected = feeder.join().unwrap();
    let status = drain(&client);
    let history = status["swaps"].as_array().unwrap().clone();
    assert_eq!(history.len(), 21);
    assert_eq!(
        status["pins"]["steps[2].combine"]["version"],
        totals[1].as_str()
    );
    // Each pause runs from a switch to the next output; swaps with no output
    // between them share one.
    let pauses = status["live"]["swap_pauses_us"].as_array().unwrap();
    assert!(!pauses.is_empty() && pauses.len() <= 21, "{pauses:?}");
    let metrics = client.call("GET", "/metrics", Body::Empty).unwrap();
    assert!(String::from_utf8_lossy(&metrics).contains("millrace_swap_pause_seconds{"));

    let output = client
        .call("GET", "/v1/pipelines/scores/output", Body::Empty)
        .unwrap();
    let records = common::parse_lines(&String::from_utf8(output).unwrap());
    // No loss, no duplicates: every record counted once.
    assert_eq!(totals_per_key(&records), expected);
    assert_eq!(expected.values().sum::<u64>(), sent.load(Ordering::Relaxed));
    // Every output names versions in the order the swaps put them in place.
    for step in ["steps[0].pardo", "steps[2].combine"] {
        let mut order: Vec<&str> = vec![
            history.iter().find(|s| s["step"] == step).unwrap()["from"]
                .as_str()
                .unwrap(),
        ];
        order.extend(
            history
                .iter()
                .filter(|s| s["step"] == step)
                .map(|s| s["to"].as_str().unwrap()),
        );
        let mut at = 0;
        for record in &records {
            let version = record["pane"]["versions"][step].as_str().unwrap();
            while order[at] != version {
                at += 1;
                assert!(
                    at < order.len(),
                    "{step}: {version} out of the swaps' order"
                );
            }
        }
        assert!(at > 0, "{step}: outputs of more than one version");
    }
}

#[test]
fn a_killed_server_resumes_its_pipelines_and_loses_no_acknowledged_record() {
    let (served, token, client) = served_with_tenant("erin");
    let first = push(&client, "total", "combine", component("sum"));
    push(&client, "parse", "dofn", component("parse-json"));
    deploy(&client, "scores", SPEC);
    let batch = |from: u64| scores(from..from + 500, 5, |i| 1_000_000 + i * 10);
    for from in (0..2000).step_by(500) {
        client
            .call("POST", "/v1/pipelines/scores/records", batch(from))
            .unwrap();
    }
    // A version pushed after the deployment is not what the pipeline resumes with.
    push(&client, "total", "combine", retag(&component("sum"), "2"));

    let served = served.crash_and_restart();
    let client = served.client(Some(&token));
    let status = pipeline_status(&client, "scores");
    assert_eq!(status["outcome"]["state"], "running", "{status}");
    assert_eq!(
        status["pins"]["steps[2].combine"]["version"],
        first.as_str()
    );
    for from in (2000..4000).step_by(500) {
        client
            .call("POST", "/v1/pipelines/scores/records", batch(from))
            .unwrap();
    }
    drain(&client);
    let output = client
        .call("GET", "/v1/pipelines/scores/output", Body::Empty)
        .unwrap();
    let totals = totals_per_key(&common::parse_lines(&String::from_utf8(output).unwrap()));
    let expected: BTreeMap<String, u64> = (0..5).map(|k| (format!("\"u{k}\""), 800)).collect();
    assert_eq!(totals, expected, "every acknowledged record counted once");
}

/// Runs `millrace ARGS` against `served` with `token`; returns stdout, asserting success.
fn cli(served: &Served, token: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_millrace"))
        .args(args)
        .env("MILLRACE_SERVER", &served.address)
        .env("MILLRACE_TOKEN", token)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "millrace {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_command_line_client_drives_a_pipeline_from_push_to_output() {
    let served = Served::start();
    let created: Value = serde_json::from_str(&cli(
        &served,
        ADMIN,
        &["tenant", "create", "fay", "--pipelines", "2"],
    ))
    .unwrap();
    assert_eq!(created["tenant"]["quotas"]["pipelines"], 2);
    let token = created["token"].as_str().unwrap().to_owned();
    // A crate folder is built, then pushed.
    cli(
        &served,
        &token,
        &[
            "plugin",
            "push",
            "total",
            &common::plugin("sum"),
            "--kind",
            "combine",
        ],
    );
    cli(
        &served,
        &token,
        &[
            "plugin",
            "push",
            "parse",
            &common::plugin("parse-json"),
            "--kind",
            "dofn",
        ],
    );
    let plugins: Value = serde_json::from_str(&cli(&served, &token, &["plugin", "list"])).unwrap();
    assert_eq!(plugins.as_array().unwrap().len(), 2);

    let dir = tempfile::tempdir().unwrap();
    let spec = common::write(dir.path(), "scores.yaml", SPEC);
    cli(
        &served,
        &token,
        &["pipeline", "deploy", spec.to_str().unwrap()],
    );
    let input = common::write(
        dir.path(),
        "events.jsonl",
        "{\"user\": \"a\", \"score\": 2, \"ts\": 1000}\n{\"user\": \"a\", \"score\": 3, \"ts\": 1500}\n{\"user\": \"b\", \"score\": 4, \"ts\": 2500}\nnot json\n",
    );
    cli(
        &served,
        &token,
        &["pipeline", "send", "scores", input.to_str().unwrap()],
    );
    cli(&served, &token, &["pipeline", "stop", "scores", "--drain"]);
    let status: Value =
        serde_json::from_str(&cli(&served, &token, &["pipeline", "status", "scores"])).unwrap();
    assert_eq!(status["live"]["records_read"], 3, "{status}");
    let output = cli(&served, &token, &["pipeline", "output", "scores"]);
    let values: Vec<(String, u64)> = common::parse_lines(&output)
        .iter()
        .map(|r| (r["key"].to_string(), r["value"].as_u64().unwrap()))
        .collect();
    assert_eq!(values, [("\"a\"".to_owned(), 5), ("\"b\"".to_owned(), 4)]);
    let dead = cli(
        &served,
        &token,
        &["pipeline", "output", "scores", "--dead-letters"],
    );
    assert!(dead.contains("not valid JSON"), "{dead}");

    // Errors name what is wrong and exit with status 1.
    let refused = Command::new(env!("CARGO_BIN_EXE_millrace"))
        .args(["pipeline", "status", "nothing"])
        .env("MILLRACE_SERVER", &served.address)
        .env("MILLRACE_TOKEN", &token)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("there is no pipeline nothing (HTTP 404)")
    );
}

#[test]
fn an_idle_pipeline_takes_no_checkpoints_yet_its_last_one_stays_current() {
    let (_served, _, client) = served_with_tenant("gil");
    deploy_scores(&client);
    client
        .call(
            "POST",
            "/v1/pipelines/scores/records",
            Body::Bytes(b"{\"user\": \"a\", \"score\": 1, \"ts\": 1000}\n".to_vec()),
        )
        .unwrap();
    let status = || pipeline_status(&client, "scores");
    // The spec checkpoints every 100 ms; wait until the record is in one.
    let deadline = Instant::now() + Duration::from_secs(30);
    while status()["live"]["checkpoints"].as_u64().unwrap() == 0 {
        assert!(Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = status();
    std::thread::sleep(Duration::from_millis(1500));
    let after = status();
    assert_eq!(
        before["live"]["checkpoints"], after["live"]["checkpoints"],
        "nothing changed, so nothing to checkpoint"
    );
    let age = after["checkpoint_age_s"].as_f64().unwrap();
    assert!(age < 1.0, "the last checkpoint still holds: age {age}");
}

#[test]
fn trigger_plugins_are_pinned_too_but_only_pardo_and_combine_swap_live() {
    let (_served, _, client) = served_with_tenant("hal");
    let first = push(&client, "crossing", "trigger", component("threshold"));
    let spec = "name: alerts
source: { ingest: { timestamp: ts, key: host } }
steps:
  - window:
      global: {}
      trigger: { repeatedly: { plugin: crossing, config: { threshold: 100, field: latency } } }
      accumulation: discarding
  - combine: count
sink: { file: out.jsonl }
";
    deploy(&client, "alerts", spec);
    push(
        &client,
        "crossing",
        "trigger",
        retag(&component("threshold"), "2"),
    );
    let status = pipeline_status(&client, "alerts");
    let step = "steps[0].window.trigger_plugins[0]";
    assert_eq!(status["pins"][step]["version"], first.as_str(), "{status}");
    let refused = client.call(
        "POST",
        "/v1/pipelines/alerts/swap",
        Body::Json(json!({"step": step, "plugin": "crossing"})),
    );
    match refused {
        Err(ClientError::Refused {
            status: 400,
            message,
        }) => assert!(message.contains("cannot be swapped"), "{message}"),
        other => panic!("the swap should be refused: {other:?}"),
    }
}

/// The `records_read` of every checkpoint manifest under `dir`.
fn checkpoint_positions(dir: &std::path::Path) -> Vec<u64> {
    let mut positions = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            positions.extend(checkpoint_positions(&path));
        } else if path
            .file_name()
            .is_some_and(|n| n == "MILLRACE-CHECKPOINT.json")
        {
            let manifest = json_of(&std::fs::read(&path).unwrap());
            positions.push(manifest["records_read"].as_u64().unwrap());
        }
    }
    positions
}

#[test]
fn a_swap_checkpoints_first_so_a_crash_never_replays_old_records_through_the_new_version() {
    let (served, token, client) = served_with_tenant("ivy");
    deploy_scores(&client);
    client
        .call(
            "POST",
            "/v1/pipelines/scores/records",
            scores(0..2000, 4, |i| 1_000_000 + i),
        )
        .unwrap();
    let second = push(&client, "total", "combine", retag(&component("sum"), "2"));
    let swap = json_of(
        &client
            .call(
                "POST",
                "/v1/pipelines/scores/swap",
                Body::Json(
                    json!({"step": "steps[2].combine", "plugin": format!("total@{second}")}),
                ),
            )
            .unwrap(),
    );
    let position = swap["position"].as_u64().unwrap();
    let data = served.data_dir().to_owned();
    assert!(
        checkpoint_positions(&data).contains(&position),
        "a checkpoint at the switch ({position})"
    );

    let served = served.crash_and_restart();
    let client = served.client(Some(&token));
    let status = pipeline_status(&client, "scores");
    assert_eq!(
        status["pins"]["steps[2].combine"]["version"],
        second.as_str()
    );
    drain(&client);
    let output = client
        .call("GET", "/v1/pipelines/scores/output", Body::Empty)
        .unwrap();
    let totals = totals_per_key(&common::parse_lines(&String::from_utf8(output).unwrap()));
    let expected: BTreeMap<String, u64> = (0..4).map(|k| (format!("\"u{k}\""), 500)).collect();
    assert_eq!(totals, expected);
}

/// Runs `millrace bench ARGS --json` on the example plugins; returns its report.
fn bench(args: &[&str]) -> Value {
    let plugins = common::root().join("plugins");
    let output = Command::new(env!("CARGO_BIN_EXE_millrace"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg("--plugins")
        .arg(&plugins)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "millrace bench {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_server_benchmarks_run_and_report() {
    let swaps = bench(&["--scenario", "swap", "--swaps", "3"]);
    assert_eq!(swaps["swaps"], 3, "{swaps}");
    assert!(swaps["pause_us"]["max"].as_u64().unwrap() > 0, "{swaps}");
    assert!(swaps["load_per_second"].as_f64().unwrap() > 0.0, "{swaps}");
    let idle = bench(&["--scenario", "idle", "--pipelines", "3"]);
    assert_eq!(idle["pipelines"], 3, "{idle}");
    assert!(idle["rss_bytes"].as_u64().unwrap() > 0, "{idle}");
}

#[test]
fn sigterm_stops_every_pipeline_at_a_checkpoint_and_a_restart_resumes_them() {
    let (served, token, client) = served_with_tenant("jo");
    push(&client, "total", "combine", component("sum"));
    push(&client, "parse", "dofn", component("parse-json"));
    // No timed checkpoint comes before the shutdown's.
    deploy(
        &client,
        "scores",
        &SPEC.replace("interval: 100ms", "interval: 1h"),
    );
    let lines = |from: u64| scores(from..from + 1000, 4, |i| 1_000_000 + i);
    client
        .call("POST", "/v1/pipelines/scores/records", lines(0))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pipeline_status(&client, "scores")["live"]["records_read"] != 1000 {
        assert!(Instant::now() < deadline, "the records were never read");
        std::thread::sleep(Duration::from_millis(10));
    }
    let served = served.terminate_and_restart();
    assert!(
        checkpoint_positions(served.data_dir()).contains(&1000),
        "a checkpoint where the shutdown found the pipeline"
    );
    let client = served.client(Some(&token));
    assert_eq!(
        pipeline_status(&client, "scores")["outcome"]["state"],
        "running"
    );
    client
        .call("POST", "/v1/pipelines/scores/records", lines(1000))
        .unwrap();
    drain(&client);
    let output = client
        .call("GET", "/v1/pipelines/scores/output", Body::Empty)
        .unwrap();
    let totals = totals_per_key(&common::parse_lines(&String::from_utf8(output).unwrap()));
    let expected: BTreeMap<String, u64> = (0..4).map(|k| (format!("\"u{k}\""), 500)).collect();
    assert_eq!(totals, expected);
}

#[test]
fn the_dashboard_is_served_with_a_strict_policy_and_charts_what_the_pipeline_did() {
    let (served, _token, client) = served_with_tenant("dana");
    // The page and its files need no token, and may load nothing from elsewhere.
    for (path, kind) in [
        ("/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let answer = raw(
            &served,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(10),
        );
        let head = answer.text.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{path}: {}", answer.text);
        assert!(head.contains(&format!("content-type: {kind}")), "{path}");
        assert!(
            head.contains(
                "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self';"
            ),
            "{path}"
        );
        assert!(head.contains("x-content-type-options: nosniff"), "{path}");
    }
    deploy_scores(&client);
    client
        .call(
            "POST",
            "/v1/pipelines/scores/records",
            scores(0..30, 3, |i| i * 100),
        )
        .unwrap();
    // The graph names each step by the path its counters go by, and each plugin by
    // its pin, never by where the server keeps it.
    let graph = json_of(
        &client
            .call("GET", "/v1/pipelines/scores/graph", Body::Empty)
            .unwrap(),
    );
    let names: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "source",
            "steps[0].pardo",
            "steps[1].window",
            "steps[2].combine",
            "sink"
        ]
    );
    let edges: Vec<(&str, &str)> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| (edge["from"].as_str().unwrap(), edge["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        edges,
        [
            ("source0", "step0"),
            ("step0", "step1"),
            ("step1", "step2"),
            ("step2", "sink0")
        ]
    );
    let text = graph.to_string();
    assert!(
        text.contains("pardo parse@") && text.contains("plugin total@"),
        "{text}"
    );
    let data_dir = served.data_dir().to_string_lossy().into_owned();
    assert!(!text.contains(&data_dir), "{text}");
    // The server samples the counters once a second; the pipeline checkpoints
    // every 100 ms while records come.
    let deadline = Instant::now() + Duration::from_secs(20);
    let history = loop {
        let history = json_of(
            &client
                .call("GET", "/v1/pipelines/scores/history", Body::Empty)
                .unwrap(),
        );
        let read = history["samples"]
            .as_array()
            .and_then(|samples| samples.last())
            .map(|sample| sample["records_read"].as_u64().unwrap_or(0));
        if read == Some(30) && !history["checkpoints"].as_array().unwrap().is_empty() {
            break history;
        }
        assert!(Instant::now() < deadline, "{history}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(history["interval_ms"], 1000);
    let samples = history["samples"].as_array().unwrap();
    let times: Vec<i64> = samples.iter().map(|s| s["at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "{times:?}");
    let last = samples.last().unwrap();
    let steps: Vec<&str> = last["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["steps[0].pardo", "steps[1].window", "steps[2].combine"]
    );
    assert_eq!(last["steps"][0]["records_in"], 30);
    let checkpoint = &history["checkpoints"][0];
    assert!(checkpoint["bytes"].as_u64().unwrap() > 0, "{checkpoint}");
    assert!(
        checkpoint["duration_ms"].as_f64().unwrap() >= 0.0,
        "{checkpoint}"
    );
}
