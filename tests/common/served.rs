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
    /// The data directory: `_data`, or a folder inside it.
    dir: std::path::PathBuf,
    /// More arguments for `serve`, kept for restarts.
    args: Vec<String>,
}

impl Served {
    pub fn start() -> Served {
        Served::start_with(&[])
    }

    /// A server started with more `args` for `serve`.
    pub fn start_with(args: &[&str]) -> Served {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_owned();
        let args = args.iter().map(std::string::ToString::to_string).collect();
        Served::start_in(data, dir, args)
    }

    /// A server like [`Served::start_with`]'s whose data directory, a folder of
    /// its own, `prepare` gets first (to mount a file system on it, say); `None`
    /// if `prepare` says it could not.
    pub fn start_prepared(
        args: &[&str],
        prepare: impl FnOnce(&std::path::Path) -> bool,
    ) -> Option<Served> {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("data");
        std::fs::create_dir_all(&dir).unwrap();
        if !prepare(&dir) {
            return None;
        }
        let args = args.iter().map(std::string::ToString::to_string).collect();
        Some(Served::start_in(data, dir, args))
    }

    /// Kills the server (SIGKILL) and starts another on the same data directory.
    pub fn crash_and_restart(mut self) -> Served {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let data = std::mem::replace(&mut self._data, tempfile::tempdir().unwrap());
        Served::start_in(data, self.dir.clone(), self.args.clone())
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
        Served::start_in(data, self.dir.clone(), self.args.clone())
    }

    fn start_in(data: tempfile::TempDir, dir: std::path::PathBuf, args: Vec<String>) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_millrace"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .args(&args)
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
            dir,
            args,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the server is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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

/// The component of the example plugin `name` (a folder under `plugins/`, in any
/// language), built as `millrace plugin build` builds it: as a client would before
/// pushing it.
pub fn component(name: &str) -> Vec<u8> {
    let path = millrace_wasm::build_plugin(std::path::Path::new(&super::plugin(name)))
        .unwrap_or_else(|err| panic!("the example plugin {name} builds: {err}"));
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

/// Score lines for [`SPEC`]: record `i` of `records` is user `u{i % users}`, score
/// 1, at event time `ts(i)`.
pub fn scores(records: std::ops::Range<u64>, users: u64, ts: impl Fn(u64) -> u64) -> Body {
    let lines: String = records
        .map(|i| {
            format!(
                "{{\"user\": \"u{}\", \"score\": 1, \"ts\": {}}}\n",
                i % users,
                ts(i)
            )
        })
        .collect();
    Body::Bytes(lines.into_bytes())
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

/// What a raw TCP client saw: the bytes the server sent, and whether it closed
/// the connection (rather than keep it open past the wait).
pub struct RawAnswer {
    pub text: String,
    pub closed: bool,
}

/// Sends `request` as raw bytes to `served` and reads until the server closes the
/// connection or `wait` passes.
pub fn raw(served: &Served, request: &[u8], wait: std::time::Duration) -> RawAnswer {
    use std::io::{Read, Write};
    let address = served.address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(request).unwrap();
    let deadline = std::time::Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    RawAnswer {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        closed,
    }
}

/// The refusal a call got: its status and message.
pub fn refusal(result: Result<Vec<u8>, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Refused { status, message }) => (status, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Every status a test was answered, by method and path, to check that the
/// OpenAPI document lists each under its route.
#[derive(Default)]
pub struct Answers(std::cell::RefCell<Vec<(String, String, u16)>>);

impl Answers {
    /// Calls `method path` on `served` with `token`; records and returns the status.
    pub fn status(
        &self,
        served: &Served,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Body,
    ) -> u16 {
        let (status, _) = served.client(token).send(method, path, body).unwrap();
        self.record(method, path, status);
        status
    }

    /// Records that `method path` answered `status`.
    pub fn record(&self, method: &str, path: &str, status: u16) {
        self.0
            .borrow_mut()
            .push((method.to_owned(), path.to_owned(), status));
    }

    /// Panics unless `document` lists every status recorded, under its route and
    /// method.
    pub fn check_documented(&self, document: &Value) {
        for (method, path, status) in self.0.borrow().iter() {
            let route =
                route_of(document, path).unwrap_or_else(|| panic!("{path} is not in the document"));
            let responses = &document["paths"][&route][method.to_lowercase()]["responses"];
            assert!(
                responses.get(status.to_string()).is_some(),
                "{method} {route} answered {status}, which the document does not list"
            );
        }
    }
}

/// The document's route (`/v1/pipelines/{pipeline}`) that `path` is a call of.
fn route_of(document: &Value, path: &str) -> Option<String> {
    let path = path.split('?').next()?;
    let segments: Vec<&str> = path.split('/').collect();
    document["paths"]
        .as_object()?
        .keys()
        .find(|route| {
            let parts: Vec<&str> = route.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment)
        })
        .cloned()
}
