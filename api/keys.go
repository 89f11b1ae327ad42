package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logrouter/logrouter/tenant"
)

// Keys maps key ids to signing secrets. Several ids may be valid at once, for rotation.
type Keys map[string][]byte

// Scope restricts what a key may do. The zero Scope is today's full access.
type Scope struct {
	// Tenants the key may manage: exact tenant ids, or prefixes written with a trailing "*" ("team-*"). Nil:
	// every tenant and the all-tenants routes; non-nil: only routes with a {tenant_id} it allows.
	Tenants []string
	// ReadOnly keys may only read (GET, HEAD).
	ReadOnly bool
	// Expires: the key is refused from then on (zero: never).
	Expires time.Time
}

// Scoped reports whether the scope restricts tenants.
func (s Scope) Scoped() bool { return s.Tenants != nil }

// AllowsTenant reports whether the scope covers tenantID.
func (s Scope) AllowsTenant(tenantID string) bool {
	if s.Tenants == nil {
		return true
	}
	for _, p := range s.Tenants {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(tenantID, prefix) {
				return true
			}
		} else if p == tenantID {
			return true
		}
	}
	return false
}

// KeySet is a parsed keys file: the secrets and the scopes of the keys that have one.
type KeySet struct {
	Keys   Keys
	Scopes map[string]Scope
}

// ParseKeySet reads a keys file. Each key is a "key_id=secret" line; blank lines and lines starting with # are
// ignored. Key ids are 1-64 of [A-Za-z0-9._-]; secrets are at least MinSecretLength bytes (everything after the
// first "=", trimmed). A key may be restricted by a scope line, anywhere in the file:
//
//	@key_id [tenants=ID|PREFIX*[,...]] [access=read|read-write] [expires=RFC3339]
//
// tenants limits the key to those tenants (exact ids, or prefixes with a trailing *) and denies it the
// all-tenants routes; access=read allows only reads; expires refuses the key from that instant. A key without
// a scope line has full access. Errors name the line, never the secret.
func ParseKeySet(r io.Reader) (*KeySet, error) {
	set := &KeySet{Keys: Keys{}, Scopes: map[string]Scope{}}
	scopeLines := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "@"); ok {
			id, scope, err := parseScope(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			if _, dup := set.Scopes[id]; dup {
				return nil, fmt.Errorf("line %d: second scope line for key %s", n, id)
			}
			set.Scopes[id], scopeLines[id] = scope, n
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
		if _, dup := set.Keys[id]; dup {
			return nil, fmt.Errorf("line %d: duplicate key id %s", n, id)
		}
		set.Keys[id] = []byte(secret)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("no keys")
	}
	for id, n := range scopeLines {
		if _, ok := set.Keys[id]; !ok {
			return nil, fmt.Errorf("line %d: scope for key %s, which the file does not define", n, id)
		}
	}
	return set, nil
}

func parseScope(line string) (string, Scope, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 || !keyIDRE.MatchString(fields[0]) {
		return "", Scope{}, errors.New("want @key_id followed by tenants=, access= or expires=")
	}
	id := fields[0]
	var s Scope
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		name, value, ok := strings.Cut(f, "=")
		if !ok || value == "" {
			return "", Scope{}, fmt.Errorf("key %s: %q is not name=value", id, f)
		}
		if seen[name] {
			return "", Scope{}, fmt.Errorf("key %s: %s given twice", id, name)
		}
		seen[name] = true
		switch name {
		case "tenants":
			s.Tenants = []string{}
			for _, p := range strings.Split(value, ",") {
				exact := strings.TrimSuffix(p, "*")
				if exact == "" && p == "*" {
					return "", Scope{}, fmt.Errorf("key %s: tenants=* would allow every tenant; leave tenants out for that", id)
				}
				if strings.Contains(exact, "*") || (exact == p && tenant.ValidateTenantID(p) != nil) ||
					(exact != p && !tenantPrefixRE(exact)) {
					return "", Scope{}, fmt.Errorf("key %s: %q is neither a tenant id nor a tenant id prefix followed by *", id, p)
				}
				s.Tenants = append(s.Tenants, p)
			}
		case "access":
			switch value {
			case "read":
				s.ReadOnly = true
			case "read-write":
			default:
				return "", Scope{}, fmt.Errorf("key %s: access must be read or read-write, not %q", id, value)
			}
		case "expires":
			t, err := time.Parse(time.RFC3339, value)
			if err != nil {
				return "", Scope{}, fmt.Errorf("key %s: expires must be an RFC 3339 time (2027-01-31T00:00:00Z): %v", id, err)
			}
			s.Expires = t
		default:
			return "", Scope{}, fmt.Errorf("key %s: unknown setting %q (want tenants, access or expires)", id, name)
		}
	}
	if len(fields) == 1 {
		return "", Scope{}, fmt.Errorf("key %s: an empty scope line; give tenants=, access= or expires=", id)
	}
	return id, s, nil
}

// tenantPrefixRE reports whether p can start a tenant id (lowercase letters, digits and "-", starting with a
// letter or digit).
func tenantPrefixRE(p string) bool {
	if p == "" || len(p) > 63 || p[0] == '-' {
		return false
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ParseKeys reads a keys file of unscoped keys (see ParseKeySet). A file with scope lines is an error here,
// so that a scope is never dropped silently: use ParseKeySet.
func ParseKeys(r io.Reader) (Keys, error) {
	set, err := ParseKeySet(r)
	if err != nil {
		return nil, err
	}
	if len(set.Scopes) > 0 {
		return nil, errors.New("the file scopes keys (@ lines); read it with ParseKeySet")
	}
	return set.Keys, nil
}

// LoadKeysFile reads a keys file of unscoped keys (see ParseKeys).
func LoadKeysFile(path string) (Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read API keys: %w", err)
	}
	keys, err := ParseKeys(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("API keys file %s: %w", path, err)
	}
	return keys, nil
}

// KeyRing holds the current KeySet, reloadable from its file while the server runs. It is safe for
// concurrent use.
type KeyRing struct {
	path string
	cur  atomic.Pointer[KeySet]

	mu      sync.Mutex // serialises reloads
	lastSum [sha256.Size]byte
	// OnReload, when set, is called after every reload attempt with its error (nil: new keys in use).
	OnReload func(error)
}

// NewKeyRing returns a ring holding set, with no file to reload from.
func NewKeyRing(set *KeySet) *KeyRing {
	k := &KeyRing{}
	k.cur.Store(set)
	return k
}

// LoadKeyRing reads the keys file at path.
func LoadKeyRing(path string) (*KeyRing, error) {
	k := &KeyRing{path: path}
	if _, err := k.load(true); err != nil {
		return nil, err
	}
	return k, nil
}

// Current returns the keys in use.
func (k *KeyRing) Current() *KeySet { return k.cur.Load() }

// Reload re-reads the file. When the new file is invalid (or unreadable) the keys in use are kept and the
// error says why; it never contains a secret.
func (k *KeyRing) Reload() error {
	_, err := k.load(true)
	return err
}

// ReloadIfChanged reloads when the file's content differs from what was last read (valid or not); it
// reports whether it tried.
func (k *KeyRing) ReloadIfChanged() (bool, error) { return k.load(false) }

func (k *KeyRing) load(force bool) (bool, error) {
	if k.path == "" {
		return false, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b, err := os.ReadFile(k.path)
	if err != nil {
		err = fmt.Errorf("read API keys: %w", err)
		k.notify(err)
		return true, err
	}
	sum := sha256.Sum256(b)
	if !force && sum == k.lastSum {
		return false, nil
	}
	k.lastSum = sum
	set, err := ParseKeySet(bytes.NewReader(b))
	if err != nil {
		err = fmt.Errorf("API keys file %s: %w", k.path, err)
		k.notify(err)
		return true, err
	}
	k.cur.Store(set)
	k.notify(nil)
	return true, nil
}

func (k *KeyRing) notify(err error) {
	if k.OnReload != nil {
		k.OnReload(err)
	}
}

// Watch reloads the file on every value from signals (e.g. SIGHUP) and whenever its content changes (checked
// every interval), until ctx ends. Outcomes are logged: the number of keys after a reload, or why the new file
// was refused and the old keys kept.
func (k *KeyRing) Watch(ctx context.Context, interval time.Duration, signals <-chan os.Signal, logger *slog.Logger) {
	if k.path == "" {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		var tried bool
		var err error
		select {
		case <-ctx.Done():
			return
		case <-signals:
			tried, err = true, k.Reload()
		case <-tick.C:
			tried, err = k.ReloadIfChanged()
		}
		switch {
		case err != nil:
			logger.Error("API keys not reloaded; keeping the keys in use", "error", err)
		case tried:
			logger.Info("API keys reloaded", "file", k.path, "keys", len(k.Current().Keys), "scoped", len(k.Current().Scopes))
		}
	}
}
