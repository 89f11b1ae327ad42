package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Without a source bucket the usage error names the setting to give, also when --bucket is given (the bucket
// must be one of the source buckets), instead of "no central bucket" that no flag or variable is called.
func TestReplayWithoutSourceBucketsNamesTheSetting(t *testing.T) {
	for name, args := range map[string][]string{
		"no bucket":         {"replay", "--tenant", "acme-corp", "--since", "48h", "--dry-run"},
		"bucket, no source": {"replay", "--tenant", "acme-corp", "--since", "48h", "--dry-run", "--bucket", "central"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, stderr := runCmd(t, map[string]string{"LOGROUTER_CENTRAL_BUCKET": "central"}, "", args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			assert.Contains(t, stderr, "--source-buckets (LOGROUTER_SOURCE_BUCKETS)")
		})
	}
}
