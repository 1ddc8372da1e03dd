package main

import (
	"strings"
	"testing"

	"millrace.local/millrace/millracetest"
)

var config = map[string]any{
	"key": "user", "value": "score", "timestamp": "ts", "where": map[string]any{"type": "score"},
}

func TestParsesFiltersAndRekeys(t *testing.T) {
	parse := millracetest.NewBatchDoFn(t, New, config)
	out := parse.Process(
		millracetest.At(`{"type":"score","user":"ann","score":3,"ts":7}`, 5),
		millracetest.At(map[string]any{"type": "login", "user": "ann"}, 5),
		millracetest.At("{oops", 5),
		millracetest.At(map[string]any{"type": "score", "score": 1}, 5),
		millracetest.At(map[string]any{"type": "score", "user": "bo", "score": 2, "ts": 1.5}, 5),
		millracetest.At(`{"type":"score","user":{"id":1},"score":[4]}`, 5),
	)
	if got := millracetest.JSON(out.Values()); got != `[3]` {
		t.Errorf("values %s", got)
	}
	r := out.Outputs[0]
	if millracetest.JSON(r.Key) != `"ann"` || r.Timestamp != 7 || r.Source != 0 {
		t.Errorf("record %+v", r)
	}
	if len(out.Errors) != 4 {
		t.Fatalf("errors %v", out.Errors)
	}
	if e := out.Errors[0]; e.Index != 2 || !strings.HasPrefix(e.Message, "not valid JSON: ") {
		t.Errorf("error %+v", e)
	}
	if e := out.Errors[1]; e.Index != 3 || e.Message != `missing the key field "user"` {
		t.Errorf("error %+v", e)
	}
	if e := out.Errors[2]; e.Index != 4 || e.Message != `missing the integer time field "ts"` {
		t.Errorf("error %+v", e)
	}
	if e := out.Errors[3]; e.Index != 5 || e.Message != `missing the integer time field "ts"` {
		t.Errorf("error %+v", e)
	}
}

func TestWithoutSettingsPassesObjectsOnUnderTheirKey(t *testing.T) {
	parse := millracetest.NewBatchDoFn(t, New, nil)
	out := parse.Process(millracetest.Input{Key: "k", Value: `{"a":1.0}`, Timestamp: 9}, millracetest.Value(4))
	if got := millracetest.JSON(out.Values()); got != `[{"a":1.0}]` {
		t.Errorf("values %s", got)
	}
	if millracetest.JSON(out.Outputs[0].Key) != `"k"` || out.Outputs[0].Timestamp != 9 {
		t.Errorf("record %+v", out.Outputs[0])
	}
	if len(out.Errors) != 1 || out.Errors[0].Message != "expected a JSON object" {
		t.Errorf("errors %v", out.Errors)
	}
}

func TestUnknownSettingsAreRefused(t *testing.T) {
	_, err := New(mustConfig(t, map[string]any{"keys": "user"}))
	if err == nil || !strings.Contains(err.Error(), `unknown setting "keys"`) {
		t.Errorf("err %v", err)
	}
}
