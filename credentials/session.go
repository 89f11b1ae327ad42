package credentials

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

const (
	// centralSessionName is the session name of the central hop.
	centralSessionName = "logrouter-central"
	sessionPrefix      = "logrouter-"
	maxSessionName     = 64
	sessionHashLen     = 8
)

// sessionName returns the customer hop's RoleSessionName for tenantID: "logrouter-" and the tenant id,
// within AWS's charset [\w+=,.@-] and 64 characters. When the id had to be altered (characters replaced or
// the name truncated), a hash of the original id is appended so that distinct tenants keep distinct names.
func sessionName(tenantID string) string {
	if tenantID == "" {
		return "logrouter"
	}
	var b strings.Builder
	b.Grow(len(sessionPrefix) + len(tenantID))
	b.WriteString(sessionPrefix)
	altered := false
	for _, r := range tenantID {
		if r < utf8.RuneSelf && sessionChar(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
			altered = true
		}
	}
	name := b.String()
	if !altered && len(name) <= maxSessionName {
		return name
	}
	sum := sha256.Sum256([]byte(tenantID))
	suffix := "-" + hex.EncodeToString(sum[:])[:sessionHashLen]
	if keep := maxSessionName - len(suffix); len(name) > keep {
		name = name[:keep] // ASCII only by now: any byte boundary is safe
	}
	return name + suffix
}

func sessionChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_+=,.@-", c) >= 0
}
