//! The ingest log on a full disk: a real small file system (tmpfs, mounted as
//! root) is the server's data directory; batches are sent until it fills, then
//! room is made and more are sent. Every acknowledged record comes out exactly
//! once, and no record of a refused call does.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::served::{Served, deploy_scores, drain, json_of, pipeline_status, totals_per_key};
use millrace::client::{Body, Client, ClientError};
use serde_json::json;

/// A server on a tmpfs, unmounted when dropped (after the server stops).
struct OnTmpfs {
    served: Option<Served>,
    mount: PathBuf,
}

impl Drop for OnTmpfs {
    fn drop(&mut self) {
        drop(self.served.take());
        let _ = Command::new("umount").arg(&self.mount).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Result<(), String> {
    let output = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|err| err.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Fills the file system of `path` with a file there; returns its size.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![b'x'; 1 << 16];
    let mut written = 0;
    // Bounded: the tmpfs is far smaller than this.
    for _ in 0..1_000_000 {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.sync_all();
    written
}

/// A batch of `count` records whose key is `batch-{id}`.
fn batch(id: usize, count: usize) -> Vec<u8> {
    (0..count)
        .map(|i| {
            format!(
                "{{\"user\": \"batch-{id}\", \"score\": 1, \"ts\": {}, \"pad\": \"{}\"}}\n",
                1_000_000 + id * 10_000 + i,
                "p".repeat(40)
            )
        })
        .collect::<String>()
        .into_bytes()
}

#[test]
fn a_full_disk_loses_no_acknowledged_record_and_keeps_none_of_a_refused_call() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let mut mounted = None;
    let served = Served::start_prepared(&[], |dir| match mount_tmpfs(dir, "256m") {
        Ok(()) => {
            mounted = Some(dir.to_owned());
            true
        }
        Err(err) => {
            eprintln!("skipped: cannot mount a tmpfs: {err}");
            false
        }
    });
    let (Some(served), Some(mount)) = (served, mounted) else {
        return;
    };
    let token = served.tenant("pat", json!({}));
    let guard = OnTmpfs {
        served: Some(served),
        mount: mount.clone(),
    };
    let served = guard.served.as_ref().unwrap();
    let client = served.client(Some(&token));
    deploy_scores(&client);

    let mut sent = Sent::default();
    let mut send = |id: usize| sent.send(&client, id);
    for id in 0..5 {
        assert_eq!(send(id), None, "batch {id} on a disk with room");
    }
    // Fill the disk, then leave about 20 batches' room.
    let ballast = mount.join("ballast");
    fill(&ballast);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&ballast)
        .unwrap();
    let size = file.metadata().unwrap().len();
    file.set_len(size.saturating_sub(2 << 20)).unwrap();
    // Closed, so that removing it later frees its room.
    drop(file);
    let mut full = None;
    for id in 5..200 {
        if let Some(status) = send(id) {
            full = Some(status);
            break;
        }
    }
    let full = full.expect("the disk fills within 200 batches");
    assert!(full >= 500, "a full disk answers 5xx, not {full}");
    // More calls while it is full fail too, and leave nothing behind.
    for id in 200..205 {
        send(id);
    }
    // Room again: the pipeline, if the full disk stopped it, starts again.
    std::fs::remove_file(&ballast).unwrap();
    if pipeline_status(&client, "scores")["outcome"]["state"] != "running" {
        client
            .call("POST", "/v1/pipelines/scores/start", Body::Empty)
            .unwrap();
    }
    for id in 300..305 {
        assert_eq!(send(id), None, "batch {id} once there is room again");
    }
    let Sent {
        acknowledged,
        refused,
    } = sent;
    drain(&client);
    let output = client
        .call("GET", "/v1/pipelines/scores/output", Body::Empty)
        .unwrap();
    let totals = totals_per_key(&common::parse_lines(&String::from_utf8(output).unwrap()));
    assert_eq!(
        totals, acknowledged,
        "every acknowledged batch exactly once, no refused one; refused: {refused:?}"
    );
    let dead = client
        .call("GET", "/v1/pipelines/scores/dead-letters", Body::Empty)
        .unwrap();
    assert!(dead.is_empty(), "{}", String::from_utf8_lossy(&dead));
    let statuses: Vec<u16> = refused.iter().map(|(_, status, _)| *status).collect();
    eprintln!(
        "{} batches acknowledged; refused with {statuses:?}",
        acknowledged.len()
    );
    assert!(
        refused.iter().any(|(_, status, _)| *status == 507),
        "the ingest log itself ran out of room at least once: {refused:?}"
    );
    drop(guard);
}

/// Batches sent: the records of each acknowledged one per key, and each refused
/// one with its status and message.
#[derive(Default)]
struct Sent {
    acknowledged: BTreeMap<String, u64>,
    refused: Vec<(usize, u16, String)>,
}

impl Sent {
    /// Sends batch `id`; returns the status of a refusal.
    fn send(&mut self, client: &Client, id: usize) -> Option<u16> {
        const RECORDS: usize = 1000;
        let answer = client.call(
            "POST",
            "/v1/pipelines/scores/records",
            Body::Bytes(batch(id, RECORDS)),
        );
        match answer {
            Ok(answer) => {
                assert_eq!(json_of(&answer)["accepted"], RECORDS as u64);
                self.acknowledged
                    .insert(format!("\"batch-{id}\""), RECORDS as u64);
                None
            }
            Err(ClientError::Refused { status, message }) => {
                self.refused.push((id, status, message));
                Some(status)
            }
            Err(err) => panic!("{err}"),
        }
    }
}
