package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Request signing, version 2 (HeaderAlgorithm = AlgorithmV2). The signature is
//
//	hex(HMAC-SHA256(secret, "LOGROUTER-HMAC-SHA256-V2\n" + METHOD + "\n" + REQUEST_URI + "\n" + TIMESTAMP + "\n" +
//	    REQUEST_ID + "\n" + BODY_SHA256))
//
// where REQUEST_URI is the path with its query exactly as sent on the request line (e.g.
// "/api/v1/delivery-configs?limit=10"), TIMESTAMP the value of HeaderTimestamp (Unix seconds), REQUEST_ID the
// value of HeaderRequestID (16-128 of A-Z a-z 0-9 . _ -, unique per request: the server accepts a mutating
// request id once) and BODY_SHA256 the value of HeaderContentSHA256: the lowercase hex SHA-256 of the body (of
// the empty string when there is none). The server recomputes the body hash from the bytes it received.
//
// Version 1 (no HeaderAlgorithm, no request id, "LOGROUTER-HMAC-SHA256" and no REQUEST_ID line) is still
// verified, but only for reads (GET, HEAD): a v1 request can be replayed within the clock skew, so mutating
// requests signed with it are refused (ErrV1Mutation).
const (
	HeaderKeyID         = "X-Logrouter-Key-Id"
	HeaderTimestamp     = "X-Logrouter-Timestamp"
	HeaderContentSHA256 = "X-Logrouter-Content-Sha256"
	HeaderSignature     = "X-Logrouter-Signature"
	HeaderAlgorithm     = "X-Logrouter-Algorithm"
	HeaderRequestID     = "X-Logrouter-Request-Id"

	// AlgorithmV2 is the value of HeaderAlgorithm, and the first line of the v2 string to sign.
	AlgorithmV2 = "LOGROUTER-HMAC-SHA256-V2"

	signingAlgorithm = "LOGROUTER-HMAC-SHA256"
	// MaxClockSkew is how far a request's timestamp may be from the server's clock.
	MaxClockSkew = 5 * time.Minute
	// MinSecretLength is the shortest accepted signing secret.
	MinSecretLength = 16
)

var (
	keyIDRE     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{16,128}$`)
)

// BodySHA256 returns the lowercase hex SHA-256 of body.
func BodySHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// StringToSign returns the canonical string a version 1 signature covers (reads only; see AlgorithmV2).
func StringToSign(method, requestURI, timestamp, bodySHA256 string) string {
	return signingAlgorithm + "\n" + method + "\n" + requestURI + "\n" + timestamp + "\n" + bodySHA256
}

// StringToSignV2 returns the canonical string a version 2 signature covers.
func StringToSignV2(method, requestURI, timestamp, requestID, bodySHA256 string) string {
	return AlgorithmV2 + "\n" + method + "\n" + requestURI + "\n" + timestamp + "\n" + requestID + "\n" + bodySHA256
}

// NewRequestID returns a random request id (32 hex digits).
func NewRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

func signature(secret []byte, s string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Sign sets the version 2 signing headers on req for body (the exact bytes sent as req's body) with key keyID
// at now, with a fresh random request id.
func Sign(req *http.Request, keyID string, secret, body []byte, now time.Time) {
	SignWithRequestID(req, keyID, secret, body, now, NewRequestID())
}

// SignWithRequestID is Sign with a given request id (16-128 of A-Z a-z 0-9 . _ -). Each mutating request needs
// its own: the server refuses an id it has already accepted.
func SignWithRequestID(req *http.Request, keyID string, secret, body []byte, now time.Time, requestID string) {
	ts := strconv.FormatInt(now.Unix(), 10)
	bh := BodySHA256(body)
	req.Header.Set(HeaderKeyID, keyID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderContentSHA256, bh)
	req.Header.Set(HeaderAlgorithm, AlgorithmV2)
	req.Header.Set(HeaderRequestID, requestID)
	req.Header.Set(HeaderSignature, hex.EncodeToString(signature(secret, StringToSignV2(req.Method, req.URL.RequestURI(), ts, requestID, bh))))
}

// SignV1 sets version 1 signing headers (no request id). Servers accept them for reads only.
//
// Deprecated: use Sign; kept for clients that only read.
func SignV1(req *http.Request, keyID string, secret, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	bh := BodySHA256(body)
	req.Header.Set(HeaderKeyID, keyID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderContentSHA256, bh)
	req.Header.Set(HeaderSignature, hex.EncodeToString(signature(secret, StringToSign(req.Method, req.URL.RequestURI(), ts, bh))))
}

// Reasons a signature is rejected. They are for the server's own logs and tests; clients only see a bare 401.
var (
	ErrMissingSignature = errors.New("missing signature headers")
	ErrUnknownKey       = errors.New("unknown key id")
	ErrStaleTimestamp   = errors.New("timestamp missing, malformed or outside the allowed clock skew")
	ErrBodyMismatch     = errors.New("body does not match its SHA-256 header")
	ErrBadSignature     = errors.New("signature mismatch")
	ErrBadAlgorithm     = errors.New("unknown signing algorithm")
	ErrBadRequestID     = errors.New("request id missing or malformed")
	// ErrV1Mutation: a valid version 1 signature on a mutating request (only reads may use version 1).
	ErrV1Mutation = errors.New("mutating requests must be signed with " + AlgorithmV2)
)

// Signed describes a verified request.
type Signed struct {
	KeyID     string
	Version   int       // 1 or 2
	RequestID string    // version 2 only
	Timestamp time.Time // the signed timestamp
}

// Mutating reports whether method changes state (anything but GET, HEAD and OPTIONS).
func Mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// Verifier checks request signatures against a set of keys.
type Verifier struct {
	Keys    Keys
	MaxSkew time.Duration    // default MaxClockSkew
	Now     func() time.Time // default time.Now
}

// Verify checks r's signature, given the body bytes actually received. requestURI is the request target as
// received (r.RequestURI on a server). It returns nil or one of the Err* reasons above.
func (v *Verifier) Verify(r *http.Request, requestURI string, body []byte) error {
	_, err := v.VerifyRequest(r, requestURI, body)
	return err
}

// VerifyRequest is Verify, also returning what the signature established. A version 1 signature on a
// mutating request returns the Signed value with ErrV1Mutation.
func (v *Verifier) VerifyRequest(r *http.Request, requestURI string, body []byte) (Signed, error) {
	keyID, ts, bh, sig := r.Header.Get(HeaderKeyID), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderContentSHA256), r.Header.Get(HeaderSignature)
	if keyID == "" || ts == "" || bh == "" || sig == "" {
		return Signed{}, ErrMissingSignature
	}
	s := Signed{KeyID: keyID, Version: 1}
	switch alg := r.Header.Get(HeaderAlgorithm); alg {
	case "":
	case AlgorithmV2:
		s.Version, s.RequestID = 2, r.Header.Get(HeaderRequestID)
		if !requestIDRE.MatchString(s.RequestID) {
			return Signed{}, ErrBadRequestID
		}
	default:
		return Signed{}, ErrBadAlgorithm
	}
	secret, ok := v.Keys[keyID]
	if !ok {
		return Signed{}, ErrUnknownKey
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Signed{}, ErrStaleTimestamp
	}
	s.Timestamp = time.Unix(sec, 0)
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = MaxClockSkew
	}
	if d := now().Sub(s.Timestamp); d > skew || d < -skew {
		return Signed{}, ErrStaleTimestamp
	}
	if !hmac.Equal([]byte(BodySHA256(body)), []byte(strings.ToLower(bh))) {
		return Signed{}, ErrBodyMismatch
	}
	sts := StringToSign(r.Method, requestURI, ts, strings.ToLower(bh))
	if s.Version == 2 {
		sts = StringToSignV2(r.Method, requestURI, ts, s.RequestID, strings.ToLower(bh))
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(signature(secret, sts), got) {
		return Signed{}, ErrBadSignature
	}
	if s.Version == 1 && Mutating(r.Method) {
		return s, ErrV1Mutation
	}
	return s, nil
}
