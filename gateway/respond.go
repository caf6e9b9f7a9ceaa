package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// envelope is the response shape SDKs parse: {msg, status, data}.
type envelope struct {
	Msg    string    `json:"msg"`
	Status int       `json:"status"`
	Data   any       `json:"data"`
	Error  *apiError `json:"error,omitempty"`
}

type apiError struct {
	Code  string `json:"code"`
	Field string `json:"field,omitempty"`
}

// problem is a client or server error answered as JSON.
type problem struct {
	status int
	code   string
	field  string
	msg    string
	// retryAfter is the Retry-After in seconds (default 1 for 429 and 503).
	retryAfter int
}

func (p *problem) Error() string { return p.msg }

func badRequest(code, field, format string, args ...any) *problem {
	return &problem{status: http.StatusBadRequest, code: code, field: field, msg: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, p *problem) {
	if p.status == http.StatusServiceUnavailable || p.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(max(p.retryAfter, 1)))
	}
	writeJSON(w, p.status, envelope{Msg: p.msg, Status: p.status, Error: &apiError{Code: p.code, Field: p.field}})
}

func writeOK(w http.ResponseWriter, status int, msg string, data any) {
	writeJSON(w, status, envelope{Msg: msg, Status: status, Data: data})
}

// decodeBody reads a JSON object body into v, naming the problem on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) *problem {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
		return &problem{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: fmt.Sprintf("content type %q is not JSON", ct)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &problem{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
				msg: fmt.Sprintf("body is larger than %d bytes", limit)}
		}
		return badRequest("unreadable_body", "", "body could not be read: %v", err)
	}
	if len(body) == 0 {
		return badRequest("empty_body", "", "body is empty; a JSON object is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if typeErr.Field == "" {
				return badRequest("invalid_json", "", "body must be a JSON object, not %s", typeErr.Value)
			}
			return badRequest("invalid_field", typeErr.Field, "field %s must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		}
		return badRequest("invalid_json", "", "body is not valid JSON: %v", err)
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	default:
		return "a number"
	}
}
