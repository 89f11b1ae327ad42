package credentials

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

var sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func TestSessionName(t *testing.T) {
	long := strings.Repeat("t", 100)
	tests := map[string]struct {
		tenant string
		want   string // exact, or a prefix when wantPrefix
		prefix bool
	}{
		"plain":                 {tenant: "acme-corp", want: "logrouter-acme-corp"},
		"every allowed char":    {tenant: "a_B+=,.@-9", want: "logrouter-a_B+=,.@-9"},
		"empty":                 {tenant: "", want: "logrouter"},
		"exactly 64":            {tenant: strings.Repeat("x", 54), want: "logrouter-" + strings.Repeat("x", 54)},
		"65 is truncated":       {tenant: strings.Repeat("x", 55), want: "logrouter-" + strings.Repeat("x", 45) + "-", prefix: true},
		"long":                  {tenant: long, want: "logrouter-" + strings.Repeat("t", 45) + "-", prefix: true},
		"space and slash":       {tenant: "acme corp/prod", want: "logrouter-acme_corp_prod-", prefix: true},
		"multibyte is one char": {tenant: "zürich", want: "logrouter-z_rich-", prefix: true},
		"control characters":    {tenant: "a\nb\x00", want: "logrouter-a_b_-", prefix: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := sessionName(tc.tenant)
			assert.Regexp(t, sessionNamePattern, got)
			if tc.prefix {
				assert.True(t, strings.HasPrefix(got, tc.want), "%q does not start with %q", got, tc.want)
				assert.Len(t, got, min(64, len(tc.want)+sessionHashLen))
			} else {
				assert.Equal(t, tc.want, got)
			}
		})
	}
}

func TestSessionNameKeepsTenantsApart(t *testing.T) {
	prefix := strings.Repeat("p", 80)
	pairs := [][2]string{
		{prefix + "a", prefix + "b"}, // differ only after the truncation point
		{"acme corp", "acme/corp"},   // differ only in replaced characters
		{"acme_corp", "acme corp"},   // one needs no replacement
	}
	for _, p := range pairs {
		assert.NotEqual(t, sessionName(p[0]), sessionName(p[1]), "%q vs %q", p[0], p[1])
	}
}

func FuzzSessionName(f *testing.F) {
	for _, s := range []string{"", "acme", "a b", strings.Repeat("é", 70), "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tenant string) {
		got := sessionName(tenant)
		if !sessionNamePattern.MatchString(got) {
			t.Fatalf("sessionName(%q) = %q: outside AWS's charset or length", tenant, got)
		}
	})
}
