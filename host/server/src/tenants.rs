//! Tenants: who may call the server, and how much each may use.
//!
//! The admin token creates tenants; each tenant gets its own token, shown once.
//! Only the sha256 of a token is kept on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ApiError, write_json_atomically};
use millrace_wasm::Limits;

/// How much a tenant may use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    /// Pipelines deployed at once.
    pub pipelines: u64,
    /// Plugin instances across its pipelines (one per plugin step).
    pub plugin_instances: u64,
    /// Linear memory per plugin instance, in bytes.
    pub memory_per_instance: u64,
    /// CPU time per plugin call, in milliseconds.
    pub cpu_per_call_ms: u64,
    /// Output of one plugin call, in bytes.
    pub output_per_call: u64,
    /// Bytes of plugin components stored, all versions together.
    pub plugin_bytes: u64,
}

impl Default for Quotas {
    /// 10 pipelines, 20 instances, 64 MiB and 1 s per call, 64 MiB of output per
    /// call, 256 MiB of plugins.
    fn default() -> Self {
        Quotas {
            pipelines: 10,
            plugin_instances: 20,
            memory_per_instance: 64 << 20,
            cpu_per_call_ms: 1000,
            output_per_call: 64 << 20,
            plugin_bytes: 256 << 20,
        }
    }
}

impl Quotas {
    /// Refuses a quota of zero: a tenant that may run nothing, or whose plugins
    /// get no memory or time, could only fail later and less clearly.
    pub fn check(&self) -> Result<(), ApiError> {
        let quotas = [
            ("pipelines", self.pipelines),
            ("plugin_instances", self.plugin_instances),
            ("memory_per_instance", self.memory_per_instance),
            ("cpu_per_call_ms", self.cpu_per_call_ms),
            ("output_per_call", self.output_per_call),
            ("plugin_bytes", self.plugin_bytes),
        ];
        match quotas.iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(ApiError::invalid(format!(
                "quotas.{name} is 0; every quota must be at least 1"
            ))),
            None => Ok(()),
        }
    }

    /// Fits `limits` (a plugin's, from a spec) under the quotas: limits left at
    /// their defaults are lowered to the quota, explicit ones above it are refused.
    pub fn fit(&self, limits: &mut Limits, step: &str) -> Result<(), ApiError> {
        let defaults = Limits::default();
        fit_one(
            step,
            "memory",
            (
                &mut limits.memory,
                defaults.memory,
                self.memory_per_instance,
            ),
            |bytes| format!("{bytes} bytes per instance"),
        )?;
        fit_one(
            step,
            "cpu_per_call",
            (
                &mut limits.cpu_per_call,
                defaults.cpu_per_call,
                Duration::from_millis(self.cpu_per_call_ms),
            ),
            |cpu| format!("{cpu:?} per call"),
        )?;
        fit_one(
            step,
            "output",
            (&mut limits.output, defaults.output, self.output_per_call),
            |bytes| format!("{bytes} bytes per call"),
        )
    }
}

/// Fits one limit, given as (its value, its default, the quota), under its quota.
fn fit_one<T: PartialOrd + Copy + std::fmt::Debug>(
    step: &str,
    name: &str,
    (limit, default, quota): (&mut T, T, T),
    show: impl Fn(T) -> String,
) -> Result<(), ApiError> {
    if *limit <= quota {
        return Ok(());
    }
    if *limit != default {
        return Err(ApiError::quota(format!(
            "{step}: limits.{name} {:?} is above the tenant's quota of {}",
            *limit,
            show(quota)
        )));
    }
    *limit = quota;
    Ok(())
}

/// A tenant as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tenant {
    /// Its name.
    pub name: String,
    /// sha256 of its token, hex.
    pub token_sha256: String,
    /// Its quotas.
    pub quotas: Quotas,
    /// When it was created (ms since the epoch).
    pub created: i64,
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The holder of the admin token.
    Admin,
    /// A tenant, by name.
    Tenant(String),
}

/// Every tenant, kept in `tenants.json` under the data directory.
pub struct Tenants {
    file: PathBuf,
    admin_sha256: String,
    tenants: BTreeMap<String, Tenant>,
}

impl Tenants {
    /// Loads the tenants of `data_dir`; `admin_token` is the admin's token.
    pub fn open(data_dir: &Path, admin_token: &str) -> anyhow::Result<Tenants> {
        let file = data_dir.join("tenants.json");
        let tenants: Vec<Tenant> = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|err| anyhow::anyhow!("{} is damaged: {err}", file.display()))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(anyhow::anyhow!("cannot read {}: {err}", file.display())),
        };
        Ok(Tenants {
            file,
            admin_sha256: sha256_hex(admin_token.as_bytes()),
            tenants: tenants.into_iter().map(|t| (t.name.clone(), t)).collect(),
        })
    }

    /// Who holds `token`, if anyone.
    pub fn caller(&self, token: &str) -> Option<Caller> {
        let hash = sha256_hex(token.as_bytes());
        if hash == self.admin_sha256 {
            return Some(Caller::Admin);
        }
        self.tenants
            .values()
            .find(|tenant| tenant.token_sha256 == hash)
            .map(|tenant| Caller::Tenant(tenant.name.clone()))
    }

    /// Creates a tenant; returns it and its token.
    pub fn create(&mut self, name: &str, quotas: Quotas) -> Result<(Tenant, String), ApiError> {
        super::check_name("tenant", name)?;
        quotas.check()?;
        if self.tenants.contains_key(name) {
            return Err(ApiError::conflict(format!("tenant {name} already exists")));
        }
        let token = new_token()?;
        let tenant = Tenant {
            name: name.to_owned(),
            token_sha256: sha256_hex(token.as_bytes()),
            quotas,
            created: millrace_model::time::wall_clock_now(),
        };
        self.tenants.insert(name.to_owned(), tenant.clone());
        self.save()?;
        Ok((tenant, token))
    }

    /// The tenant called `name`.
    pub fn get(&self, name: &str) -> Option<&Tenant> {
        self.tenants.get(name)
    }

    /// Every tenant.
    pub fn list(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.values()
    }

    fn save(&self) -> Result<(), ApiError> {
        let tenants: Vec<&Tenant> = self.tenants.values().collect();
        write_json_atomically(&self.file, &tenants).map_err(ApiError::internal)
    }
}

/// A fresh random token: 32 bytes from the operating system, hex.
pub fn new_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|err| ApiError::internal(format!("no randomness for a token: {err}")))?;
    Ok(hex(&bytes))
}

/// sha256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_identify_their_holder_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut tenants = Tenants::open(dir.path(), "admin-secret").unwrap();
        let (_, token) = tenants.create("acme", Quotas::default()).unwrap();
        assert!(tenants.create("acme", Quotas::default()).is_err());
        assert!(tenants.create("Bad Name", Quotas::default()).is_err());
        let idle = Quotas {
            cpu_per_call_ms: 0,
            ..Quotas::default()
        };
        let refused = tenants.create("idle", idle).unwrap_err();
        assert_eq!(refused.kind, crate::ErrorKind::Invalid);
        assert!(
            refused.message.contains("quotas.cpu_per_call_ms"),
            "{refused}"
        );
        let reopened = Tenants::open(dir.path(), "admin-secret").unwrap();
        assert_eq!(reopened.caller(&token), Some(Caller::Tenant("acme".into())));
        assert_eq!(reopened.caller("admin-secret"), Some(Caller::Admin));
        assert_eq!(reopened.caller("guess"), None);
        let stored = std::fs::read_to_string(dir.path().join("tenants.json")).unwrap();
        assert!(!stored.contains(&token), "only the token's hash is stored");
    }

    #[test]
    fn default_limits_are_lowered_to_the_quota_and_explicit_ones_refused() {
        let quotas = Quotas {
            memory_per_instance: 16 << 20,
            cpu_per_call_ms: 100,
            output_per_call: 1 << 20,
            ..Quotas::default()
        };
        let mut limits = Limits::default();
        quotas.fit(&mut limits, "steps[0].pardo").unwrap();
        assert_eq!(limits.memory, 16 << 20);
        assert_eq!(limits.cpu_per_call, Duration::from_millis(100));
        assert_eq!(limits.output, 1 << 20);
        let mut modest = Limits {
            cpu_per_call: Duration::from_millis(50),
            ..Limits::default()
        };
        quotas.fit(&mut modest, "steps[0].pardo").unwrap();
        assert_eq!(modest.cpu_per_call, Duration::from_millis(50), "kept");
        let mut greedy = Limits {
            memory: 32 << 20,
            ..Limits::default()
        };
        let err = quotas.fit(&mut greedy, "steps[0].pardo").unwrap_err();
        assert!(err.message.contains("limits.memory"), "{}", err.message);
    }
}
