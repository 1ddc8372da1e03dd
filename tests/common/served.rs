//! A real `millrace serve` on loopback, and what the server tests share.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use millrace::client::{Body, Client, ClientError};
use serde_json::{Value, json};

/// The admin token of every [`Served`].
pub const ADMIN: &str = "admin-token-for-tests";

/// A running `millrace serve` with its own data directory; killed when dropped.
pub struct Served {
    child: Child,
    /// Where it listens.
    pub address: String,
    _data: tempfile::TempDir,
}

impl Served {
    pub fn start() -> Served {
        Served::start_in(tempfile::tempdir().unwrap())
    }

    /// Kills the server (SIGKILL) and starts another on the same data directory.
    pub fn crash_and_restart(mut self) -> Served {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let data = std::mem::replace(&mut self._data, tempfile::tempdir().unwrap());
        Served::start_in(data)
    }

    /// Stops the server with SIGTERM, checks that it exits cleanly, and starts
    /// another on the same data directory.
    pub fn terminate_and_restart(mut self) -> Served {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
        let exit = self.child.wait().unwrap();
        assert!(
            exit.success(),
            "the server exits cleanly on SIGTERM: {exit}"
        );
        let data = std::mem::replace(&mut self._data, tempfile::tempdir().unwrap());
        Served::start_in(data)
    }

    fn start_in(data: tempfile::TempDir) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_millrace"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("MILLRACE_ADMIN_TOKEN", ADMIN)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("millrace serve starts");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .unwrap();
            if let Some(rest) = line.strip_prefix("millrace: serving on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining stderr so that the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Served {
            child,
            address,
            _data: data,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    pub fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.address, token.map(str::to_owned))
    }

    /// Creates a tenant; returns its token.
    pub fn tenant(&self, name: &str, quotas: Value) -> String {
        let answer = self
            .client(Some(ADMIN))
            .call(
                "POST",
                "/v1/tenants",
                Body::Json(json!({"name": name, "quotas": quotas})),
            )
            .unwrap();
        json_of(&answer)["token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses a JSON answer.
pub fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The HTTP status of an answer.
pub fn status_of(result: Result<Vec<u8>, ClientError>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(ClientError::Refused { status, .. }) => status,
        Err(err) => panic!("{err}"),
    }
}

/// The component of the example plugin `name`.
pub fn component(name: &str) -> Vec<u8> {
    let path = millrace::plugin::build_crate(std::path::Path::new(&super::plugin(name)))
        .expect("the example plugin builds");
    std::fs::read(path).unwrap()
}

/// Pushes a plugin version; returns its sha256.
pub fn push(client: &Client, name: &str, kind: &str, bytes: Vec<u8>) -> String {
    let answer = client
        .call(
            "PUT",
            &format!("/v1/plugins/{name}?kind={kind}"),
            Body::Bytes(bytes),
        )
        .unwrap_or_else(|err| panic!("pushing {name}: {err}"));
    json_of(&answer)["version"]["version"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Pipeline `scores`: parse, fixed 1 s windows, sum; traced versions.
pub const SPEC: &str = "name: scores
source: { ingest: { timestamp: ts, watermark: { max_out_of_orderness: 0ms } } }
steps:
  - pardo: { plugin: parse, config: { key: user, value: score } }
  - window: { fixed: { size: 1s } }
  - combine: { plugin: total }
sink: { file: out.jsonl }
checkpoint: { interval: 100ms }
trace_versions: true
";

/// A server with one tenant `name` (default quotas): the server, the tenant's
/// token, and a client that sends it.
pub fn served_with_tenant(name: &str) -> (Served, String, Client) {
    let served = Served::start();
    let token = served.tenant(name, json!({}));
    let client = served.client(Some(&token));
    (served, token, client)
}

/// The status of pipeline `name`.
pub fn pipeline_status(client: &Client, name: &str) -> Value {
    json_of(
        &client
            .call("GET", &format!("/v1/pipelines/{name}"), Body::Empty)
            .unwrap(),
    )
}

/// Deploys `spec` as pipeline `name`.
pub fn deploy(client: &Client, name: &str, spec: &str) {
    client
        .call(
            "POST",
            "/v1/pipelines",
            Body::Json(json!({"name": name, "spec": spec})),
        )
        .unwrap_or_else(|err| panic!("deploying {name}: {err}"));
}

/// Pushes `sum` as `total` and `parse-json` as `parse`, then deploys [`SPEC`].
pub fn deploy_scores(client: &Client) {
    push(client, "total", "combine", component("sum"));
    push(client, "parse", "dofn", component("parse-json"));
    deploy(client, "scores", SPEC);
}

/// Drains and stops the pipeline `scores`; returns its final status.
pub fn drain(client: &Client) -> Value {
    let status = json_of(
        &client
            .call(
                "POST",
                "/v1/pipelines/scores/stop",
                Body::Json(json!({"drain": true})),
            )
            .unwrap(),
    );
    assert_eq!(status["outcome"]["state"], "finished", "{status}");
    status
}

/// The sum of the values of `records`, per key.
pub fn totals_per_key(records: &[Value]) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for record in records {
        *totals.entry(record["key"].to_string()).or_insert(0) += record["value"].as_u64().unwrap();
    }
    totals
}
