package api

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Request-signing headers. The signature is
//
//	hex(HMAC-SHA256(secret, "LOGROUTER-HMAC-SHA256\n" + METHOD + "\n" + REQUEST_URI + "\n" + TIMESTAMP + "\n" + BODY_SHA256))
//
// where REQUEST_URI is the path with its query exactly as sent on the request line (e.g.
// "/api/v1/delivery-configs?limit=10"), TIMESTAMP the value of HeaderTimestamp (Unix seconds) and
// BODY_SHA256 the value of HeaderContentSHA256: the lowercase hex SHA-256 of the body (of the empty string
// when there is none). The server recomputes the body hash from the bytes it received.
const (
	HeaderKeyID         = "X-Logrouter-Key-Id"
	HeaderTimestamp     = "X-Logrouter-Timestamp"
	HeaderContentSHA256 = "X-Logrouter-Content-Sha256"
	HeaderSignature     = "X-Logrouter-Signature"

	signingAlgorithm = "LOGROUTER-HMAC-SHA256"
	// MaxClockSkew is how far a request's timestamp may be from the server's clock.
	MaxClockSkew = 5 * time.Minute
	// MinSecretLength is the shortest accepted signing secret.
	MinSecretLength = 16
)

var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Keys maps key ids to signing secrets. Several ids may be valid at once, for rotation.
type Keys map[string][]byte

// ParseKeys reads "key_id=secret" lines; blank lines and lines starting with # are ignored. Key ids are 1–64
// of [A-Za-z0-9._-]; secrets are at least MinSecretLength bytes (everything after the first "=", trimmed).
// Errors name the line, never the secret.
func ParseKeys(r io.Reader) (Keys, error) {
	keys := Keys{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, secret, ok := strings.Cut(line, "=")
		id, secret = strings.TrimSpace(id), strings.TrimSpace(secret)
		switch {
		case !ok:
			return nil, fmt.Errorf("line %d: want key_id=secret", n)
		case !keyIDRE.MatchString(id):
			return nil, fmt.Errorf("line %d: key id must be 1-64 of A-Z a-z 0-9 . _ -", n)
		case len(secret) < MinSecretLength:
			return nil, fmt.Errorf("line %d (key %s): secret shorter than %d bytes", n, id, MinSecretLength)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("line %d: duplicate key id %s", n, id)
		}
		keys[id] = []byte(secret)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys")
	}
	return keys, nil
}

// LoadKeysFile reads a keys file (see ParseKeys).
func LoadKeysFile(path string) (Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read API keys: %w", err)
	}
	defer f.Close()
	keys, err := ParseKeys(f)
	if err != nil {
		return nil, fmt.Errorf("API keys file %s: %w", path, err)
	}
	return keys, nil
}

// BodySHA256 returns the lowercase hex SHA-256 of body.
func BodySHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// StringToSign returns the canonical string a signature covers.
func StringToSign(method, requestURI, timestamp, bodySHA256 string) string {
	return signingAlgorithm + "\n" + method + "\n" + requestURI + "\n" + timestamp + "\n" + bodySHA256
}

func signature(secret []byte, s string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Sign sets the signing headers on req for body (the exact bytes sent as req's body) with key keyID at now.
func Sign(req *http.Request, keyID string, secret, body []byte, now time.Time) {
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
)

// Verifier checks request signatures against a set of keys.
type Verifier struct {
	Keys    Keys
	MaxSkew time.Duration    // default MaxClockSkew
	Now     func() time.Time // default time.Now
}

// Verify checks r's signature, given the body bytes actually received. requestURI is the request target as
// received (r.RequestURI on a server). It returns nil or one of the Err* reasons above.
func (v *Verifier) Verify(r *http.Request, requestURI string, body []byte) error {
	keyID, ts, bh, sig := r.Header.Get(HeaderKeyID), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderContentSHA256), r.Header.Get(HeaderSignature)
	if keyID == "" || ts == "" || bh == "" || sig == "" {
		return ErrMissingSignature
	}
	secret, ok := v.Keys[keyID]
	if !ok {
		return ErrUnknownKey
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrStaleTimestamp
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = MaxClockSkew
	}
	if d := now().Sub(time.Unix(sec, 0)); d > skew || d < -skew {
		return ErrStaleTimestamp
	}
	if !hmac.Equal([]byte(BodySHA256(body)), []byte(strings.ToLower(bh))) {
		return ErrBodyMismatch
	}
	want := signature(secret, StringToSign(r.Method, requestURI, ts, strings.ToLower(bh)))
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(want, got) {
		return ErrBadSignature
	}
	return nil
}
