package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/cwlfake"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// countingStore counts the progress table's requests.
type countingStore struct {
	LeaseStore
	mu     sync.Mutex
	puts   []Progress
	leases int
}

func (c *countingStore) Put(ctx context.Context, id string, p Progress) error {
	c.mu.Lock()
	c.puts = append(c.puts, p)
	c.mu.Unlock()
	return c.LeaseStore.Put(ctx, id, p)
}

func (c *countingStore) Lease(ctx context.Context, id, owner string, ttl time.Duration) (Lease, error) {
	c.mu.Lock()
	c.leases++
	c.mu.Unlock()
	return c.LeaseStore.Lease(ctx, id, owner, ttl)
}

// An object delivered by one PutLogEvents request costs the progress table one lease (a write that reads)
// and one final write: no checkpoint repeats what the final write records.
func TestE2EOneRequestObjectWritesProgressOnce(t *testing.T) {
	srv := cwlfake.Start(t)
	e := newE2E(t, false, srv.URL)
	id := testaws.Name("small")
	e.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole("small"), LogGroupName: "/small/" + id})
	e.put("c1/"+id+"/app/p/small.json.gz", bigLines(200, 100, time.Now().Add(-time.Hour), false))
	cs := &countingStore{}
	rt := e.runtime(prometheus.NewRegistry(), func(o *Options) {
		cs.LeaseStore = o.Progress.(LeaseStore)
		o.Progress = cs
		o.CheckpointInterval = time.Hour // only acknowledgements trigger checkpoints here, not the clock
	})
	e.pollUntilDrained(rt, 2*time.Minute)
	require.Len(t, srv.Fake.Puts(), 1, "one request")
	cs.mu.Lock()
	defer cs.mu.Unlock()
	assert.Equal(t, 1, cs.leases)
	require.Len(t, cs.puts, 1, "one progress write: %+v", cs.puts)
	assert.True(t, cs.puts[0].Done)
	assert.EqualValues(t, 200, cs.puts[0].Acked)
}
