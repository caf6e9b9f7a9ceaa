// Package signing verifies the request signatures LinkRunner-compatible SDKs
// add when an app was initialised with a key id and secret (contract §3):
//
//	x-Key-Id:    the key id
//	x-Timestamp: milliseconds since the Unix epoch
//	x-Signature: base64(HMAC-SHA256(secret, timestamp + "\n" + base64(SHA-256(body))))
//
// The signature covers the exact body bytes, so it is checked on the raw
// body before it is parsed. It holds no state and is safe for concurrent use.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Header names as SDKs send them (HTTP names are case-insensitive).
const (
	HeaderKeyID     = "X-Key-Id"
	HeaderTimestamp = "X-Timestamp"
	HeaderSignature = "X-Signature"
)

// DefaultSkew is how far a request's timestamp may be from the server's
// clock (SDKs re-sign each retry; four retries span about 30 s).
const DefaultSkew = 5 * time.Minute

// Errors of Verify; each names what is wrong with the request.
var (
	ErrUnsigned     = errors.New("request is not signed")
	ErrUnknownKey   = errors.New("signing key id is unknown or inactive")
	ErrBadTimestamp = errors.New("x-Timestamp is not milliseconds since the epoch")
	ErrSkew         = errors.New("x-Timestamp is too far from the server's clock")
	ErrBadSignature = errors.New("signature does not match the body")
)

// ContentHash is base64(SHA-256(body)); an empty body hashes to "".
func ContentHash(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	h := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(h[:])
}

// Sign returns the signature of body at timestamp (milliseconds) with secret.
func Sign(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10) + "\n" + ContentHash(body)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verifier checks signed requests.
type Verifier struct {
	// Secret returns the active secret of a key id, false when unknown or
	// inactive.
	Secret func(keyID string) (string, bool)
	// Now is the server's clock (default time.Now).
	Now func() time.Time
	// Skew bounds |now - timestamp| (default DefaultSkew).
	Skew time.Duration
}

// Verify checks h's signature headers against body. It returns the key id
// on success and one of the package's errors (wrapped with detail) otherwise.
func (v Verifier) Verify(h http.Header, body []byte) (string, error) {
	keyID, ts, sig := h.Get(HeaderKeyID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if keyID == "" && ts == "" && sig == "" {
		return "", ErrUnsigned
	}
	if keyID == "" || ts == "" || sig == "" {
		return "", fmt.Errorf("%w: x-Key-Id, x-Timestamp and x-Signature are all required", ErrUnsigned)
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms <= 0 {
		return "", fmt.Errorf("%w: %q", ErrBadTimestamp, ts)
	}
	now, skew := time.Now, v.Skew
	if v.Now != nil {
		now = v.Now
	}
	if skew <= 0 {
		skew = DefaultSkew
	}
	if d := now().Sub(time.UnixMilli(ms)); d > skew || d < -skew {
		return "", fmt.Errorf("%w: off by %s, at most %s allowed", ErrSkew, d.Round(time.Second), skew)
	}
	secret, ok := v.Secret(keyID)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return "", fmt.Errorf("%w: x-Signature is not base64", ErrBadSignature)
	}
	want, _ := base64.StdEncoding.DecodeString(Sign(secret, ms, body))
	if !hmac.Equal(got, want) {
		return "", ErrBadSignature
	}
	return keyID, nil
}
