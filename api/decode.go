package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	fastjson "github.com/segmentio/encoding/json"

	"github.com/theopenmoney/openmoney/shop"
)

// invalid is a 422 VALIDATION_ERROR about field.
func invalid(field, format string, args ...any) *shop.Error {
	return &shop.Error{Code: shop.CodeValidation, Field: field, Message: fmt.Sprintf(format, args...)}
}

// decodeJSON reads the request body (already bounded by MaxBodyBytes) into
// v, a pointer to a struct. See DecodeBody for the rules.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err // 413
		}
		return invalid("body", "request body could not be read: %v", err)
	}
	return DecodeBody(body, v)
}

// DecodeBody decodes a request body into v (a pointer to a struct with json
// tags) the way every route does: exactly one JSON object, field names
// matched exactly (case included), unknown or repeated fields refused, each
// value of its field's type, text valid Unicode. Its errors are 422
// VALIDATION_ERROR whose message names the field or the problem. One
// decoder, encoding/json; a second, faster one was measured and dropped
// (docs/PERFORMANCE.md). Exported for validation tests.
func DecodeBody(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return invalid("body", "request body is empty; send a JSON object")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return syntaxError(body)
		}
		return invalid("body", "request body must be a JSON object, got %s", jsonKind(trimmed[0]))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, body, v)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("body", "request body must hold one JSON object; found more data after it")
	}
	if !utf8.Valid(body) || mayHoldSurrogate(body) {
		if field, bad := badTextField(body); bad {
			return invalid(field, "%s must be valid UTF-8 text (the body holds invalid UTF-8 bytes or a \\u escape of an unpaired surrogate there)", field)
		}
	}
	return checkKeys(body, v)
}

// mayHoldSurrogate is a quick test for a \uD800–\uDFFF escape (also true
// for a few bodies without one, such as "\\ud"; those are then checked
// exactly).
func mayHoldSurrogate(body []byte) bool {
	return bytes.Contains(body, []byte(`\ud`)) || bytes.Contains(body, []byte(`\uD`))
}

// badTextField finds the first string of body (one valid JSON object) that
// is not valid Unicode text — invalid UTF-8 bytes, or an escaped surrogate
// that is not a high one followed by a low one — and names the top-level
// field holding it ("body" when a key itself is bad).
func badTextField(body []byte) (field string, bad bool) {
	t := fastjson.NewTokenizer(body)
	for t.Next() {
		if len(t.Value) == 0 || t.Value[0] != '"' {
			continue
		}
		if t.IsKey && t.Depth == 1 {
			field = string(t.String())
		}
		if !validText(t.Value) {
			if t.IsKey {
				return "body", true
			}
			return field, true
		}
	}
	if t.Err != nil {
		return "body", true // cannot happen: a decoder accepted body
	}
	return "", false
}

// validText reports whether raw, a JSON string token with its quotes and
// escapes, decodes to valid Unicode text.
func validText(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw, i+1)
		if !ok {
			return false
		}
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return false // a low surrogate alone
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			lo, ok := hex4(raw, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}

// hex4 reads four hex digits at raw[i:].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw[i:i+4]), 16, 32)
	return rune(v), err == nil
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// syntaxError describes why body is not JSON.
func syntaxError(body []byte) error {
	var x any
	err := json.Unmarshal(body, &x)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return invalid("body", "request body is not valid JSON: %s at byte %d", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	}
	return invalid("body", "request body is not valid JSON: unexpected end of input")
}

func decodeError(err error, body []byte, v any) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return syntaxError(body)
	case errors.As(err, &te):
		if te.Field == "" {
			return invalid("body", "request body must be a JSON object")
		}
		got := te.Value
		if len(got) > 40 {
			got = got[:40] + "…"
		}
		return invalid(te.Field, "%s must be %s, got %s", te.Field, typeName(te.Type), got)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return invalid(name, "unknown field %q; allowed fields: %s", name, strings.Join(fieldNames(v), ", "))
	}
	return invalid("body", "request body is not valid: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// typeName says which JSON type a Go type expects.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.Number]() {
		return "a number"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// fieldNames lists the json names of v's struct fields.
func fieldNames(v any) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// checkKeys refuses what encoding/json lets through: keys that match a
// field only case-insensitively, and repeated keys. body has already been
// decoded, so it is one valid JSON object; the scan only needs to find the
// top-level keys.
func checkKeys(body []byte, v any) error {
	names := fieldNames(v)
	var buf [8]string
	seen := buf[:0]
	return topLevelKeys(body, func(key string) error {
		if !slices.Contains(names, key) {
			return invalid(key, "unknown field %q (names are case-sensitive); allowed fields: %s", key, strings.Join(names, ", "))
		}
		if slices.Contains(seen, key) {
			return invalid(key, "field %q appears more than once", key)
		}
		seen = append(seen, key)
		return nil
	})
}

// topLevelKeys calls fn with each key of the object in body, which must be
// valid JSON (a decoder accepted it) holding one object; segmentio's
// tokenizer walks it without allocating per token.
func topLevelKeys(body []byte, fn func(key string) error) error {
	t := fastjson.NewTokenizer(body)
	for t.Next() {
		if t.IsKey && t.Depth == 1 {
			if err := fn(string(t.String())); err != nil {
				return err
			}
		}
	}
	if t.Err != nil {
		return syntaxError(body)
	}
	return nil
}

// decodeOptional reads an optional body: empty is fine, otherwise DecodeBody.
func decodeOptional(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return invalid("body", "request body could not be read: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return DecodeBody(body, v)
}

// pathID parses the {id} path value: a positive integer.
func pathID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || s[0] == '+' {
		return 0, invalid("id", "id must be a positive integer order id, got %q", clip(s))
	}
	return id, nil
}

// queryInt parses an optional integer query parameter within [lo, hi];
// def when absent.
func queryInt(r *http.Request, name string, lo, hi, def int64) (int64, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return def, nil
	}
	s := q.Get(name)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, invalid(name, "%s must be an integer between %d and %d, got %q", name, lo, hi, clip(s))
	}
	return v, nil
}

// queryRequiredInt is queryInt for a parameter that must be present; range
// checks beyond "is an integer" are the shop's (its messages name the limits).
func queryRequiredInt(r *http.Request, name string) (int64, error) {
	q := r.URL.Query()
	if !q.Has(name) || q.Get(name) == "" {
		return 0, invalid(name, "%s is required", name)
	}
	s := q.Get(name)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, invalid(name, "%s must be an integer, got %q", name, clip(s))
	}
	return v, nil
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(r *http.Request, name string) (*time.Time, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return nil, nil
	}
	s := q.Get(name)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, invalid(name, "%s must be an RFC 3339 time such as 2026-04-16T12:00:00Z, got %q", name, clip(s))
	}
	t = t.UTC()
	return &t, nil
}

// clip shortens user input echoed in messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
