package main

import (
	"bytes"
	"strings"
	"testing"

	"millrace.local/millrace"
	"millrace.local/millrace/millracetest"
	"millrace.local/millrace/postcard"
)

func record(id, n int) map[string]any { return map[string]any{"event_id": id, "n": n} }

func TestDropsRepeatsUntilTheTimerForgetsThem(t *testing.T) {
	dedup := millracetest.NewDoFn(t, New, map[string]any{"id": "event_id", "horizon": 10000})
	in := func(key string, v any, ts int64) millracetest.Input {
		return millracetest.Input{Key: key, Value: v, Timestamp: ts}
	}
	out := dedup.Process(in("a", record(1, 1), 1000), in("a", record(1, 2), 2000), in("b", record(1, 3), 3000))
	if got := millracetest.JSON(out.Values()); got != `[{"event_id":1,"n":1},{"event_id":1,"n":3}]` {
		t.Errorf("passed %s", got)
	}
	if dedup.Metrics().Counters["duplicates"] != 1 {
		t.Errorf("counters %v", dedup.Metrics().Counters)
	}
	slot := millracetest.Slot{Key: `"a"`, Window: millrace.GlobalWindow}
	// The Rust plugin's bytes: the first time, a postcard i64.
	if cell := dedup.State()[slot]["seen:1"]; !bytes.Equal(cell, postcard.I64.Append(nil, 1000)) {
		t.Errorf("state %x", cell)
	}
	if timer := dedup.Timers()[slot]["seen:1"]; timer.Time != 11000 || timer.Processing {
		t.Errorf("timer %+v", timer)
	}
	dedup.AdvanceWatermark(20000)
	out = dedup.Process(in("a", record(1, 5), 20000), in("a", record(2, 6), 20001), in("a", record(2, 7), 20002))
	if got := millracetest.JSON(out.Values()); got != `[{"event_id":1,"n":5},{"event_id":2,"n":6}]` {
		t.Errorf("passed %s", got)
	}
}

func TestRepeatsMayGoToASideOutput(t *testing.T) {
	dedup := millracetest.NewDoFn(t, New, map[string]any{"horizon": 10, "repeats": "repeats"})
	out := dedup.Process(millracetest.Value("x"), millracetest.Value("x"), millracetest.Value(map[string]any{}))
	if len(out.Outputs) != 3 || out.Outputs[1].To != "repeats" || out.Outputs[0].To != "" {
		t.Errorf("outputs %+v", out.Outputs)
	}
}

func TestARecordWithoutItsIdIsDeadLettered(t *testing.T) {
	dedup := millracetest.NewDoFn(t, New, map[string]any{"id": "event_id", "horizon": 10})
	out := dedup.Process(millracetest.Value(3), millracetest.Value(record(1, 1)))
	if len(out.Errors) != 1 || out.Errors[0].Index != 0 || out.Errors[0].Message != `missing the id field "event_id"` {
		t.Errorf("errors %v", out.Errors)
	}
}

func TestABadHorizonIsRefused(t *testing.T) {
	for settings, want := range map[string]string{
		`{"horizon": -5}`:   `config "horizon" must be a positive number of milliseconds`,
		`{}`:                `config "horizon" is required`,
		`{"horizon": "1s"}`: `config "horizon": expected an integer, got a string`,
	} {
		config, err := millrace.ParseConfig([]byte(settings))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(config); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", settings, err)
		}
	}
}
