package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/logrouter/logrouter/api"
)

// apiClientFlags are the settings of a command that calls the API: its URL, the signing key's id and the
// key's secret. The secret's settings are named for what they hold (LOGROUTER_API_SECRET[_FILE]); the
// older LOGROUTER_API_KEY[_FILE] still work, with a warning (the server's keys file is
// LOGROUTER_API_KEYS_FILE, one letter away, which made them easy to confuse).
type apiClientFlags struct {
	url, keyID, secret, secretFile string
}

func (a *apiClientFlags) register(fs *flagSet) {
	fs.String(&a.url, "api-url", "LOGROUTER_API_URL", "http://127.0.0.1:8080", "API base URL")
	fs.String(&a.keyID, "api-key-id", "LOGROUTER_API_KEY_ID", "", "signing key id (required)")
	fs.String(&a.secretFile, "api-secret-file", "LOGROUTER_API_SECRET_FILE", "", "file holding only the signing key's secret (required, or --api-secret)")
	fs.String(&a.secret, "api-secret", "LOGROUTER_API_SECRET", "", "the signing key's secret (prefer --api-secret-file: a flag shows in the process list)")
	fs.Deprecated("api-key-file", "LOGROUTER_API_KEY_FILE", "api-secret-file")
	fs.Deprecated("api-key", "LOGROUTER_API_KEY", "api-secret")
}

// client returns a signing client, or a usage error that names every missing or wrong setting at once.
func (a *apiClientFlags) client() (*api.Client, error) {
	var problems []string
	if a.keyID == "" {
		problems = append(problems, "--api-key-id (LOGROUTER_API_KEY_ID) is required")
	}
	secret, err := a.readSecret()
	if err != nil {
		var ue usageError
		if !errors.As(err, &ue) {
			return nil, err
		}
		problems = append(problems, ue.msg)
	}
	if len(problems) > 0 {
		return nil, usagef("%s", strings.Join(problems, "; "))
	}
	c, err := api.NewClient(a.url, a.keyID, secret)
	if err != nil {
		return nil, usagef("--api-url (LOGROUTER_API_URL): %v", err)
	}
	return c, nil
}

func (a *apiClientFlags) readSecret() ([]byte, error) {
	switch {
	case a.secret != "" && a.secretFile != "":
		return nil, usagef("give either --api-secret or --api-secret-file, not both")
	case a.secret != "":
		if looksLikeKeysFile([]byte(a.secret)) {
			return nil, usagef("--api-secret (LOGROUTER_API_SECRET) holds a key_id=secret line of the server's keys file; give only the secret")
		}
		return []byte(a.secret), nil
	case a.secretFile != "":
		b, err := os.ReadFile(a.secretFile)
		if err != nil {
			return nil, fmt.Errorf("read the signing secret: %w", err)
		}
		s := bytes.TrimSpace(b)
		if len(s) == 0 {
			return nil, fmt.Errorf("signing secret file %s is empty", a.secretFile)
		}
		if looksLikeKeysFile(s) {
			id := a.keyID
			if id == "" {
				id = "KEY_ID"
			}
			return nil, usagef("%s looks like the server's keys file (key_id=secret lines, LOGROUTER_API_KEYS_FILE); "+
				"--api-secret-file wants a file holding only the secret of key %s, e.g.: sed -n 's/^%s=//p' %s > %s.secret",
				a.secretFile, id, id, a.secretFile, id)
		}
		return s, nil
	}
	return nil, usagef("a signing secret is required: --api-secret-file (LOGROUTER_API_SECRET_FILE) or LOGROUTER_API_SECRET")
}

// looksLikeKeysFile reports whether b reads as the server's keys file (key_id=secret lines) rather than a
// bare secret. A bare secret never parses as one: a base64 secret's "=" padding leaves no secret after it.
func looksLikeKeysFile(b []byte) bool {
	if !bytes.Contains(b, []byte("=")) {
		return false
	}
	_, err := api.ParseKeySet(bytes.NewReader(b)) // with or without scope lines
	return err == nil
}

// explain adds to an API error what the user can do about it: for a 401, the usual causes.
func (a *apiClientFlags) explain(err error) error {
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		return err
	}
	from := "--api-secret (LOGROUTER_API_SECRET)"
	if a.secretFile != "" {
		from = a.secretFile
	}
	return fmt.Errorf("%w\nthe API refused the request's signature; the usual causes:\n"+
		"  - clock skew: this machine's clock (%s) is more than %s away from the server's\n"+
		"  - wrong key id: %q is not a key of the server's keys file (LOGROUTER_API_KEYS_FILE)\n"+
		"  - wrong secret: %s does not hold the secret the server's keys file has for %q",
		err, time.Now().UTC().Format(time.RFC3339), api.MaxClockSkew, a.keyID, from, a.keyID)
}
