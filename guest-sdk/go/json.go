package millrace

// JSON as the host speaks it. Keys, values and configuration arrive as JSON text;
// what a plugin emits goes back as JSON text. Decoding into `any` gives
// map[string]any, []any, string, json.Number (numbers keep their literal, so that
// 1 and 1.0 stay an integer and a float), bool and nil. Encoding writes floats as
// the Rust SDK (serde_json) does, so that 12.0 stays a float and is not read back as
// the integer 12.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ParseJSON decodes one JSON text into map[string]any, []any, string, json.Number,
// bool or nil. Its errors are encoding/json's.
func ParseJSON(data []byte) (any, error) {
	p := parser{data: data}
	p.space()
	v, ok := p.value(0)
	if ok {
		p.space()
		if p.pos == len(p.data) {
			return v, nil
		}
	}
	// The fast parser only says that the text is not JSON; encoding/json says why
	// (and decides, should the two ever disagree).
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	var slow any
	if err := decoder.Decode(&slow); err != nil {
		return nil, err
	}
	if decoder.More() {
		var extra any
		if err := json.Unmarshal(data, &extra); err != nil {
			return nil, err
		}
		return nil, errors.New("invalid JSON: text after the value")
	}
	return slow, nil
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

type parser struct {
	data []byte
	pos  int
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) literal(word string, v any) (any, bool) {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return v, true
	}
	return nil, false
}

func (p *parser) value(depth int) (any, bool) {
	if p.pos >= len(p.data) || depth > maxDepth {
		return nil, false
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		p.pos++
		object := map[string]any{}
		p.space()
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			return object, true
		}
		for {
			p.space()
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return nil, false
			}
			name, ok := p.string()
			if !ok {
				return nil, false
			}
			p.space()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return nil, false
			}
			p.pos++
			p.space()
			item, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			object[name] = item
			p.space()
			if p.pos >= len(p.data) {
				return nil, false
			}
			switch p.data[p.pos] {
			case ',':
				p.pos++
			case '}':
				p.pos++
				return object, true
			default:
				return nil, false
			}
		}
	case c == '[':
		p.pos++
		list := []any{}
		p.space()
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			return list, true
		}
		for {
			p.space()
			item, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			list = append(list, item)
			p.space()
			if p.pos >= len(p.data) {
				return nil, false
			}
			switch p.data[p.pos] {
			case ',':
				p.pos++
			case ']':
				p.pos++
				return list, true
			default:
				return nil, false
			}
		}
	case c == '"':
		s, ok := p.string()
		return s, ok
	case c == 't':
		return p.literal("true", true)
	case c == 'f':
		return p.literal("false", false)
	case c == 'n':
		return p.literal("null", nil)
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		if !p.number() {
			return nil, false
		}
		return json.Number(p.data[start:p.pos]), true
	}
	return nil, false
}

// number reads a number's literal (RFC 8259's grammar).
func (p *parser) number() bool {
	d := p.data
	if p.pos < len(d) && d[p.pos] == '-' {
		p.pos++
	}
	if p.pos >= len(d) {
		return false
	}
	if d[p.pos] == '0' {
		p.pos++
	} else if d[p.pos] >= '1' && d[p.pos] <= '9' {
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	} else {
		return false
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		digits := p.pos
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == digits {
			return false
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		digits := p.pos
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == digits {
			return false
		}
	}
	return true
}

// string reads a string whose opening quote is at p.pos.
func (p *parser) string() (string, bool) {
	d := p.data
	p.pos++
	start := p.pos
	// The common case: no escapes, valid UTF-8.
	for p.pos < len(d) {
		c := d[p.pos]
		if c == '"' {
			s := d[start:p.pos]
			p.pos++
			if utf8.Valid(s) {
				return string(s), true
			}
			return string([]rune(string(s))), true // invalid bytes become U+FFFD, as encoding/json does
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		p.pos++
	}
	out := make([]byte, 0, p.pos-start+16)
	out = append(out, d[start:p.pos]...)
	for p.pos < len(d) {
		c := d[p.pos]
		switch {
		case c == '"':
			p.pos++
			if utf8.Valid(out) {
				return string(out), true
			}
			return string([]rune(string(out))), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.pos++
			continue
		}
		p.pos++
		if p.pos >= len(d) {
			return "", false
		}
		e := d[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if p.pos+1 < len(d) && d[p.pos] == '\\' && d[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					if next, ok := p.hex4(); ok {
						r2 = next
					} else {
						return "", false
					}
					if combined := utf16.DecodeRune(r, r2); combined != utf8.RuneError {
						r = combined
					} else {
						p.pos = save
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// Float is a float64 that encoding/json writes as the host's other SDKs do: an
// integral value keeps its ".0" (12.0, not 12), so that it is read back as a float.
// Use it for the float fields of structs a plugin emits; AppendJSON does this for
// plain float64 values already.
type Float float64

// MarshalJSON writes f as serde_json would.
func (f Float) MarshalJSON() ([]byte, error) {
	return appendFloat(nil, float64(f))
}

// MarshalJSON encodes v as compact JSON, the way the SDK encodes what a plugin emits.
func MarshalJSON(v any) ([]byte, error) {
	return AppendJSON(nil, v)
}

// AppendJSON appends the compact JSON text of v to buf. Maps, slices, strings,
// numbers, booleans, nil, json.Number and json.RawMessage are written directly
// (floats as serde_json writes them, map keys sorted); any other value goes through
// encoding/json. NaN and infinities are refused.
func AppendJSON(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case bool:
		if x {
			return append(buf, "true"...), nil
		}
		return append(buf, "false"...), nil
	case string:
		return appendString(buf, x), nil
	case json.Number:
		if x == "" {
			return append(buf, '0'), nil
		}
		if !validNumber(string(x)) {
			return buf, fmt.Errorf("json: invalid number literal %q", string(x))
		}
		return append(buf, x...), nil
	case json.RawMessage:
		if len(x) == 0 {
			return append(buf, "null"...), nil
		}
		return append(buf, x...), nil
	case float64:
		return appendFloat(buf, x)
	case float32:
		return appendFloat32(buf, x)
	case Float:
		return appendFloat(buf, float64(x))
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case uint:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(buf, x, 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case map[string]any:
		if x == nil {
			return append(buf, "null"...), nil
		}
		names := make([]string, 0, len(x))
		for name := range x {
			names = append(names, name)
		}
		slices.Sort(names)
		buf = append(buf, '{')
		for i, name := range names {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, name)
			buf = append(buf, ':')
			var err error
			if buf, err = AppendJSON(buf, x[name]); err != nil {
				return buf, err
			}
		}
		return append(buf, '}'), nil
	case []any:
		return appendList(buf, x, AppendJSON)
	case []string:
		return appendList(buf, x, func(buf []byte, s string) ([]byte, error) { return appendString(buf, s), nil })
	case []float64:
		return appendList(buf, x, appendFloat)
	case []int64:
		return appendList(buf, x, func(buf []byte, i int64) ([]byte, error) { return strconv.AppendInt(buf, i, 10), nil })
	}
	if reflect.ValueOf(v).Kind() == reflect.Float64 {
		// A named float type without a MarshalJSON of its own.
		if _, ok := v.(json.Marshaler); !ok {
			return appendFloat(buf, reflect.ValueOf(v).Float())
		}
	}
	data, err := json.Marshal(v)
	if err != nil {
		return buf, err
	}
	return append(buf, data...), nil
}

// appendList writes items as a JSON array (null for a nil slice), each with item.
func appendList[T any](buf []byte, items []T, item func([]byte, T) ([]byte, error)) ([]byte, error) {
	if items == nil {
		return append(buf, "null"...), nil
	}
	buf = append(buf, '[')
	for i, x := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = item(buf, x); err != nil {
			return buf, err
		}
	}
	return append(buf, ']'), nil
}

func validNumber(s string) bool {
	p := parser{data: []byte(s)}
	return p.number() && p.pos == len(s)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, escaping what JSON requires (and, as
// encoding/json does, turning invalid UTF-8 into U+FFFD).
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, "\ufffd"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// appendFloat writes f as serde_json (ryu) does: the shortest digits that read back
// as f, in plain notation between 1e-5 and 1e16 (with ".0" when integral), else as
// 1.5e20 or 1e-7.
func appendFloat(buf []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return buf, fmt.Errorf("%v is not a JSON number", f)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(buf, "-0.0"...), nil
		}
		return append(buf, "0.0"...), nil
	}
	return appendDecimal(buf, strconv.AppendFloat(nil, f, 'e', -1, 64)), nil
}

func appendFloat32(buf []byte, f float32) ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return buf, fmt.Errorf("%v is not a JSON number", f)
	}
	if f == 0 {
		if math.Signbit(float64(f)) {
			return append(buf, "-0.0"...), nil
		}
		return append(buf, "0.0"...), nil
	}
	return appendDecimal(buf, strconv.AppendFloat(nil, float64(f), 'e', -1, 32)), nil
}

// appendDecimal lays out strconv's shortest 'e' form ("-1.234e+05") as ryu does.
func appendDecimal(buf, e []byte) []byte {
	if e[0] == '-' {
		buf = append(buf, '-')
		e = e[1:]
	}
	mark := slices.Index(e, 'e')
	mantissa, exp := e[:mark], e[mark+1:]
	digits := make([]byte, 0, 17)
	for _, c := range mantissa {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	exponent, _ := strconv.Atoi(string(exp))
	length := len(digits)
	// The value is 0.digits × 10^kk.
	kk := exponent + 1
	k := kk - length
	switch {
	case k >= 0 && kk <= 16:
		buf = append(buf, digits...)
		for i := length; i < kk; i++ {
			buf = append(buf, '0')
		}
		return append(buf, '.', '0')
	case kk > 0 && kk <= 16:
		buf = append(buf, digits[:kk]...)
		buf = append(buf, '.')
		return append(buf, digits[kk:]...)
	case kk > -5 && kk <= 0:
		buf = append(buf, '0', '.')
		for i := kk; i < 0; i++ {
			buf = append(buf, '0')
		}
		return append(buf, digits...)
	case length == 1:
		buf = append(buf, digits[0], 'e')
		return strconv.AppendInt(buf, int64(kk-1), 10)
	default:
		buf = append(buf, digits[0], '.')
		buf = append(buf, digits[1:]...)
		buf = append(buf, 'e')
		return strconv.AppendInt(buf, int64(kk-1), 10)
	}
}

// Equal reports whether a and b are the same JSON value, as the Rust SDK compares
// them: 1, 1.0 and true are three different values; objects compare field by field.
func Equal(a, b any) bool {
	if !isDecoded(a) || !isDecoded(b) {
		// Other Go values: compare their JSON.
		return Equal(normalize(a), normalize(b))
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		xi, xInt := AsInt(x)
		yi, yInt := AsInt(y)
		if xInt || yInt {
			return xInt && yInt && xi == yi
		}
		if isIntegerLiteral(string(x)) != isIntegerLiteral(string(y)) {
			return false
		}
		xf, err1 := x.Float64()
		yf, err2 := y.Float64()
		return err1 == nil && err2 == nil && xf == yf
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for name, item := range x {
			other, ok := y[name]
			if !ok || !Equal(item, other) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// isDecoded reports whether v is one of the types ParseJSON gives.
func isDecoded(v any) bool {
	switch v.(type) {
	case nil, bool, string, json.Number, map[string]any, []any:
		return true
	}
	return false
}

// normalize is v as ParseJSON would give it back from v's JSON (nil if v is not
// JSON: then it equals only null).
func normalize(v any) any {
	if isDecoded(v) {
		return v
	}
	data, err := AppendJSON(nil, v)
	if err != nil {
		return nil
	}
	parsed, err := ParseJSON(data)
	if err != nil {
		return nil
	}
	return parsed
}

// isIntegerLiteral reports whether a number's literal has no fraction or exponent.
func isIntegerLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', 'e', 'E':
			return false
		}
	}
	return true
}

// AsInt is v as a 64-bit integer, if it is a JSON integer (a json.Number without a
// fraction or exponent, in range) or a Go integer.
func AsInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if !isIntegerLiteral(string(x)) {
			return 0, false
		}
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	}
	return 0, false
}

// AsFloat is v as a float64, if it is a JSON number (or a Go number).
func AsFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			var numErr *strconv.NumError
			if errors.As(err, &numErr) && numErr.Err == strconv.ErrRange {
				return f, true // ±Inf or 0 for a literal out of float range
			}
			return 0, false
		}
		return f, true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case Float:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	}
	return 0, false
}

// Field is the value at a dotted path ("user.name") of a JSON object, and whether it
// is there.
func Field(v any, path string) (any, bool) {
	start := 0
	for {
		object, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		end := start
		for end < len(path) && path[end] != '.' {
			end++
		}
		v, ok = object[path[start:end]]
		if !ok {
			return nil, false
		}
		if end == len(path) {
			return v, true
		}
		start = end + 1
	}
}
