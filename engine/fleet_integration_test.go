package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/cwlfake"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

var errKilled = errors.New("process killed")

// killableStore is a process's progress table client: once the process is killed nothing reaches the
// table. The process is killed right after it records its first mid-object checkpoint.
type killableStore struct {
	LeaseStore
	dead *atomic.Bool
	kill func()
}

func (k *killableStore) Put(ctx context.Context, id string, u ProgressUpdate) error {
	if k.dead.Load() {
		return errKilled
	}
	for _, p := range u.Dests {
		if !p.Done && p.ackState().Count() > 0 {
			err := k.LeaseStore.Put(ctx, id, u)
			k.dead.Store(true)
			k.kill()
			return err
		}
	}
	return k.LeaseStore.Put(ctx, id, u)
}

func (k *killableStore) Get(ctx context.Context, id string) (ObjectProgress, error) {
	if k.dead.Load() {
		return nil, errKilled
	}
	return k.LeaseStore.Get(ctx, id)
}

func (k *killableStore) Lease(ctx context.Context, id, owner string, ttl time.Duration, dests []string) (Lease, error) {
	if k.dead.Load() {
		return Lease{}, errKilled
	}
	return k.LeaseStore.Lease(ctx, id, owner, ttl, dests)
}

func (k *killableStore) Unlease(ctx context.Context, id, owner string) error {
	if k.dead.Load() {
		return errKilled
	}
	return k.LeaseStore.Unlease(ctx, id, owner)
}

// killableSQS is a process's queue client: dead once the process is killed (nothing deleted, nothing made
// visible again: its messages come back when their visibility timeout expires).
type killableSQS struct {
	SQSAPI
	dead *atomic.Bool
}

func (k killableSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if k.dead.Load() {
		return nil, errKilled
	}
	return k.SQSAPI.ReceiveMessage(ctx, in, o...)
}

func (k killableSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, o ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if k.dead.Load() {
		return nil, errKilled
	}
	return k.SQSAPI.DeleteMessageBatch(ctx, in, o...)
}

func (k killableSQS) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, o ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	if k.dead.Load() {
		return nil, errKilled
	}
	return k.SQSAPI.ChangeMessageVisibility(ctx, in, o...)
}

func (k killableSQS) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, o ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	if k.dead.Load() {
		return nil, errKilled
	}
	return k.SQSAPI.ChangeMessageVisibilityBatch(ctx, in, o...)
}

// TestE2EFleetExactlyOnce: three pollers on one queue, every notification sent twice, the first poller
// killed mid-object (right after its first checkpoint). Nothing is lost; the other two pollers, receiving
// the same objects at once, deliver each exactly once (leases); only events the killed poller had stored
// without a checkpoint — its requests in flight at the kill — are sent twice.
func TestE2EFleetExactlyOnce(t *testing.T) {
	srv := cwlfake.Start(t)
	e := newE2E(t, false, srv.URL)
	id := testaws.Name("fleet")
	group := "/fleet/" + id
	e.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole("fleet"), LogGroupName: group})
	const objects = 6
	want := map[string][]logEvent{} // by stream (one object per pod)
	base := time.Now().Add(-time.Hour)
	for i := range objects {
		pod := fmt.Sprintf("p%d", i)
		body := bigLines(8_000, 1000, base, false)
		want[pod] = expected(t, body, time.Time{})
		key := fmt.Sprintf("c1/%s/app/%s/big.json.gz", id, pod)
		e.put(key, body) // S3 notifies the queue once
		dup := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`, e.central, key)
		_, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: &e.queueURL, MessageBody: aws.String(dup)})
		require.NoError(t, err) // and once more
	}
	leaseTTL := func(o *Options) { o.LeaseTTL = 3 * time.Second }
	pollerOpts := func(rt *Runtime) PollerOptions {
		po := e.pollerOptions(rt)
		po.Visibility = 5 * time.Second
		return po
	}

	// The first poller runs alone until it is killed mid-object; the endpoint stores at most 8 of its
	// requests (so the kill comes mid-object whatever the machine's speed).
	srv.Fake.HoldPutsAfter(8)
	var dead atomic.Bool
	killCtx, kill := context.WithCancel(e.ctx)
	rt1 := e.runtime(prometheus.NewRegistry(), leaseTTL, func(o *Options) {
		ls, ok := o.Progress.(LeaseStore)
		require.True(t, ok, "the DynamoDB progress store leases")
		o.Progress = &killableStore{LeaseStore: ls, dead: &dead, kill: kill}
	})
	po := pollerOpts(rt1)
	po.Grace = time.Nanosecond // killed: in-flight work is abandoned at once
	p1, err := NewPoller(killableSQS{SQSAPI: rt1.SQS, dead: &dead}, rt1.Processor, po)
	require.NoError(t, err)
	done1 := make(chan error, 1)
	go func() { done1 <- p1.Run(killCtx) }()
	<-killCtx.Done()
	require.NoError(t, <-done1)
	require.True(t, dead.Load(), "the first poller was killed by its checkpoint")
	require.Eventually(t, func() bool { return srv.Fake.Active() == 0 }, time.Minute, 5*time.Millisecond, "the killed poller's requests settle")
	storedAtKill := srv.Fake.EventCount()
	srv.Fake.ReleasePuts()

	// Two more pollers drain the queue together.
	ctx, stop := context.WithCancel(e.ctx)
	var dones []chan error
	var rts []*Runtime
	for range 2 {
		rt := e.runtime(prometheus.NewRegistry(), leaseTTL)
		rts = append(rts, rt)
		p, err := NewPoller(rt.SQS, rt.Processor, pollerOpts(rt))
		require.NoError(t, err)
		d := make(chan error, 1)
		go func() { d <- p.Run(ctx) }()
		dones = append(dones, d)
	}
	require.Eventually(t, func() bool { return e.queued() == 0 }, 3*time.Minute, 100*time.Millisecond, "the queue drains")
	stop()
	for _, d := range dones {
		require.NoError(t, <-d)
	}

	dupStreams, dupTotal, leased := 0, 0, 0.0
	for _, rt := range rts {
		leased += value(rt.Metrics.Leased)
	}
	for pod, w := range want {
		counts := multiset(fakeEvents(srv, group, pod))
		dup := 0
		for i, ev := range w {
			switch c := counts[ev]; {
			case c == 0:
				t.Fatalf("%s: event %d lost", pod, i)
			case c > 2:
				t.Fatalf("%s: event %d delivered %d times", pod, i, c)
			case c == 2:
				dup++
			}
		}
		if dup > 0 {
			dupStreams++
		}
		dupTotal += dup
		t.Logf("%s: %d events, %d sent twice", pod, len(w), dup)
	}
	assert.LessOrEqual(t, dupStreams, 4, "only objects the killed poller was delivering (4 workers) have duplicates")
	assert.LessOrEqual(t, int64(dupTotal), storedAtKill, "only events the killed poller had stored are sent twice")
	assert.LessOrEqual(t, storedAtKill, int64(8*perRequest))
	t.Logf("stored at the kill: %d events; deliveries found leased by another poller: %.0f", storedAtKill, leased)
}
