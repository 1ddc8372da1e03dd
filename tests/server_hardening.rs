//! `millrace serve` as a hostile tenant would try it: other tenants' plugins,
//! bodies sent without a token, connections left half-sent, messages that would
//! tell the server's files apart, quotas and plugins of the wrong kind.

mod common;

use std::time::{Duration, Instant};

use common::served::{
    ADMIN, SPEC, Served, component, deploy, deploy_scores, drain, json_of, push, raw, refusal,
    served_with_tenant,
};
use millrace::client::Body;
use serde_json::json;

#[test]
fn no_name_a_tenant_gives_reaches_another_tenants_plugins() {
    let served = Served::start();
    let mallory = served.tenant("mallory", json!({}));
    let bob = served.tenant("bob", json!({}));
    let bobs = served.client(Some(&bob));
    let secret = push(&bobs, "secret", "combine", component("sum"));
    let client = served.client(Some(&mallory));
    deploy_scores(&client);

    let traversals = [
        "../../bob/plugins/secret".to_owned(),
        format!("../../bob/plugins/secret@{secret}"),
        format!("../../bob/plugins/secret@{}", &secret[..8]),
        "..".to_owned(),
        "/etc/passwd".to_owned(),
    ];
    // What a name that was never pushed gets: every traversal gets the same.
    let never = |reference: &str| reference.replace("../../bob/plugins/secret", "nothing");

    for reference in &traversals {
        // GET /v1/plugins/{plugin}, the name percent-encoded into one segment.
        let encoded = reference.replace('/', "%2F");
        let (status, _) =
            refusal(client.call("GET", &format!("/v1/plugins/{encoded}"), Body::Empty));
        assert_eq!(status, 404, "GET {encoded}");
        // PUT refuses the name as a name.
        let (status, _) = refusal(client.call(
            "PUT",
            &format!("/v1/plugins/{encoded}?kind=combine"),
            Body::Bytes(component("sum")),
        ));
        assert_eq!(status, 400, "PUT {encoded}");
        // Every plugin reference in a spec.
        for (i, spec) in [
            SPEC.replace("plugin: total", &format!("plugin: {reference:?}")),
            SPEC.replace("plugin: parse,", &format!("plugin: {reference:?},")),
            "source: { ingest: { timestamp: ts } }
steps:
  - window: { custom: { plugin: REF } }
  - combine: count
sink: { file: out.jsonl }
"
            .replace("REF", &format!("{reference:?}")),
            "source: { ingest: { timestamp: ts } }
steps:
  - window: { global: {}, trigger: { plugin: REF } }
  - combine: count
sink: { file: out.jsonl }
"
            .replace("REF", &format!("{reference:?}")),
        ]
        .iter()
        .enumerate()
        {
            let name = format!("stolen-{i}");
            let attempt = |spec: &str| {
                refusal(client.call(
                    "POST",
                    "/v1/pipelines",
                    Body::Json(json!({"name": name, "spec": spec})),
                ))
            };
            let (status, message) = attempt(spec);
            let (expected_status, expected) = attempt(&never(spec));
            assert_eq!(status, expected_status, "{spec}: {message}");
            assert_eq!(never(&message), expected, "{spec}");
            let (status, _) =
                refusal(client.call("GET", &format!("/v1/pipelines/{name}"), Body::Empty));
            assert_eq!(status, 404, "{name} was not deployed");
        }
        // The swap endpoint's plugin field.
        let swap = |plugin: &str| {
            refusal(client.call(
                "POST",
                "/v1/pipelines/scores/swap",
                Body::Json(json!({"step": "steps[2].combine", "plugin": plugin})),
            ))
        };
        let (status, message) = swap(reference);
        assert_eq!(status, 404, "swap to {reference}: {message}");
        assert_eq!(never(&message), swap(&never(reference)).1);
    }
    // Listings show a tenant only its own.
    let listed = json_of(&client.call("GET", "/v1/plugins", Body::Empty).unwrap());
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["parse", "total"]);
    let status = json_of(
        &client
            .call("GET", "/v1/pipelines/scores", Body::Empty)
            .unwrap(),
    );
    assert_eq!(status["swaps"], json!([]), "no swap took place");
}

#[test]
fn the_token_and_the_size_are_checked_before_a_body_is_read() {
    let (served, token, client) = served_with_tenant("kim");
    deploy_scores(&client);
    // Headers that announce 60 MB, and no body: the answer comes without it.
    let request = |authorization: &str, length: u64| {
        format!(
            "POST /v1/pipelines/scores/records HTTP/1.1\r\nHost: x\r\n{authorization}\
             Content-Length: {length}\r\n\r\n"
        )
    };
    let started = Instant::now();
    let answer = raw(
        &served,
        request("", 60_000_000).as_bytes(),
        Duration::from_secs(10),
    );
    assert!(answer.text.starts_with("HTTP/1.1 401"), "{}", answer.text);
    assert!(answer.text.contains("{\"error\":"), "{}", answer.text);
    let wrong = "Authorization: Bearer wrong\r\n";
    let answer = raw(
        &served,
        request(wrong, 60_000_000).as_bytes(),
        Duration::from_secs(10),
    );
    assert!(answer.text.starts_with("HTTP/1.1 401"), "{}", answer.text);
    let ours = format!("Authorization: Bearer {token}\r\n");
    let answer = raw(
        &served,
        request(&ours, 100_000_000).as_bytes(),
        Duration::from_secs(10),
    );
    assert!(answer.text.starts_with("HTTP/1.1 413"), "{}", answer.text);
    assert!(
        answer
            .text
            .contains("{\"error\":\"the body is larger than 64 MiB"),
        "{}",
        answer.text
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered without the bodies"
    );
}

#[test]
fn every_error_is_json_even_axums_own() {
    let (served, token, client) = served_with_tenant("lee");
    deploy_scores(&client);
    let checks: [(&str, &str, Body, u16); 6] = [
        ("GET", "/v1/nothing", Body::Empty, 404),
        ("GET", "/ui/nothing.js", Body::Empty, 404),
        ("DELETE", "/v1/plugins", Body::Empty, 405),
        (
            "POST",
            "/v1/pipelines",
            Body::Bytes(b"{not json".to_vec()),
            400,
        ),
        ("GET", "/v1/plugins/%FF", Body::Empty, 400),
        (
            "PUT",
            "/v1/plugins/x?kind=dofn&kind=combine",
            Body::Bytes(b"x".to_vec()),
            400,
        ),
    ];
    for (method, path, body, expected) in checks {
        let (status, message) = refusal(client.call(method, path, body));
        assert_eq!(status, expected, "{method} {path}: {message}");
        assert!(!message.is_empty(), "{method} {path}");
    }
    // The client reads `error` from JSON and falls back to the raw text: check
    // the raw answers too.
    let raw_answer = |line: &str| {
        raw(
            &served,
            format!("{line} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
            Duration::from_secs(10),
        )
        .text
    };
    for line in [
        "GET /v1/nothing",
        "DELETE /v1/plugins",
        "GET /v1/plugins/%FF",
    ] {
        let answer = raw_answer(line);
        assert!(
            answer.contains("content-type: application/json"),
            "{line}: {answer}"
        );
        assert!(answer.contains("{\"error\":"), "{line}: {answer}");
    }
    assert!(raw_answer("DELETE /v1/plugins").contains("allow: GET"));
}

#[test]
fn idle_and_half_sent_connections_are_closed() {
    let served = Served::start_with(&["--header-timeout", "500ms", "--body-timeout", "500ms"]);
    let token = served.tenant("max", json!({}));
    let wait = Duration::from_secs(5);
    // Half the headers.
    let answer = raw(&served, b"GET /openapi.json HTTP/1.1\r\nHo", wait);
    assert!(answer.closed, "half-sent headers: {}", answer.text);
    // A whole request, then nothing: the idle connection is closed.
    let started = Instant::now();
    let answer = raw(
        &served,
        b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n",
        wait,
    );
    assert!(answer.text.starts_with("HTTP/1.1 200"), "{}", answer.text);
    assert!(answer.closed, "an idle keep-alive connection stays open");
    assert!(started.elapsed() < Duration::from_secs(4));
    // Headers and half the body.
    let request = format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Length: 100\r\n\r\n{{\"name\""
    );
    let answer = raw(&served, request.as_bytes(), wait);
    assert!(answer.closed, "half-sent body: {}", answer.text);
    // The server still serves.
    let plugins = served
        .client(Some(&token))
        .call("GET", "/v1/plugins", Body::Empty);
    assert_eq!(json_of(&plugins.unwrap()), json!([]));
}

#[test]
fn messages_to_a_tenant_name_its_own_files_only() {
    let (served, _, client) = served_with_tenant("ned");
    deploy_scores(&client);
    client
        .call(
            "POST",
            "/v1/pipelines/scores/records",
            Body::Bytes(
                b"not json\n{\"user\": \"a\", \"score\": \"lots\", \"ts\": 1000}\n".to_vec(),
            ),
        )
        .unwrap();
    drain(&client);
    let dead = client
        .call("GET", "/v1/pipelines/scores/dead-letters", Body::Empty)
        .unwrap();
    let dead = common::parse_lines(&String::from_utf8(dead).unwrap());
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0]["source"], "input.jsonl", "{dead:?}");
    let step = dead[1]["step"].as_str().unwrap();
    assert!(step.starts_with("steps[2].combine (total@"), "{step}");
    let data = served.data_dir().to_string_lossy().into_owned();
    assert!(!format!("{dead:?}").contains(&data), "{dead:?}");

    // Paths on the server: one that exists and one that does not get the same
    // answer, whatever the spec does with them.
    let specs = [
        "source: { file: { path: PATH, timestamp: ts } }\nsteps: []\nsink: { file: out.jsonl }\n",
        "source: { test_stream: PATH }\nsteps: []\nsink: { file: out.jsonl }\n",
        "source: { ingest: { timestamp: ts } }\nsteps: []\nsink: { file: PATH }\n",
        "source: { ingest: { timestamp: ts } }\nsteps: []\nsink: { file: out.jsonl }\ndead_letter: { file: PATH }\n",
        "source: { ingest: { timestamp: ts } }\nsteps:\n  - combine: { plugin: PATH }\nsink: { file: out.jsonl }\n",
        "source: { ingest: { timestamp: ts } }\nsteps:\n  - combine: { plugin: total, grants: { read: [PATH] } }\nsink: { file: out.jsonl }\n",
    ];
    for spec in specs {
        let answers: Vec<(u16, String)> = ["/etc", "/nonexistent"]
            .iter()
            .map(|path| {
                let (status, message) = refusal(client.call(
                    "POST",
                    "/v1/pipelines",
                    Body::Json(json!({"name": "probe", "spec": spec.replace("PATH", path)})),
                ));
                (status, message.replace(path, "PATH"))
            })
            .collect();
        assert_eq!(answers[0], answers[1], "{spec}");
        assert_eq!(answers[0].0, 400, "{spec}");
        assert!(
            answers[0].1.starts_with("pipeline.yaml: "),
            "{:?}",
            answers[0]
        );
        assert!(!answers[0].1.contains(&data), "{:?}", answers[0]);
    }
}

#[test]
fn zero_quotas_and_plugins_of_the_wrong_kind_are_refused_up_front() {
    let served = Served::start();
    let admin = served.client(Some(ADMIN));
    for quota in [
        "pipelines",
        "plugin_instances",
        "memory_per_instance",
        "cpu_per_call_ms",
        "output_per_call",
        "plugin_bytes",
    ] {
        let (status, message) = refusal(admin.call(
            "POST",
            "/v1/tenants",
            Body::Json(json!({"name": "zero", "quotas": {quota: 0}})),
        ));
        assert_eq!(status, 400, "{quota}: {message}");
        assert!(message.contains(&format!("quotas.{quota}")), "{message}");
    }
    let token = served.tenant("olga", json!({}));
    let client = served.client(Some(&token));
    push(&client, "total", "combine", component("sum"));
    push(&client, "parse", "dofn", component("parse-json"));
    let cases = [
        (
            "  - window: { custom: { plugin: total } }\n  - combine: count\n",
            "steps[0].window.custom",
            ["window", "combine"],
        ),
        (
            "  - window: { global: {}, trigger: { plugin: parse } }\n  - combine: count\n",
            "steps[0].window.trigger_plugins[0]",
            ["trigger", "dofn"],
        ),
        (
            "  - pardo: { plugin: total }\n",
            "steps[0].pardo",
            ["dofn", "combine"],
        ),
        (
            "  - combine: { plugin: parse }\n",
            "steps[0].combine",
            ["combine", "dofn"],
        ),
    ];
    for (steps, path, [wanted, given]) in cases {
        let spec = format!(
            "source: {{ ingest: {{ timestamp: ts }} }}\nsteps:\n{steps}sink: {{ file: out.jsonl }}\n"
        );
        let (status, message) = refusal(client.call(
            "POST",
            "/v1/pipelines",
            Body::Json(json!({"name": "wrong", "spec": spec})),
        ));
        assert_eq!(status, 400, "{spec}: {message}");
        assert!(message.contains(path), "{message}");
        assert!(message.contains(&format!("a {wanted} plugin")), "{message}");
        assert!(
            message.contains(&format!("is a {given} plugin")),
            "{message}"
        );
    }
    deploy(&client, "right", SPEC);
}
