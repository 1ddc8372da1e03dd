//! A client of `millrace serve`'s API, for the CLI's `tenant`, `plugin push|list`
//! and `pipeline` commands.

use std::time::Duration;

/// A call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached.
    #[error("cannot reach {server}: {message}")]
    Unreachable {
        /// The server's address.
        server: String,
        /// Why.
        message: String,
    },
    /// The server answered with an error.
    #[error("{message} (HTTP {status})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
}

/// A request body.
pub enum Body {
    /// None.
    Empty,
    /// JSON.
    Json(serde_json::Value),
    /// Raw bytes (a component, or JSON Lines).
    Bytes(Vec<u8>),
}

/// A connection to one server with one token.
pub struct Client {
    agent: ureq::Agent,
    server: String,
    token: Option<String>,
}

impl Client {
    /// A client of `server` (e.g. `http://127.0.0.1:7878`) that sends `token`.
    pub fn new(server: &str, token: Option<String>) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Client {
            agent,
            server: server.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// Calls `method path` and returns the body of a successful answer.
    pub fn call(&self, method: &str, path: &str, body: Body) -> Result<Vec<u8>, ClientError> {
        let (status, bytes) = self.send(method, path, body)?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        Err(ClientError::Refused { status, message })
    }

    /// Calls `method path` and returns the answer's status and body, whatever
    /// the status.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Body,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let url = format!("{}{path}", self.server);
        let unreachable = |err: ureq::Error| ClientError::Unreachable {
            server: self.server.clone(),
            message: err.to_string(),
        };
        let authorization = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let with_auth =
            |request: ureq::RequestBuilder<ureq::typestate::WithBody>| match &authorization {
                Some(value) => request.header("Authorization", value),
                None => request,
            };
        let response = match method {
            "GET" | "DELETE" => {
                let request = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                let request = match &authorization {
                    Some(value) => request.header("Authorization", value),
                    None => request,
                };
                request.call()
            }
            _ => {
                let request = with_auth(if method == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                });
                match body {
                    Body::Empty => request.send_empty(),
                    Body::Json(value) => request.send_json(&value),
                    Body::Bytes(bytes) => request.send(&bytes[..]),
                }
            }
        };
        let mut response = response.map_err(unreachable)?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(unreachable)?;
        Ok((status, bytes))
    }
}
