package millrace

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestFloatsAreWrittenAsSerdeJSONWritesThem(t *testing.T) {
	for f, want := range map[float64]string{
		12:                      "12.0",
		12.5:                    "12.5",
		-0.25:                   "-0.25",
		1e16:                    "1e16",
		1234567890123456:        "1234567890123456.0",
		1.5e20:                  "1.5e20",
		1e21:                    "1e21",
		0.0001:                  "0.0001",
		0.00001:                 "0.00001",
		0.000001:                "1e-6",
		1.2345e-7:               "1.2345e-7",
		math.MaxFloat64:         "1.7976931348623157e308",
		5e-324:                  "5e-324",
		math.Copysign(0, -1):    "-0.0",
		0:                       "0.0",
		100:                     "100.0",
		123456789012345680000.0: "1.2345678901234568e20",
	} {
		got, err := AppendJSON(nil, f)
		if err != nil || string(got) != want {
			t.Errorf("%v: got %s (%v), want %s", f, got, err, want)
		}
	}
	a, b := 0.1, 0.2
	if got, _ := AppendJSON(nil, a+b); string(got) != "0.30000000000000004" {
		t.Errorf("got %s", got)
	}
	if _, err := AppendJSON(nil, math.NaN()); err == nil {
		t.Error("NaN is not JSON")
	}
}

func TestValuesRoundTrip(t *testing.T) {
	for _, text := range []string{
		`null`, `true`, `false`, `0`, `-1`, `1.0`, `1e2`, `18446744073709551616`, `"a\"b\\c\nd\u0001é"`,
		`[]`, `{}`, `[1,[2,{"a":null}]]`, `{"b":1,"a":[true,"x"]}`, `"\ud83d\ude00"`,
	} {
		v, err := ParseJSON([]byte(text))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		again, err := AppendJSON(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		json.Unmarshal([]byte(text), &a)
		json.Unmarshal(again, &b)
		if JSONText(a) != JSONText(b) {
			t.Errorf("%s became %s", text, again)
		}
	}
	if got, _ := AppendJSON(nil, map[string]any{"b": 1, "a": "<&>"}); string(got) != `{"a":"<&>","b":1}` {
		t.Errorf("got %s", got)
	}
	if v, _ := ParseJSON([]byte(`1.0`)); v != json.Number("1.0") {
		t.Errorf("a number keeps its literal: %#v", v)
	}
}

// JSONText is encoding/json's text of v, for comparing.
func JSONText(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

func TestTextThatIsNotJSONIsRefusedWithEncodingJSONsMessage(t *testing.T) {
	for _, text := range []string{``, `{not json`, `[1,]`, `01`, `1.`, `"\x01"`, `tru`, `1 2`, `{"a" 1}`, `"\u12"`} {
		if _, err := ParseJSON([]byte(text)); err == nil {
			t.Errorf("%q parsed", text)
		}
	}
	_, err := ParseJSON([]byte(`{not json`))
	if err == nil || !strings.Contains(err.Error(), "invalid character 'n' looking for beginning of object key string") {
		t.Errorf("err %v", err)
	}
}

func TestEqualIsJSONEquality(t *testing.T) {
	parse := func(s string) any { v, _ := ParseJSON([]byte(s)); return v }
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{`1`, `1`, true}, {`1`, `1.0`, false}, {`1.0`, `1e0`, true}, {`1`, `true`, false},
		{`{"a":[1,"x"]}`, `{"a":[1,"x"]}`, true}, {`{"a":1}`, `{"a":1,"b":2}`, false},
		{`"score"`, `"score"`, true}, {`null`, `null`, true}, {`[]`, `{}`, false},
	} {
		if got := Equal(parse(c.a), parse(c.b)); got != c.same {
			t.Errorf("Equal(%s, %s) = %v", c.a, c.b, got)
		}
	}
	if !Equal(parse(`3`), int64(3)) || !Equal(parse(`"x"`), "x") {
		t.Error("Go values compare by their JSON")
	}
}

func TestConfigNamesTheSettingItRefuses(t *testing.T) {
	config, err := ParseConfig([]byte(`{"n": 1.5, "s": "x", "i": 3, "f": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := config.Require("n", &n); err == nil || err.Error() != `config "n": expected an integer, got a number` {
		t.Errorf("err %v", err)
	}
	if err := config.Require("missing", &n); err == nil || err.Error() != `config "missing" is required` {
		t.Errorf("err %v", err)
	}
	var f float64
	if err := config.Require("f", &f); err != nil || f != 2 {
		t.Errorf("an integer is a float: %v %v", f, err)
	}
	s := "default"
	if err := config.Optional("absent", &s); err != nil || s != "default" {
		t.Errorf("%v %v", s, err)
	}
	if err := config.AllowOnly("n", "s", "i"); err == nil || err.Error() != `config: unknown setting "f", expected one of "n", "s", "i"` {
		t.Errorf("err %v", err)
	}
	if _, err := ParseConfig([]byte(`[1]`)); err == nil {
		t.Error("a list is no config")
	}
	var settings struct {
		N float64 `json:"n"`
	}
	if err := config.Decode(&settings); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("err %v", err)
	}
}
