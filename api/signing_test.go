package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	sigNow  = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	secretA = []byte("secret-a-0123456789abcdef")
	secretB = []byte("secret-b-0123456789abcdef")
)

// signed builds a request as a server receives it, signed by a client with keyID/secret at signedAt.
func signed(t *testing.T, method, target, body, keyID string, secret []byte, signedAt time.Time) *http.Request {
	t.Helper()
	client := httptest.NewRequest(method, "http://api.example"+target, strings.NewReader(body))
	Sign(client, keyID, secret, []byte(body), signedAt)
	server := httptest.NewRequest(method, target, strings.NewReader(body))
	server.Header = client.Header.Clone()
	return server
}

func TestVerify(t *testing.T) {
	keys := Keys{"a": secretA, "b": secretB}
	tests := map[string]struct {
		req      func(t *testing.T) (*http.Request, string) // request and the body the server received
		keys     Keys
		want     error
		serverAt time.Time
	}{
		"valid": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "POST", "/api/v1/tenants/x/delivery-configs", `{"type":"s3"}`, "a", secretA, sigNow), `{"type":"s3"}`
		}},
		"valid with query and empty body": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/api/v1/delivery-configs?limit=5&next=abc", "", "a", secretA, sigNow), ""
		}},
		"tampered body": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "POST", "/p", `{"enabled":true}`, "a", secretA, sigNow), `{"enabled":false}`
		}, want: ErrBodyMismatch},
		"tampered body with matching hash header": {req: func(t *testing.T) (*http.Request, string) {
			r := signed(t, "POST", "/p", `{"enabled":true}`, "a", secretA, sigNow)
			r.Header.Set(HeaderContentSHA256, BodySHA256([]byte(`{"enabled":false}`)))
			return r, `{"enabled":false}`
		}, want: ErrBadSignature},
		"tampered method": {req: func(t *testing.T) (*http.Request, string) {
			r := signed(t, "GET", "/p", "", "a", secretA, sigNow)
			r.Method = "DELETE"
			return r, ""
		}, want: ErrBadSignature},
		"tampered query": {req: func(t *testing.T) (*http.Request, string) {
			r := signed(t, "GET", "/p?limit=5", "", "a", secretA, sigNow)
			r.RequestURI = "/p?limit=500"
			return r, ""
		}, want: ErrBadSignature},
		"tampered timestamp": {req: func(t *testing.T) (*http.Request, string) {
			r := signed(t, "GET", "/p", "", "a", secretA, sigNow)
			r.Header.Set(HeaderTimestamp, strconv.FormatInt(sigNow.Unix()+1, 10))
			return r, ""
		}, want: ErrBadSignature},
		"timestamp 4m59s old": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/p", "", "a", secretA, sigNow.Add(-5*time.Minute+time.Second)), ""
		}},
		"stale timestamp": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/p", "", "a", secretA, sigNow.Add(-5*time.Minute-time.Second)), ""
		}, want: ErrStaleTimestamp},
		"future timestamp": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/p", "", "a", secretA, sigNow.Add(6*time.Minute)), ""
		}, want: ErrStaleTimestamp},
		"wrong key": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/p", "", "a", secretB, sigNow), ""
		}, want: ErrBadSignature},
		"unknown key id": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/p", "", "c", secretA, sigNow), ""
		}, want: ErrUnknownKey},
		"missing signature": {req: func(t *testing.T) (*http.Request, string) {
			r := signed(t, "GET", "/p", "", "a", secretA, sigNow)
			r.Header.Del(HeaderSignature)
			return r, ""
		}, want: ErrMissingSignature},
		"signature not hex": {req: func(t *testing.T) (*http.Request, string) {
			r := signed(t, "GET", "/p", "", "a", secretA, sigNow)
			r.Header.Set(HeaderSignature, "zz")
			return r, ""
		}, want: ErrBadSignature},
		"rotation: old key still valid": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/p", "", "a", secretA, sigNow), ""
		}, keys: Keys{"a": secretA, "b": secretB}},
		"rotation: new key valid": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/p", "", "b", secretB, sigNow), ""
		}, keys: Keys{"a": secretA, "b": secretB}},
		"rotation: retired key rejected": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/p", "", "a", secretA, sigNow), ""
		}, keys: Keys{"b": secretB}, want: ErrUnknownKey},
		"rotation: new secret under an old id is rejected": {req: func(t *testing.T) (*http.Request, string) {
			return signed(t, "GET", "/p", "", "a", secretA, sigNow), ""
		}, keys: Keys{"a": secretB}, want: ErrBadSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k := keys
			if tc.keys != nil {
				k = tc.keys
			}
			v := &Verifier{Keys: k, Now: func() time.Time { return sigNow }}
			r, body := tc.req(t)
			err := v.Verify(r, r.RequestURI, []byte(body))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStringToSignIsDocumented(t *testing.T) {
	// The README's openssl example depends on this exact layout.
	got := StringToSign("GET", "/api/v1/delivery-configs?limit=2", "1795000000", BodySHA256(nil))
	want := "LOGROUTER-HMAC-SHA256\nGET\n/api/v1/delivery-configs?limit=2\n1795000000\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got != want {
		t.Fatalf("got %q", got)
	}
}

func TestParseKeys(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    int
		wantErr string
	}{
		"two keys with comments": {in: "# rotation\nold=" + string(secretA) + "\n\n new = " + string(secretB) + " \n", want: 2},
		"secret with equals":     {in: "k=abc=def=0123456789==\n", want: 1},
		"missing equals":         {in: "justasecret0123456789\n", wantErr: "line 1"},
		"short secret":           {in: "k=short\n", wantErr: "shorter"},
		"bad key id":             {in: "k y=" + string(secretA), wantErr: "key id"},
		"duplicate id":           {in: "k=" + string(secretA) + "\nk=" + string(secretB), wantErr: "duplicate"},
		"empty":                  {in: "# nothing\n", wantErr: "no keys"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			keys, err := ParseKeys(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), string(secretA)) || strings.Contains(err.Error(), string(secretB)) {
					t.Fatalf("error reveals a secret: %v", err)
				}
				return
			}
			if err != nil || len(keys) != tc.want {
				t.Fatalf("got %d keys, %v", len(keys), err)
			}
		})
	}
	keys, _ := ParseKeys(strings.NewReader("k=abc=def=0123456789==\n"))
	if string(keys["k"]) != "abc=def=0123456789==" {
		t.Fatalf("secret %q", keys["k"])
	}
}
