package gateway

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// fields is a client request body: a JSON object whose values are decoded
// one at a time, so each field can accept every variant SDKs send and a bad
// one is named. Keys the handler does not read stay in the body that is
// published (see rest).
type fields map[string]json.RawMessage

// parseFields decodes body as a JSON object.
func parseFields(body []byte) (fields, *problem) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil, badRequest("empty_body", "", "body is empty; a JSON object is required")
	}
	if t[0] != '{' {
		return nil, badRequest("invalid_json", "", "body must be a JSON object")
	}
	var f fields
	if err := json.Unmarshal(t, &f); err != nil {
		return nil, badRequest("invalid_json", "", "body is not valid JSON: %v", err)
	}
	return f, nil
}

// kind names the JSON type of a raw value.
func kind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// str reads a string field; absent or null gives "". Numbers and booleans
// are taken as their text (legacy clients send versions as numbers).
func (f fields) str(name string) (string, *problem) {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return "", nil
	}
	switch kind(raw) {
	case "a string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", badRequest("invalid_field", name, "field %s is not a valid string", name)
		}
		return s, nil
	case "a number", "a boolean":
		return string(bytes.TrimSpace(raw)), nil
	}
	return "", badRequest("invalid_field", name, "field %s must be a string, not %s", name, kind(raw))
}

// text reads a field that must be a JSON string (or absent, or null).
func (f fields) text(name string) (string, *problem) {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return "", nil
	}
	if kind(raw) != "a string" {
		return "", badRequest("invalid_field", name, "field %s must be a string, not %s", name, kind(raw))
	}
	return f.str(name)
}

// required reads a string field that must not be blank.
func (f fields) required(name string) (string, *problem) {
	v, p := f.str(name)
	if p == nil && strings.TrimSpace(v) == "" {
		p = badRequest("missing_field", name, "%s is required", name)
	}
	return v, p
}

// requiredObject reads an object field that must be present.
func (f fields) requiredObject(name string) (json.RawMessage, *problem) {
	v, p := f.object(name)
	if p == nil && v == nil {
		p = badRequest("missing_field", name, "%s is required", name)
	}
	return v, p
}

// boolean reads a boolean field; also true/false/1/0 as strings or numbers.
func (f fields) boolean(name string) (bool, *problem) {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return false, nil
	}
	t := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
	switch strings.ToLower(t) {
	case "true", "1":
		return true, nil
	case "false", "0", "":
		return false, nil
	}
	return false, badRequest("invalid_field", name, "field %s must be a boolean, not %s", name, kind(raw))
}

// number reads a numeric field (a finite number or a numeric string); ok
// is false when it is absent or null.
func (f fields) number(name string) (v float64, ok bool, p *problem) {
	raw, present := f[name]
	if !present || isNull(raw) {
		return 0, false, nil
	}
	t := string(bytes.TrimSpace(raw))
	if kind(raw) == "a string" {
		if err := json.Unmarshal(raw, &t); err != nil {
			return 0, false, badRequest("invalid_field", name, "field %s must be a number", name)
		}
		if strings.TrimSpace(t) == "" {
			return 0, false, nil
		}
	} else if kind(raw) != "a number" {
		return 0, false, badRequest("invalid_field", name, "field %s must be a number, not %s", name, kind(raw))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		// ParseFloat reads "NaN" and "Inf", which JSON cannot carry on
		return 0, false, badRequest("invalid_field", name, "field %s must be a finite number, not %q", name, t)
	}
	return v, true, nil
}

// object reads a field that must be a JSON object; absent or null gives
// nil. A JSON string holding an object (or "") is accepted too, as SDKs
// send event data both ways.
func (f fields) object(name string) (json.RawMessage, *problem) {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return nil, nil
	}
	return objectValue(name, raw)
}

func objectValue(name string, raw json.RawMessage) (json.RawMessage, *problem) {
	switch kind(raw) {
	case "an object":
		// the body it came from is valid JSON; encoding the record
		// compacts it
		return raw, nil
	case "a string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest("invalid_field", name, "field %s is not a valid string", name)
		}
		s = strings.TrimSpace(s)
		if s == "" || s == "null" {
			return nil, nil
		}
		inner := json.RawMessage(s)
		if kind(inner) != "an object" || !json.Valid(inner) {
			return nil, badRequest("invalid_field", name, "field %s must be an object or a JSON string holding one", name)
		}
		return compact(inner), nil
	}
	return nil, badRequest("invalid_field", name, "field %s must be an object, not %s", name, kind(raw))
}

// nested reads the object field parent as fields (nil when absent).
func (f fields) nested(parent string) (fields, *problem) {
	raw, p := f.object(parent)
	if p != nil || raw == nil {
		return nil, p
	}
	var inner fields
	if err := json.Unmarshal(raw, &inner); err != nil {
		return nil, badRequest("invalid_field", parent, "field %s must be an object", parent)
	}
	return inner, nil
}

// rest is the body without the keys the gateway must not publish (the
// token) and without the keys already carried in typed fields; nil when
// nothing is left.
func (f fields) rest(typed ...string) json.RawMessage {
	drop := map[string]bool{"token": true}
	for _, k := range typed {
		drop[k] = true
	}
	out := make(map[string]json.RawMessage, len(f))
	for k, v := range f {
		if !drop[k] {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return b
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// member is one top-level member of a JSON object: its key and the raw
// text from the key's opening quote to the end of its value.
type member struct {
	// key is the key's text between its quotes, still escaped.
	key   []byte
	text  []byte
	value []byte
}

// name is the member's key, unescaped.
func (m member) name() string {
	if bytes.IndexByte(m.key, '\\') < 0 && utf8.Valid(m.key) {
		return string(m.key)
	}
	var k string
	_ = json.Unmarshal(m.text[:len(m.key)+2], &k)
	return k
}

// members splits a valid JSON object into its top-level members without
// decoding the values (ok false if raw is not an object).
func members(raw []byte) (out []member, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, false
	}
	out = make([]member, 0, 32)
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case '}':
			return out, true
		case ',':
			i++
			continue
		case '"':
		default:
			return nil, false
		}
		start := i
		keyEnd := skipString(raw, i)
		if keyEnd > len(raw) {
			return nil, false
		}
		key := raw[start+1 : keyEnd-1]
		i = skipSpace(raw, keyEnd)
		if i >= len(raw) || raw[i] != ':' {
			return nil, false
		}
		vStart := skipSpace(raw, i+1)
		vEnd := skipValue(raw, vStart)
		if vEnd <= vStart || vEnd > len(raw) {
			return nil, false
		}
		out = append(out, member{key: key, text: raw[start:vEnd], value: raw[vStart:vEnd]})
		i = vEnd
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b) + 1
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b) + 1
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}
