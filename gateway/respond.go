package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
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
