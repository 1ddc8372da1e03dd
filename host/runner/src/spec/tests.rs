use super::*;

fn spec(text: &str) -> Result<PipelineSpec> {
    parse(Path::new("dir/pipeline.yaml"), text)
}

fn error(text: &str) -> SpecError {
    spec(text).expect_err("the spec should be refused")
}

const HEAD: &str = "source: { test_stream: input.jsonl }\nsink: { stdout: {} }\n";

fn with_window(window: &str) -> String {
    format!("{HEAD}steps:\n  - window:\n{window}\n  - combine: sum\n")
}

#[test]
fn reads_the_design_example() {
    let text = "name: team-scores
source: { test_stream: figure14.jsonl }
steps:
  - window:
      sessions: { gap: 1m }
      trigger:
        after_watermark:
          early: { repeatedly: { after_processing_time: { align: 1m } } }
          late: { repeatedly: { after_count: 1 } }
      accumulation: retracting
      allowed_lateness: 1d
  - combine: sum
sink: { file: out.jsonl }
";
    let spec = spec(text).unwrap();
    assert_eq!(spec.name, "team-scores");
    assert_eq!(
        spec.sources[0].spec,
        SourceSpec::TestStream {
            path: PathBuf::from("dir/figure14.jsonl")
        }
    );
    assert_eq!(
        spec.sinks[0].spec,
        SinkSpec::File(PathBuf::from("dir/out.jsonl"))
    );
    let StepSpec::Window { path, strategy, .. } = &spec.steps[0].spec else {
        panic!("expected a window step")
    };
    assert_eq!(path, "steps[0].window");
    assert_eq!(strategy.window_fn, WindowFn::Sessions { gap: 60_000 });
    assert_eq!(strategy.accumulation, AccumulationMode::Retracting);
    assert_eq!(strategy.allowed_lateness, 86_400_000);
    assert_eq!(
        strategy.trigger,
        Trigger::AfterWatermark {
            early: Some(Box::new(Trigger::Repeatedly(Box::new(
                Trigger::AfterProcessingTime {
                    delay: 0,
                    align: Some(Alignment {
                        period: 60_000,
                        offset: 0
                    })
                }
            )))),
            late: Some(Box::new(Trigger::Repeatedly(Box::new(
                Trigger::AfterCount(1)
            )))),
        }
    );
    assert_eq!(
        spec.steps[1].spec,
        StepSpec::Combine {
            path: "steps[1].combine".into(),
            combine: CombineSpec::Builtin(Builtin::Sum)
        }
    );
}

#[test]
fn json_is_accepted() {
    let text = r#"{"source": {"test_stream": "in.jsonl"},
 "steps": [{"window": {"fixed": {"size": "2m"}, "trigger": {"after_count": 2}}}, {"combine": "count"}],
 "sink": {"stdout": {}}}"#;
    let spec = parse(Path::new("p.json"), text).unwrap();
    assert_eq!(spec.name, "p");
    assert_eq!(spec.steps.len(), 2);
}

#[test]
fn every_trigger_form_parses() {
    let forms = [
        ("default", Trigger::Default),
        ("never", Trigger::Never),
        (
            "after_watermark",
            Trigger::AfterWatermark {
                early: None,
                late: None,
            },
        ),
        ("{after_count: 3}", Trigger::AfterCount(3)),
        (
            "{after_processing_time: {delay: 30s}}",
            Trigger::AfterProcessingTime {
                delay: 30_000,
                align: None,
            },
        ),
        (
            "{after_processing_time: {align: 1m, offset: 15s}}",
            Trigger::AfterProcessingTime {
                delay: 0,
                align: Some(Alignment {
                    period: 60_000,
                    offset: 15_000,
                }),
            },
        ),
        (
            "{repeatedly: {after_count: 1}}",
            Trigger::Repeatedly(Box::new(Trigger::AfterCount(1))),
        ),
        (
            "{after_each: [{after_count: 1}, never]}",
            Trigger::AfterEach(vec![Trigger::AfterCount(1), Trigger::Never]),
        ),
        (
            "{after_any: [{after_count: 1}, after_watermark]}",
            Trigger::AfterAny(vec![
                Trigger::AfterCount(1),
                Trigger::AfterWatermark {
                    early: None,
                    late: None,
                },
            ]),
        ),
        (
            "{after_all: [{after_count: 1}]}",
            Trigger::AfterAll(vec![Trigger::AfterCount(1)]),
        ),
        (
            "{or_finally: {trigger: {repeatedly: {after_count: 1}}, until: {after_count: 5}}}",
            Trigger::OrFinally {
                trigger: Box::new(Trigger::Repeatedly(Box::new(Trigger::AfterCount(1)))),
                until: Box::new(Trigger::AfterCount(5)),
            },
        ),
        (
            "{after_watermark: {late: {after_count: 1}}}",
            Trigger::AfterWatermark {
                early: None,
                late: Some(Box::new(Trigger::AfterCount(1))),
            },
        ),
    ];
    for (text, expected) in forms {
        let spec = spec(&with_window(&format!(
            "      global: {{}}\n      trigger: {text}"
        )))
        .unwrap_or_else(|err| panic!("{text}: {err}"));
        let StepSpec::Window { strategy, .. } = &spec.steps[0].spec else {
            panic!("expected a window step")
        };
        assert_eq!(strategy.trigger, expected, "{text}");
    }
}

#[test]
fn window_functions_and_defaults() {
    let spec = spec(&with_window(
        "      sliding: { size: 1h, period: 10m, offset: 5m }",
    ))
    .unwrap();
    let StepSpec::Window { strategy, .. } = &spec.steps[0].spec else {
        panic!()
    };
    assert_eq!(
        strategy.window_fn,
        WindowFn::Sliding {
            size: 3_600_000,
            period: 600_000,
            offset: 300_000
        }
    );
    assert_eq!(strategy.trigger, Trigger::Default);
    assert_eq!(strategy.accumulation, AccumulationMode::Discarding);
    assert_eq!(strategy.allowed_lateness, 0);
    assert_eq!(strategy.timestamp_combiner, TimestampCombiner::EndOfWindow);
}

#[test]
fn errors_name_the_path_what_was_expected_and_the_position() {
    let err = error(&with_window(
        "      fixed: { size: 2m }\n      trigger: { after_count: -3 }",
    ));
    assert_eq!(err.path, "steps[0].window.trigger.after_count");
    assert_eq!(
        err.message,
        "expected a whole number of at least 1, found -3"
    );
    assert_eq!(err.mark.map(|m| m.line), Some(6));
    assert_eq!(
        err.to_string(),
        format!(
            "dir/pipeline.yaml: steps[0].window.trigger.after_count: expected a whole number of at least 1, found -3 (line 6, column {})",
            err.mark.unwrap().column
        )
    );
}

#[test]
fn unknown_keys_get_suggestions() {
    let err = error(&with_window(
        "      fixed: { size: 2m }\n      triger: default",
    ));
    assert_eq!(err.path, "steps[0].window");
    assert_eq!(
        err.message,
        "unknown key \"triger\"; did you mean \"trigger\"?"
    );
    let err = error(&with_window(
        "      fixed: { size: 2m }\n      trigger: {after_cuont: 2}",
    ));
    assert_eq!(
        err.message,
        "unknown trigger \"after_cuont\"; did you mean \"after_count\"?"
    );
    let err = error(&format!("{HEAD}steps:\n  - combine: summ\n"));
    assert_eq!(
        err.message,
        "unknown combine function \"summ\"; did you mean \"sum\"?"
    );
}

#[test]
fn bad_values_are_refused() {
    let cases = [
        ("      fixed: { size: 0 }", "steps[0].window.fixed.size"),
        ("      fixed: { size: soon }", "steps[0].window.fixed.size"),
        ("      fixed: {}", "steps[0].window.fixed"),
        (
            "      sliding: { size: 1m, period: 2m }",
            "steps[0].window.sliding.period",
        ),
        (
            "      sessions: { gap: -1 }",
            "steps[0].window.sessions.gap",
        ),
        (
            "      global: {}\n      accumulation: sometimes",
            "steps[0].window.accumulation",
        ),
        (
            "      global: {}\n      timestamp_combiner: middle",
            "steps[0].window.timestamp_combiner",
        ),
        (
            "      global: {}\n      fixed: { size: 1m }",
            "steps[0].window",
        ),
        ("      trigger: default", "steps[0].window"),
        (
            "      global: {}\n      trigger: {after_any: []}",
            "steps[0].window.trigger.after_any",
        ),
        (
            "      global: {}\n      trigger: {after_processing_time: {offset: 1s}}",
            "steps[0].window.trigger.after_processing_time.offset",
        ),
        (
            "      global: {}\n      trigger: after_count",
            "steps[0].window.trigger.after_count",
        ),
        (
            "      global: {}\n      trigger: {never: 3}",
            "steps[0].window.trigger.never",
        ),
        (
            "      global: {}\n      trigger: {or_finally: {trigger: never}}",
            "steps[0].window.trigger.or_finally",
        ),
    ];
    for (window, path) in cases {
        let err = error(&with_window(window));
        assert_eq!(err.path, path, "{window}: {err}");
    }
}

#[test]
fn missing_sections_and_syntax_errors() {
    let err = error("source: { test_stream: x }\n");
    assert_eq!(err.message, "missing \"sink\"");
    let err = error("source: [\n");
    assert!(err.message.starts_with("not valid YAML or JSON"), "{err}");
    let err = error("source: { pulsar: x }\nsink: { stdout: {} }\n");
    assert_eq!(err.path, "source");
    let err = error(&format!("{HEAD}steps: {{ combine: sum }}\n"));
    assert_eq!(err.path, "steps");
}

#[test]
fn file_and_generator_sources() {
    let text = "source:
  file:
    path: events.jsonl
    timestamp: meta.ts
    timestamp_format: rfc3339
    key: user
    value: score
    watermark: { max_out_of_orderness: 30s }
    bundle_size: 1
sink: { file: { path: out.jsonl } }
dead_letter: { file: dead.jsonl }
checkpoint: { interval: 10s, records: 5000, keep: 3 }
";
    let spec = spec(text).unwrap();
    assert_eq!(
        spec.sources[0].spec,
        SourceSpec::File(JsonLinesSpec {
            path: Some(PathBuf::from("dir/events.jsonl")),
            timestamp: FieldPath::parse("meta.ts").unwrap(),
            timestamp_format: TimestampFormat::Rfc3339,
            key: FieldPath::parse("user").ok(),
            value: FieldPath::parse("score").ok(),
            max_out_of_orderness: 30_000,
            bundle_size: 1,
        })
    );
    assert_eq!(
        spec.dead_letter,
        Some(DeadLetterSpec::File(PathBuf::from("dir/dead.jsonl")))
    );
    assert_eq!(
        spec.checkpoint,
        Some(CheckpointSpec {
            interval: 10_000,
            records: Some(5000),
            keep: 3,
            store: None,
        })
    );
    let err = error(&format!("{HEAD}checkpoint: {{ records: 0 }}\n"));
    assert_eq!(err.path, "checkpoint.records");
    let generated = super::parse(
        Path::new("g.yaml"),
        "source: { generator: { elements: 10, keys: 2, rate: 5, seed: 9 } }\nsink: { stdout: {} }\n",
    )
    .unwrap();
    let SourceSpec::Generator(generator) = generated.sources[0].spec.clone() else {
        panic!()
    };
    assert_eq!(
        (
            generator.elements,
            generator.keys,
            generator.rate,
            generator.seed
        ),
        (Some(10), 2, 5, 9)
    );
}

#[test]
fn plugin_references_with_config_limits_and_grants() {
    let text = format!(
        "{HEAD}steps:
  - combine:
      plugin: plugins/sum
      config: {{ field: score, weights: [1, 2.5], nested: {{ on: true }} }}
      limits: {{ memory: 32MiB, cpu_per_call: 250ms, output: 1MiB, faults: 3 }}
      grants: {{ clock: true }}
"
    );
    let spec = spec(&text).unwrap();
    let StepSpec::Combine {
        combine: CombineSpec::Plugin(plugin),
        ..
    } = &spec.steps[0].spec
    else {
        panic!("expected a plugin combine")
    };
    assert_eq!(plugin.path, PathBuf::from("dir/plugins/sum"));
    assert_eq!(
        plugin.config,
        serde_json::json!({"field": "score", "weights": [1, 2.5], "nested": {"on": true}})
    );
    assert_eq!(plugin.limits.memory, 32 << 20);
    assert_eq!(
        plugin.limits.cpu_per_call,
        std::time::Duration::from_millis(250)
    );
    assert_eq!(plugin.limits.output, 1 << 20);
    assert_eq!(plugin.limits.max_faults, 3);
    assert!(plugin.grants.clock && !plugin.grants.network);
    let err = error(&format!(
        "{HEAD}steps:\n  - combine: {{ plugin: p, limits: {{ memory: lots }} }}\n"
    ));
    assert_eq!(err.path, "steps[0].combine.limits.memory");
    let err = error(&format!("{HEAD}steps:\n  - combine: {{ plugn: p }}\n"));
    assert_eq!(
        err.message,
        "unknown key \"plugn\"; did you mean \"plugin\"?"
    );
}

#[test]
fn sizes() {
    assert_eq!(parse_size("64MiB"), Some(64 << 20));
    assert_eq!(parse_size("10MB"), Some(10_000_000));
    assert_eq!(parse_size("4096"), Some(4096));
    assert_eq!(parse_size("0"), None);
    assert_eq!(parse_size("lots"), None);
}

#[test]
fn field_paths_reach_nested_values() {
    let value = serde_json::json!({"meta": {"ts": 5}});
    assert_eq!(
        FieldPath::parse("meta.ts").unwrap().get(&value),
        Some(&serde_json::json!(5))
    );
    assert_eq!(FieldPath::parse("meta.missing").unwrap().get(&value), None);
}

#[test]
fn relative_paths_are_cleaned() {
    assert_eq!(
        normalize(Path::new("examples/game/../../plugins/./sum")),
        Path::new("plugins/sum")
    );
    assert_eq!(normalize(Path::new("../a/..")), Path::new(".."));
    assert_eq!(normalize(Path::new("/x/../y")), Path::new("/y"));
    assert_eq!(normalize(Path::new("a/..")), Path::new("."));
}

#[test]
fn sliding_windows_past_the_windows_per_element_bound_are_refused() {
    let err = error(&with_window(
        "      sliding: { size: 100000d, period: 1ms }",
    ));
    assert_eq!(err.path, "steps[0].window.sliding");
    assert_eq!(
        err.message,
        "size 100000d over period 1ms makes 8640000000000 windows per element; at most 1000 \
         (max_windows_per_element, which can be raised to 100000)"
    );
    let text = with_window("      sliding: { size: 1d, period: 1m }");
    assert!(error(&text).message.contains("1440 windows per element"));
    let raised =
        with_window("      sliding: { size: 1d, period: 1m }\n      max_windows_per_element: 1440");
    let StepSpec::Window {
        max_windows_per_element,
        ..
    } = &spec(&raised).unwrap().steps[0].spec
    else {
        panic!("a window step")
    };
    assert_eq!(*max_windows_per_element, 1440);
    let too_many = with_window("      global: {}\n      max_windows_per_element: 100001");
    assert_eq!(
        error(&too_many).path,
        "steps[0].window.max_windows_per_element"
    );
}

#[test]
fn durations_and_times_past_the_supported_range_are_refused() {
    for window in [
        "      fixed: { size: 99999999999d }",
        "      fixed: { size: 1d, offset: 9223372036854775807 }",
        "      sessions: { gap: 999999999999d }",
        "      global: {}\n      allowed_lateness: 9223372036854775807",
    ] {
        let err = error(&with_window(window));
        assert!(
            err.message.contains("at most 213503982d"),
            "{window}: {err}"
        );
    }
    let generator =
        "source: { generator: { start: -9223372036854775807 } }\nsink: { stdout: {} }\n";
    let err = error(generator);
    assert_eq!(err.path, "source.generator.start");
    assert!(err.message.contains("outside the supported range"), "{err}");
}

#[test]
fn pipeline_names_are_names_not_paths() {
    for bad in [
        "../../../elsewhere/x",
        "a/b",
        "..",
        ".hidden",
        "Scores",
        "",
        "-x",
    ] {
        let err = error(&format!("name: {bad:?}\n{HEAD}"));
        assert_eq!(err.path, "name", "{bad}");
    }
    assert_eq!(
        spec(&format!("name: team_scores-2\n{HEAD}")).unwrap().name,
        "team_scores-2"
    );
    let err = parse(Path::new("dir/My Pipeline.yaml"), HEAD).unwrap_err();
    assert_eq!(err.path, "name");
    assert!(err.message.contains("give one with `name:`"), "{err}");
}

#[test]
fn spec_files_are_read_up_to_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.yaml");
    std::fs::write(&file, format!("{HEAD}# {}\n", "x".repeat(2 << 20))).unwrap();
    let err = load(&file).unwrap_err();
    assert!(
        err.message
            .contains("larger than the limit of 1048576 bytes"),
        "{err}"
    );
    let err = load(Path::new("/dev/zero")).unwrap_err();
    assert!(err.message.contains("larger than the limit"), "{err}");
}

#[test]
fn settings_that_size_buffers_are_bounded() {
    let source = |body: &str| format!("source: {body}\nsink: {{ stdout: {{}} }}\n");
    for (text, path) in [
        (
            source("{ stdin: { bundle_size: 1000000000000 } }"),
            "source.stdin.bundle_size",
        ),
        (
            source("{ generator: { bundle_size: 100001 } }"),
            "source.generator.bundle_size",
        ),
        (
            source("{ generator: { keys: 1000000000000 } }"),
            "source.generator.keys",
        ),
        (
            format!("{HEAD}checkpoint: {{ keep: 1000000 }}\n"),
            "checkpoint.keep",
        ),
    ] {
        let err = error(&text);
        assert_eq!(err.path, path);
        assert!(
            err.message.starts_with("expected a whole number from 1 to"),
            "{err}"
        );
    }
    assert!(spec(&source("{ stdin: { bundle_size: 100000 } }")).is_ok());
}

const GRAPH: &str = "name: joined
sources:
  persons: { test_stream: persons.jsonl }
  auctions: { test_stream: auctions.jsonl, idle_timeout: 5s }
steps:
  - name: join
    inputs: [persons_w, auctions_w]
    cogroup: {}
  - name: persons_w
    input: persons
    window: { fixed: { size: 10s } }
  - name: auctions_w
    input: auctions
    window: { fixed: { size: 10s } }
  - name: counted
    input: auctions_w
    combine: count
sinks:
  joined: { input: join, file: joined.jsonl }
  counts: { input: counted, stdout: {} }
";

#[test]
fn a_graph_spec_names_sources_steps_and_sinks_and_is_ordered_by_what_reads_what() {
    let spec = spec(GRAPH).unwrap();
    let names: Vec<&str> = spec.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["persons", "auctions"]);
    assert_eq!(spec.sources[1].idle_timeout, Some(5_000));
    assert_eq!(spec.sources[1].path, "sources.auctions");
    // The cogroup comes after the windows it reads, whatever the spec's order.
    let order: Vec<&str> = spec.steps.iter().map(|s| s.spec.path()).collect();
    assert_eq!(
        order,
        [
            "steps[1].window",
            "steps[2].window",
            "steps[0].cogroup",
            "steps[3].combine"
        ]
    );
    assert_eq!(spec.steps[0].inputs, [Input::Source(0)]);
    assert_eq!(spec.steps[2].inputs, [Input::Step(0), Input::Step(1)]);
    let tags: Vec<String> = spec.steps[2]
        .inputs
        .iter()
        .map(|&input| spec.input_name(input))
        .collect();
    assert_eq!(tags, ["persons_w", "auctions_w"]);
    assert_eq!(spec.steps[2].windowing, Some(0));
    assert_eq!(spec.steps[3].windowing, Some(1));
    assert_eq!(spec.sinks[0].input, Input::Step(2));
    assert_eq!(spec.sinks[1].input, Input::Step(3));
    assert_eq!(
        spec.sinks[0].spec,
        SinkSpec::File(PathBuf::from("dir/joined.jsonl"))
    );
}

#[test]
fn a_chain_is_a_graph_whose_steps_read_the_one_before() {
    let spec = spec(&with_window("      fixed: { size: 1m }")).unwrap();
    assert_eq!(spec.sources[0].name, "source");
    assert_eq!(spec.steps[0].inputs, [Input::Source(0)]);
    assert_eq!(spec.steps[1].inputs, [Input::Step(0)]);
    assert_eq!(spec.sinks[0].name, "sink");
    assert_eq!(spec.sinks[0].input, Input::Step(1));
}

#[test]
fn graph_errors_name_the_path_and_what_is_wrong() {
    let cases: [(&str, &str, &str, &str); 9] = [
        (
            "inputs: [persons_w, auctions_w]",
            "inputs: [person_w, auctions_w]",
            "steps[0].inputs[0]",
            "no source or step is named \"person_w\"; did you mean \"persons_w\"?",
        ),
        (
            "    input: persons\n    window",
            "    input: join\n    window",
            "steps[0]",
            "the steps read each other in a cycle: steps[0] (join) → steps[1] (persons_w) → steps[0] (join)",
        ),
        (
            "    inputs: [persons_w, auctions_w]\n    cogroup",
            "    inputs: [persons_w]\n    cogroup",
            "steps[0].inputs",
            "a cogroup groups two or more inputs: give `inputs: [a, b]`",
        ),
        (
            "    input: auctions_w\n    combine",
            "    inputs: [auctions_w, persons_w]\n    combine",
            "steps[3].inputs",
            "a combine step reads one input; flatten several into one first",
        ),
        (
            "    input: auctions\n    window: { fixed: { size: 10s } }",
            "    input: auctions\n    window: { fixed: { size: 20s } }",
            "steps[0].inputs[1]",
            "auctions_w has the windowing of steps[2].window, but persons_w has the windowing of steps[1].window: the inputs of a cogroup must be windowed alike",
        ),
        (
            "  counts: { input: counted, stdout: {} }\n",
            "",
            "steps[3].combine",
            "no step or sink reads the output of steps[3].combine (counted): send it to a sink or remove it",
        ),
        (
            "  - name: counted\n    input: auctions_w\n    combine: count\n",
            "  - name: counted\n    input: auctions_w\n    combine: count\n  - name: join\n    input: counted\n    combine: sum\n",
            "steps[4].name",
            "\"join\" already names a source or an earlier step",
        ),
        (
            "  - name: join",
            "  - name: Join",
            "steps[0].name",
            "\"Join\" is not a name",
        ),
        (
            "name: joined\n",
            "name: joined\nsource: { test_stream: x.jsonl }\n",
            "sources",
            "give either `source` (one source) or `sources` (named ones), not both",
        ),
    ];
    for (from, to, path, message) in cases {
        assert!(GRAPH.contains(from), "{from}");
        let err = error(&GRAPH.replacen(from, to, 1));
        assert_eq!(err.path, path, "{err}");
        assert!(err.message.starts_with(message), "{err}");
    }
    let unread = error(&GRAPH.replace(
        "  persons: { test_stream: persons.jsonl }\n",
        "  persons: { test_stream: persons.jsonl }\n  spare: { test_stream: spare.jsonl }\n",
    ));
    assert_eq!(unread.path, "sources.spare");
    assert_eq!(unread.message, "no step or sink reads the source \"spare\"");
    let no_input = error(&GRAPH.replacen("    inputs: [persons_w, auctions_w]\n", "", 1));
    assert_eq!(no_input.path, "steps[0]");
    assert!(
        no_input.message.starts_with(
            "the first step needs `input`: the pipeline has 2 sources (persons, auctions)"
        ),
        "{no_input}"
    );
}

#[test]
fn reads_kafka_sources_and_sinks() {
    let spec = spec(
        "name: sums
source:
  kafka:
    brokers: 127.0.0.1:9092
    topics: [events, more-events]
    until: end
    key: user
    timestamp: meta.ts
    watermark: { max_out_of_orderness: 5s, idle_partition: 30s }
    options: { session.timeout.ms: 6000, fetch.wait.max.ms: \"50\", check.crcs: true }
sinks:
  out:
    kafka: { brokers: 127.0.0.1:9092, topic: sums, key: value.user }
  loose:
    kafka: { brokers: 127.0.0.1:9092, topic: sums.loose, delivery: at_least_once, key: null }
",
    )
    .unwrap();
    let SourceSpec::Kafka(source) = &spec.sources[0].spec else {
        panic!("a Kafka source");
    };
    assert_eq!(
        source.topics,
        Topics::Named(vec!["events".into(), "more-events".into()])
    );
    assert_eq!(source.group, None);
    assert_eq!(source.start, StartAt::Earliest);
    assert!(source.until_end);
    assert_eq!(source.key, Some(FieldPath::field("user")));
    assert_eq!(source.timestamp, Some(FieldPath::parse("meta.ts").unwrap()));
    assert_eq!(source.max_out_of_orderness, 5_000);
    assert_eq!(source.idle_partition, Some(30_000));
    assert_eq!(
        source.options,
        [
            ("session.timeout.ms".to_owned(), "6000".to_owned()),
            ("fetch.wait.max.ms".to_owned(), "50".to_owned()),
            ("check.crcs".to_owned(), "true".to_owned()),
        ]
    );
    let SinkSpec::Kafka(out) = &spec.sinks[0].spec else {
        panic!("a Kafka sink");
    };
    assert_eq!(out.delivery, Delivery::ExactlyOnce);
    assert_eq!(out.key, Some(FieldPath::parse("value.user").unwrap()));
    let SinkSpec::Kafka(loose) = &spec.sinks[1].spec else {
        panic!("a Kafka sink");
    };
    assert_eq!(loose.delivery, Delivery::AtLeastOnce);
    assert_eq!(loose.key, None);
    let pattern = spec_source("kafka: { brokers: b:9092, pattern: \"events-.*\" }");
    assert_eq!(pattern.topics, Topics::Pattern("^events-.*".into()));
}

#[test]
fn a_checkpoint_store_is_a_url_or_a_path_relative_to_the_spec() {
    let stored = |store: &str| {
        spec(&format!("{HEAD}checkpoint: {{ store: \"{store}\" }}\n"))
            .map(|spec| spec.checkpoint.and_then(|checkpoint| checkpoint.store))
    };
    assert_eq!(
        stored("s3://bucket/jobs").unwrap().as_deref(),
        Some("s3://bucket/jobs")
    );
    assert_eq!(
        stored("file:///mnt/shared").unwrap().as_deref(),
        Some("file:///mnt/shared")
    );
    let relative = stored("shared/checkpoints").unwrap().unwrap();
    assert!(
        relative.starts_with("file:///") && relative.ends_with("/dir/shared/checkpoints"),
        "{relative}"
    );
    let err = stored("ftp://host/x").unwrap_err();
    assert_eq!(err.path, "checkpoint.store");
    assert!(err.to_string().contains("s3://bucket/"), "{err}");
}

#[test]
fn parallelism_by_partitions_needs_kafka_sources_of_one_group() {
    let kafka = |group: &str| format!("kafka: {{ brokers: b:9092, topic: t, group: {group} }}");
    let two = |first: String, second: String| {
        format!(
            "parallelism: partitions\nsources:\n  a: {{ {first} }}\n  b: {{ {second} }}\nsteps:\n  - inputs: [a, b]\n    flatten: {{}}\nsink: stdout\n"
        )
    };
    let accepted = spec(&format!(
        "parallelism: partitions\nsource: {{ {} }}\nsink: stdout\n",
        kafka("g")
    ))
    .unwrap();
    assert_eq!(accepted.parallelism, Parallelism::Partitions);
    assert_eq!(spec(HEAD).unwrap().parallelism, Parallelism::Single);
    for (text, message) in [
        (format!("{HEAD}parallelism: many\n"), "single or partitions"),
        (
            format!("parallelism: partitions\n{HEAD}"),
            "source is not a Kafka source",
        ),
        (
            two(kafka("g"), kafka("h")),
            "same brokers and group (sources.b does not)",
        ),
        (
            "parallelism: partitions\nsource: { kafka: { brokers: b, pattern: \"t-.*\" } }\nsink: stdout\n".to_owned(),
            "name its topics",
        ),
    ] {
        let err = error(&text);
        assert_eq!(err.path, "parallelism", "{text}: {err}");
        assert!(err.to_string().contains(message), "{text}: {err}");
    }
}

fn spec_source(source: &str) -> KafkaSourceSpec {
    let spec = spec(&format!("source: {{ {source} }}\nsink: stdout\n")).unwrap();
    let SourceSpec::Kafka(kafka) = spec.sources[0].spec.clone() else {
        panic!("a Kafka source");
    };
    *kafka
}

#[test]
fn kafka_errors_name_the_key_and_what_was_expected() {
    for (source, path, message) in [
        ("kafka: { topic: t }", "source.kafka", "missing \"brokers\""),
        (
            "kafka: { brokers: b }",
            "source.kafka",
            "give `topic`, `topics` or `pattern`",
        ),
        (
            "kafka: { brokers: b, topic: t, topics: [u] }",
            "source.kafka",
            "not topic and topics",
        ),
        (
            "kafka: { brokers: b, topic: \"a b\" }",
            "source.kafka.topic",
            "Kafka topic name",
        ),
        (
            "kafka: { brokers: b, topics: [] }",
            "source.kafka.topics",
            "at least one topic",
        ),
        (
            "kafka: { brokers: b, topic: t, start: first }",
            "source.kafka.start",
            "earliest or latest",
        ),
        (
            "kafka: { brokers: b, topic: t, until: later }",
            "source.kafka.until",
            "end or never",
        ),
        (
            "kafka: { brokers: b, topic: t, options: { group.id: g } }",
            "source.kafka.options.group.id",
            "millrace sets group.id itself",
        ),
        (
            "kafka: { brokers: b, topic: t, options: { linger.ms: [1] } }",
            "source.kafka.options.linger.ms",
            "text, a number or true/false",
        ),
        (
            "kafka: { brokers: b, topic: t, colour: red }",
            "source.kafka",
            "colour",
        ),
    ] {
        let err = error(&format!("source: {{ {source} }}\nsink: stdout\n"));
        assert_eq!(err.path, path, "{source}: {err}");
        assert!(err.to_string().contains(message), "{source}: {err}");
    }
    for (sink, path, message) in [
        ("kafka: { brokers: b }", "sink.kafka", "missing \"topic\""),
        (
            "kafka: { brokers: b, topic: t, delivery: twice }",
            "sink.kafka.delivery",
            "exactly_once or at_least_once",
        ),
        (
            "kafka: { brokers: b, topic: t, options: { transactional.id: x } }",
            "sink.kafka.options.transactional.id",
            "millrace sets transactional.id itself",
        ),
        (
            "kafak: { brokers: b, topic: t }",
            "sink",
            "did you mean \"kafka\"",
        ),
        (
            "kafka: { brokers: b, topic: t, key: user }",
            "sink.kafka.key",
            "value.user",
        ),
    ] {
        let err = error(&format!("{HEAD_SOURCE}sink: {{ {sink} }}\n"));
        assert_eq!(err.path, path, "{sink}: {err}");
        assert!(err.to_string().contains(message), "{sink}: {err}");
    }
}

const HEAD_SOURCE: &str = "source: { test_stream: input.jsonl }\n";

#[test]
fn a_re_keyed_grouping_of_tasks_needs_a_repartition_and_divides_into_stages() {
    let pipeline = |parallelism: &str, steps: &str| {
        format!(
            "name: p\nparallelism: {parallelism}\nsource: {{ kafka: {{ brokers: b:9092, topic: t, group: g, until: end }} }}\nsteps:\n{steps}sink: stdout\n"
        )
    };
    let grouped = "  - window: { fixed: { size: 1m } }\n  - combine: sum\n";
    let rekeyed = format!("  - pardo: {{ plugin: p }}\n{grouped}");
    let err = error(&pipeline("partitions", &rekeyed));
    assert_eq!(err.path, "steps[2].combine", "{err}");
    assert!(
        err.message.contains("steps[0].pardo may change the keys"),
        "{err}"
    );
    assert!(err.message.contains("- repartition: {}"), "{err}");
    // A promise that the key stays, or one task for every key, needs none.
    spec(&pipeline(
        "partitions",
        &format!("  - pardo: {{ plugin: p, keeps_key: true }}\n{grouped}"),
    ))
    .unwrap();
    spec(&pipeline("single", &rekeyed)).unwrap();
    let windowed = "  - window: { fixed: { size: 1m } }\n  - repartition: {}\n  - combine: sum\n";
    let err = error(&pipeline("partitions", windowed));
    assert_eq!(err.path, "steps[1].repartition", "{err}");
    assert!(err.message.contains("put the window step after"), "{err}");

    let text = pipeline(
        "partitions",
        &format!("  - pardo: {{ plugin: p }}\n  - repartition: {{}}\n{grouped}"),
    );
    let repartitioned = spec(&text).unwrap();
    assert_eq!(
        repartition_topics(&repartitioned),
        [RepartitionTopic {
            topic: "p-step-1-repartition".to_owned(),
            partitions: None,
            stage: 0
        }]
    );
    let [first, second] = stages(&repartitioned).try_into().expect("two stages");
    assert_eq!(first.sources, repartitioned.sources);
    assert_eq!(first.steps.len(), 1);
    let [writer] = first.sinks.as_slice() else {
        panic!("one sink: {:?}", first.sinks);
    };
    let SinkSpec::Kafka(writer_spec) = &writer.spec else {
        panic!("a Kafka sink: {writer:?}");
    };
    assert_eq!(writer.input, Input::Step(0));
    assert_eq!(writer_spec.topic, "p-step-1-repartition");
    assert_eq!(writer_spec.delivery, Delivery::ExactlyOnce);
    assert!(writer_spec.repartition.is_some());
    let [reader] = second.sources.as_slice() else {
        panic!("one source: {:?}", second.sources);
    };
    let SourceSpec::Kafka(reader_spec) = &reader.spec else {
        panic!("a Kafka source: {reader:?}");
    };
    assert!(reader_spec.repartition && reader_spec.until_end);
    assert_eq!(
        reader_spec.topics,
        Topics::Named(vec!["p-step-1-repartition".to_owned()])
    );
    assert_eq!(reader_spec.group.as_deref(), Some("g-stage-1"));
    assert_eq!(second.steps.len(), 2);
    assert_eq!(second.steps[0].inputs, [Input::Source(0)]);
    assert_eq!(second.steps[1].inputs, [Input::Step(0)]);
    assert_eq!(second.steps[1].windowing, Some(0));
    assert_eq!(second.sinks.len(), 1);
    assert_eq!(second.sinks[0].input, Input::Step(1));

    let named = pipeline(
        "partitions",
        &format!(
            "  - pardo: {{ plugin: p }}\n  - name: by-user\n    repartition: {{ topic: clicks-by-user, partitions: 16 }}\n{grouped}"
        ),
    );
    assert_eq!(
        repartition_topics(&spec(&named).unwrap())[0],
        RepartitionTopic {
            topic: "clicks-by-user".to_owned(),
            partitions: Some(16),
            stage: 0
        }
    );
    let err = error(&named.replace("partitions: 16", "partitions: 0"));
    assert_eq!(err.path, "steps[1].repartition.partitions", "{err}");
}
