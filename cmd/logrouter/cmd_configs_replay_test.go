package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/replay"
	"github.com/logrouter/logrouter/tenant"
)

func TestPrintReplays(t *testing.T) {
	since := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	running := replay.Job{ID: "r-1", TenantID: "acme", State: replay.JobRunning, CreatedAt: time.Now().Add(-time.Minute),
		Request:  replay.JobRequest{Since: since, Types: []tenant.Type{tenant.TypeCloudWatch}},
		Progress: replay.JobProgress{Enqueued: 10, InWindow: 25, TooOld: 2}, NextStartAfter: "c1/acme/app/pod/f09"}
	failed := replay.Job{ID: "r-0", TenantID: "acme", State: replay.JobFailed, Error: "list s3://central/c1/acme/: AccessDenied",
		Request: replay.JobRequest{Force: true}}
	for name, tc := range map[string]struct {
		doc  any
		want []string
	}{
		"one job": {doc: running, want: []string{"r-1", "running", "10/25", "2", "after c1/acme/app/pod/f09", "cloudwatch", "2026-12-03T08:00:00Z .. -"}},
		"list":    {doc: api.ReplayList{Items: []replay.Job{running, failed}}, want: []string{"r-1", "r-0", "failed", "AccessDenied", "all (force)"}},
		"empty":   {doc: api.ReplayList{Items: []replay.Job{}}, want: []string{"no replay jobs"}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(tc.doc)
			require.NoError(t, err)
			var out bytes.Buffer
			require.NoError(t, printReplays(&out, b))
			for _, w := range tc.want {
				assert.Contains(t, out.String(), w)
			}
			if name == "list" {
				assert.Len(t, strings.Split(strings.TrimSpace(out.String()), "\n"), 3, "header and two rows")
			}
		})
	}
}
