package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/cwlfake"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// countingStore records the progress store's calls.
type countingStore struct {
	LeaseStore
	mu     sync.Mutex
	puts   []ProgressUpdate
	leases int
}

func (c *countingStore) Put(ctx context.Context, id string, u ProgressUpdate) error {
	c.mu.Lock()
	c.puts = append(c.puts, u)
	c.mu.Unlock()
	return c.LeaseStore.Put(ctx, id, u)
}

func (c *countingStore) Lease(ctx context.Context, id, owner string, ttl time.Duration, dests []string) (Lease, error) {
	c.mu.Lock()
	c.leases++
	c.mu.Unlock()
	return c.LeaseStore.Lease(ctx, id, owner, ttl, dests)
}

// countingDynamoDB counts the requests that reach the progress table.
type countingDynamoDB struct {
	DynamoDBAPI
	mu            sync.Mutex
	gets, updates int
}

func (c *countingDynamoDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.DynamoDBAPI.GetItem(ctx, in, o...)
}

func (c *countingDynamoDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	c.updates++
	c.mu.Unlock()
	return c.DynamoDBAPI.UpdateItem(ctx, in, o...)
}

// Objects delivered by one PutLogEvents request each, to a tenant with a CloudWatch and an S3 destination,
// cost the progress table two writes per object and no read: the lease (which returns every destination's
// progress) and one final write that records both destinations and ends the lease. No checkpoint repeats
// what the final write records; a redelivery of a delivered object costs one write and takes no lease.
func TestE2EOneRequestObjectWritesProgressOnce(t *testing.T) {
	srv := cwlfake.Start(t)
	e := newE2E(t, false, srv.URL)
	id := testaws.Name("small")
	archive := testaws.Name("small-archive")
	e.bucket(archive)
	group := "/small/" + id
	e.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole("small"), LogGroupName: group})
	s3cfg := tenant.Config{TenantID: id, Type: tenant.TypeS3, BucketName: archive}
	e.config(s3cfg)
	const objects = 3
	keys, copies := make([]string, objects), make([]string, objects)
	for i := range objects {
		keys[i] = fmt.Sprintf("c1/%s/app/p%d/small.json.gz", id, i)
		e.put(keys[i], bigLines(200, 100, time.Now().Add(-time.Hour), false))
		k, err := ParseObjectKey(keys[i])
		require.NoError(t, err)
		copies[i] = k.DestinationKey(s3cfg.EffectiveBucketPrefix())
	}
	ddb := &countingDynamoDB{DynamoDBAPI: e.ddb}
	cs := &countingStore{LeaseStore: NewDynamoDBProgress(ddb, e.progressTable, 0)}
	rt := e.runtime(prometheus.NewRegistry(), func(o *Options) {
		o.Progress = cs
		o.CheckpointInterval = time.Hour // only acknowledgements trigger checkpoints here, not the clock
	})
	e.pollUntilDrained(rt, 2*time.Minute)
	require.Len(t, srv.Fake.Puts(), objects, "one request per object")
	for _, k := range copies {
		_, err := e.s3.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: &archive, Key: &k})
		require.NoError(t, err, "copied %s", k)
	}
	cwKey := func(i int) string {
		return progressDestKey(cloudWatchDestKey(testaws.Region, group, fmt.Sprintf("p%d", i)))
	}
	s3Key := func(i int) string { return progressDestKey(s3DestKey(testaws.Region, archive, copies[i])) }

	check := func() {
		t.Helper()
		cs.mu.Lock()
		defer cs.mu.Unlock()
		ddb.mu.Lock()
		defer ddb.mu.Unlock()
		assert.Equal(t, objects, cs.leases, "one lease per object")
		require.Len(t, cs.puts, objects, "one progress write per object: %+v", cs.puts)
		assert.Equal(t, 2*objects, ddb.updates, "UpdateItem: lease + final write per object")
		assert.Zero(t, ddb.gets, "GetItem")
		finals := map[string]Progress{}
		for _, u := range cs.puts {
			assert.NotEmpty(t, u.Owner, "the final write ends the lease")
			require.Len(t, u.Dests, 2, "both destinations in one write")
			for k, p := range u.Dests {
				finals[k] = p
			}
		}
		for i := range objects {
			assert.Equal(t, Progress{Done: true, Acked: 200}, finals[cwKey(i)], "CloudWatch of object %d", i)
			assert.Equal(t, Progress{Done: true}, finals[s3Key(i)], "S3 of object %d", i)
		}
	}
	check()

	// Redeliveries of a delivered object: one refused lease write each, nothing else, nothing sent.
	for range 2 {
		res := rt.Processor.ProcessObject(e.ctx, ObjectRef{Bucket: e.central, Key: keys[1]})
		require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
		require.Len(t, res.Destinations, 2)
		for _, d := range res.Destinations {
			assert.True(t, d.AlreadyDone, "%+v", d)
		}
	}
	require.Len(t, srv.Fake.Puts(), objects, "nothing sent again")
	cs.mu.Lock()
	defer cs.mu.Unlock()
	ddb.mu.Lock()
	defer ddb.mu.Unlock()
	assert.Equal(t, objects+2, cs.leases)
	assert.Len(t, cs.puts, objects, "no write but the lease for a delivered object")
	assert.Equal(t, 2*objects+2, ddb.updates)
	assert.Zero(t, ddb.gets)
}
