package cost

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
)

func buildLogrouter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "logrouter")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/logrouter/logrouter/cmd/logrouter").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// TestRunCountsADeliveredBacklog runs a small cost run against the emulator: every object must reach both
// destinations (Run verifies it), and the per-object operations must be counted exactly once per object.
func TestRunCountsADeliveredBacklog(t *testing.T) {
	ep := testaws.Endpoint(t)
	bin := buildLogrouter(t)
	ctx := testaws.Context(t, 4*time.Minute)

	r, err := Run(ctx, Options{Exe: bin, Endpoint: ep, Tenants: 2, PodsPerTenant: 2, Objects: 24, Timeout: 3 * time.Minute})
	require.NoError(t, err)
	assert.Equal(t, 24, r.Objects)
	assert.Equal(t, 4, r.Streams)
	rows := map[string]Row{}
	for _, row := range r.Rows {
		rows[row.Operation] = row
	}
	assert.Equal(t, 24, rows["S3 GetObject"].Calls, "one read per object")
	assert.Equal(t, 24, rows["S3 CopyObject"].Calls, "one copy per object and S3 destination")
	assert.GreaterOrEqual(t, rows["CloudWatch PutLogEvents"].Calls, 24, "every object was sent")
	assert.GreaterOrEqual(t, rows["SQS ReceiveMessage"].Calls, 3, "24 messages need at least 3 receives")
	assert.GreaterOrEqual(t, rows["STS AssumeRole"].Calls, 3, "central role and two customer roles")
	assert.Positive(t, r.DollarsPerMillionObjects)
	assert.Positive(t, r.UpstreamPerMillionObjects)
	for _, s := range specs {
		assert.Contains(t, rows, s.name)
	}
}

// TestRunRefusesAnIncompleteDelivery: when the processor delivers nothing (the objects' bucket is not one it
// accepts, so every message is dropped), Run reports the shortfall instead of counts.
func TestRunRefusesAnIncompleteDelivery(t *testing.T) {
	ep := testaws.Endpoint(t)
	bin := buildLogrouter(t)
	ctx := testaws.Context(t, 4*time.Minute)

	_, err := Run(ctx, Options{Exe: bin, Endpoint: ep, Tenants: 1, PodsPerTenant: 1, Objects: 3, Timeout: 3 * time.Minute,
		Env: []string{"LOGROUTER_SOURCE_BUCKETS=some-other-bucket"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not deliver everything")
	assert.Contains(t, err.Error(), "0 events, want")
}
