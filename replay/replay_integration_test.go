package replay

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

const role = "arn:aws:iam::" + testaws.AccountID + ":role/customer"

// A tenant's role is broken for a while: the objects written then miss CloudWatch (their S3 copies
// succeed). After the fix, a CloudWatch replay of the window delivers exactly the missed events, none of
// those already delivered twice, and copies nothing to S3 again. --force then re-delivers, once per replay
// id.
func TestReplayAfterBrokenRole(t *testing.T) {
	w := newWorld(t)
	id := testaws.Name("acme")
	group := "/replay/" + id
	w.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: role, LogGroupName: group})
	w.config(tenant.Config{TenantID: id, Type: tenant.TypeS3, BucketName: w.archive, BucketPrefix: "logs/"})
	other := testaws.Name("other")
	w.config(tenant.Config{TenantID: other, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: role, LogGroupName: "/replay/" + other})
	p := w.processor()

	now := time.Now().UTC()
	ev := now.Add(-6 * time.Hour)
	objs := []object{
		w.put("c1/"+id+"/api/p1/f1.json.gz", 40, ev, now.Add(-5*time.Hour)),
		w.put("c2/"+id+"/web/p2/f1.json.gz", 30, ev, now.Add(-4*time.Hour)),
		w.put("c1/"+id+"/api/p1/f2.json.gz", 50, ev.Add(time.Hour), now.Add(-3*time.Hour)), // role broken
		w.put("c2/"+id+"/web/p2/f2.json.gz", 20, ev.Add(time.Hour), now.Add(-2*time.Hour)), // role broken
		w.put("c1/"+id+"/web/p3/f1.json.gz", 10, ev.Add(2*time.Hour), now.Add(-time.Hour)),
	}
	otherObj := w.put("c1/"+other+"/api/p1/f1.json.gz", 5, ev, now.Add(-3*time.Hour))
	for i, o := range objs {
		w.setBroken(id, i == 2 || i == 3)
		res := p.ProcessObject(w.ctx, engine.ObjectRef{Bucket: w.central, Key: o.key})
		if i == 2 || i == 3 {
			require.Equal(t, engine.OutcomeRetry, res.Outcome)
			require.Equal(t, engine.ReasonAccessDenied, res.Reason)
		} else {
			require.Equal(t, engine.OutcomeSuccess, res.Outcome, "%+v", res)
		}
	}
	w.setBroken(id, false)
	require.Equal(t, engine.OutcomeSuccess, p.ProcessObject(w.ctx, engine.ObjectRef{Bucket: w.central, Key: otherObj.key}).Outcome)
	for i, o := range objs {
		n := 1
		if i == 2 || i == 3 {
			n = 0
		}
		w.requireDelivered(group, o, n)
	}
	require.Len(t, w.archived(), len(objs), "S3 copies succeed while the role is broken")

	// Replay CloudWatch for the window that holds the broken period (and the objects around it).
	spec := Spec{ID: "r-fix", Tenant: id, Bucket: w.central, Since: now.Add(-4*time.Hour - 30*time.Minute),
		Types: []tenant.Type{tenant.TypeCloudWatch}}
	require.NoError(t, spec.Validate([]string{w.central}))
	sum, err := Run(w.ctx, &spec, Options{Lister: w, Queue: w.sqs, QueueURL: w.queueURL, KeyID: "k1", Secret: testKeys["k1"]}, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 4, sum.Enqueued)
	assert.EqualValues(t, 4, sum.Messages)
	assert.EqualValues(t, 1, sum.BeforeWindow)
	assert.EqualValues(t, 5, sum.ObjectsListed, "the other tenant's objects are not listed")
	assert.EqualValues(t, 2, sum.ClustersListed)
	assert.False(t, sum.Interrupted)

	done, delivered := 0, 0
	for _, r := range w.drain(p, 4) {
		require.Equal(t, engine.OutcomeSuccess, r.Outcome, "%+v", r)
		require.Len(t, r.Objects, 1)
		o := r.Objects[0]
		assert.Equal(t, "r-fix", o.ReplayID)
		assert.Equal(t, 1, o.NotReplayed, "the S3 destination is not replayed")
		require.Len(t, o.Destinations, 1)
		require.Equal(t, tenant.TypeCloudWatch, o.Destinations[0].Type)
		if o.Destinations[0].AlreadyDone {
			done++
		} else {
			delivered++
		}
	}
	assert.Equal(t, 2, done)
	assert.Equal(t, 2, delivered)
	for _, o := range objs {
		w.requireDelivered(group, o, 1)
	}
	w.requireDelivered("/replay/"+other, otherObj, 1)
	assert.Len(t, w.archived(), len(objs), "a CloudWatch replay copies nothing to S3")

	// The same replay again, now in this process: everything is already there.
	spec.ID = "r-again"
	sum, err = Run(w.ctx, &spec, Options{Lister: w, Deliverer: p}, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 4, sum.Delivered)
	assert.EqualValues(t, 4, sum.AlreadyDone)
	assert.Zero(t, sum.Events)
	for _, o := range objs {
		w.requireDelivered(group, o, 1)
	}

	// --force duplicates the window's objects, once per replay id.
	spec.ID, spec.Force = "r-force", true
	for range 2 {
		sum, err = Run(w.ctx, &spec, Options{Lister: w, Deliverer: p, Workers: 2}, nil)
		require.NoError(t, err)
		assert.EqualValues(t, 4, sum.Delivered)
	}
	w.requireDelivered(group, objs[0], 1)
	for _, o := range objs[1:] {
		w.requireDelivered(group, o, 2)
	}
	assert.Len(t, w.archived(), len(objs))
}

// The window, cluster and application filters select exactly the right objects across clusters and listing
// pages; other tenants (also one whose id extends this one's) are never listed.
func TestReplayFilters(t *testing.T) {
	defer func(n int32) { listPage = n }(listPage)
	listPage = 2
	w := newWorld(t)
	id := testaws.Name("acme")
	now := time.Now().UTC()
	type put struct {
		key string
		age time.Duration
	}
	var all []put
	for _, c := range []string{"c1", "c2", "c3", "c3-x"} {
		for _, a := range []string{"api", "web", "api-v2"} {
			for i, age := range []time.Duration{30 * time.Hour, 10 * time.Hour, 2 * time.Hour} {
				all = append(all, put{c + "/" + id + "/" + a + "/pod/f" + string(rune('0'+i)) + ".json.gz", age})
			}
		}
		all = append(all, put{c + "/" + id + "-x/api/pod/f.json.gz", time.Hour})
	}
	for _, p := range all {
		w.put(p.key, 2, now.Add(-p.age), now.Add(-p.age))
	}
	tests := map[string]struct {
		clusters, apps []string
		since, until   time.Duration // ages; 0 = unbounded
		want           func(c, tenantID, app string, age time.Duration) bool
	}{
		"everything of the tenant": {want: func(c, tn, a string, age time.Duration) bool { return tn == id }},
		"window": {since: 20 * time.Hour, until: 5 * time.Hour,
			want: func(c, tn, a string, age time.Duration) bool { return tn == id && age == 10*time.Hour }},
		"two clusters, one application, since": {clusters: []string{"c3", "c1"}, apps: []string{"api"}, since: 20 * time.Hour,
			want: func(c, tn, a string, age time.Duration) bool {
				return tn == id && (c == "c1" || c == "c3") && a == "api" && age < 20*time.Hour
			}},
		"applications sharing a prefix": {apps: []string{"api-v2", "api"}, until: 5 * time.Hour,
			want: func(c, tn, a string, age time.Duration) bool {
				return tn == id && (a == "api" || a == "api-v2") && age > 5*time.Hour
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := Spec{ID: "r-1", Tenant: id, Bucket: w.central, Clusters: tc.clusters, Applications: tc.apps}
			if tc.since > 0 {
				spec.Since = now.Add(-tc.since)
			}
			if tc.until > 0 {
				spec.Until = now.Add(-tc.until)
			}
			require.NoError(t, spec.Validate([]string{w.central}))
			var got []string
			sum, err := Run(w.ctx, &spec, Options{Lister: w, DryRun: true, OnObject: func(o Object) { got = append(got, o.Key) }}, nil)
			require.NoError(t, err)
			var want []string
			for _, p := range all {
				k, _ := engine.ParseObjectKey(p.key)
				if tc.want(k.ClusterID, k.TenantID, k.Application, p.age) {
					want = append(want, p.key)
				}
			}
			slices.Sort(want)
			require.NotEmpty(t, want)
			assert.Equal(t, want, got, "exactly the selected objects, in key order")
			assert.EqualValues(t, len(want), sum.Matched)
		})
	}
}

// Objects written more than 14 days ago are counted and, for a CloudWatch replay that drops, not enqueued;
// events older than 14 days inside recent objects are counted as dropped, never sent. --clamp sends them at
// the window's edge instead.
func TestReplayOutOfWindow(t *testing.T) {
	w := newWorld(t)
	id := testaws.Name("acme")
	group := "/replay/" + id
	w.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: role, LogGroupName: group})
	p := w.processor()
	now := time.Now().UTC()
	old := w.put("c1/"+id+"/api/p/old.json.gz", 10, now.Add(-20*24*time.Hour), now.Add(-20*24*time.Hour))
	mixedOld := w.put("c1/"+id+"/api/p/mixed.json.gz", 6, now.Add(-15*24*time.Hour), now.Add(-time.Hour))
	recent := w.put("c1/"+id+"/api/p/recent.json.gz", 4, now.Add(-2*time.Hour), now.Add(-time.Hour))

	spec := Spec{ID: "r-old", Tenant: id, Bucket: w.central, Since: now.Add(-30 * 24 * time.Hour), Types: []tenant.Type{tenant.TypeCloudWatch}}
	require.NoError(t, spec.Validate([]string{w.central}))
	var listed []Object
	sum, err := Run(w.ctx, &spec, Options{Lister: w, DryRun: true, OnObject: func(o Object) { listed = append(listed, o) }}, nil)
	require.NoError(t, err)
	require.Len(t, listed, 3)
	assert.EqualValues(t, 1, sum.TooOld)
	for _, o := range listed {
		assert.Equal(t, o.Key == old.key, o.TooOld, o.Key)
		assert.Positive(t, o.Size)
	}

	sum, err = Run(w.ctx, &spec, Options{Lister: w, Queue: w.sqs, QueueURL: w.queueURL, KeyID: "k1", Secret: testKeys["k1"]}, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 2, sum.Enqueued)
	assert.EqualValues(t, 1, sum.SkippedTooOld)
	var dropped int64
	for _, r := range w.drain(p, 2) {
		require.Equal(t, engine.OutcomeSuccess, r.Outcome, "%+v", r)
		if st := r.Objects[0].Destinations[0].Stats; st != nil {
			dropped += st.DroppedOutOfWindow
			assert.Zero(t, st.Clamped)
		}
	}
	assert.EqualValues(t, len(mixedOld.events), dropped)
	w.requireDelivered(group, old, 0)
	w.requireDelivered(group, mixedOld, 0)
	w.requireDelivered(group, recent, 1)

	// Clamped, forced (the drop above finished the deliveries): the old events arrive at the window's edge.
	spec.ID, spec.Force, spec.Clamp = "r-clamp", true, true
	sum, err = Run(w.ctx, &spec, Options{Lister: w, Deliverer: p}, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 3, sum.Delivered)
	assert.EqualValues(t, len(old.events)+len(mixedOld.events), sum.EventsClamped)
	assert.Zero(t, sum.EventsDropped)
	assert.EqualValues(t, len(old.events)+len(mixedOld.events), len(w.cw.Fake.Events(group, stream(old.key)))-2*len(recent.events))
}

// cancelAfter cancels a replay after its nth successful SendMessageBatch: an interrupt driven by count.
type cancelAfter struct {
	SQSSender
	n      int32
	calls  atomic.Int32
	cancel context.CancelFunc
}

func (c *cancelAfter) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out, err := c.SQSSender.SendMessageBatch(ctx, in, optFns...)
	if err == nil && c.calls.Add(1) == c.n {
		c.cancel()
	}
	return out, err
}

// An interrupted replay continued with --start-after (and its id) enqueues every object exactly once; the
// pacing holds messages to the rate.
func TestReplayInterruptAndContinue(t *testing.T) {
	w := newWorld(t)
	id := testaws.Name("acme")
	now := time.Now().UTC()
	var keys []string
	for _, k := range []string{"c1/" + id + "/a/p/1", "c1/" + id + "/a/p/2", "c1/" + id + "/b/p/1", "c2/" + id + "/a/p/1",
		"c2/" + id + "/a/p/2", "c3/" + id + "/a/p/1", "c3/" + id + "/z/p/1"} {
		w.put(k, 1, now.Add(-time.Hour), now.Add(-time.Hour))
		keys = append(keys, k)
	}
	spec := Spec{ID: "r-cont", Tenant: id, Bucket: w.central}
	ctx, cancel := context.WithCancel(w.ctx)
	clock := now
	waits := &noWait{}
	o := Options{Lister: w, QueueURL: w.queueURL, KeyID: "k1", Secret: testKeys["k1"], Rate: 2,
		Now: func() time.Time { return clock },
		Wait: func(ctx context.Context, d time.Duration) error {
			clock = clock.Add(max(d, 0))
			return waits.wait(ctx, d)
		}}
	o.Queue = &cancelAfter{SQSSender: w.sqs, n: 2, cancel: cancel}
	sum, err := Run(ctx, &spec, o, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, sum.Interrupted)
	assert.EqualValues(t, 4, sum.Enqueued)
	assert.Equal(t, keys[3], sum.NextStartAfter)
	assert.Equal(t, []time.Duration{time.Second}, waits.waits, "batches of 2 at 2/s: the first leaves at once, the second a second later")

	spec.StartAfter = sum.NextStartAfter
	require.NoError(t, spec.Validate([]string{w.central}))
	o.Queue = w.sqs
	sum, err = Run(w.ctx, &spec, o, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 3, sum.Enqueued)

	seen := map[string]int{}
	for range 7 {
		rm, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: &w.queueURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
		require.NoError(t, err)
		require.Len(t, rm.Messages, 1)
		n, err := engine.ParseNotification([]byte(*rm.Messages[0].Body))
		require.NoError(t, err)
		require.NoError(t, engine.VerifyReplay(n.Replay, testKeys, n.Objects))
		assert.Equal(t, "r-cont", n.Replay.ID)
		seen[n.Objects[0].Key]++
		_, err = w.sqs.DeleteMessage(w.ctx, &sqs.DeleteMessageInput{QueueUrl: &w.queueURL, ReceiptHandle: rm.Messages[0].ReceiptHandle})
		require.NoError(t, err)
	}
	want := map[string]int{}
	for _, k := range keys {
		want[k] = 1
	}
	assert.Equal(t, want, seen)
}

// In a versioned central bucket the replay names each object's current version, as S3's notification did:
// the processor finds the original delivery and sends nothing again; older versions are not replayed.
func TestReplayVersionedBucket(t *testing.T) {
	w := newWorld(t)
	_, err := w.s3.PutBucketVersioning(w.ctx, &s3.PutBucketVersioningInput{Bucket: &w.central,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	require.NoError(t, err)
	id := testaws.Name("acme")
	group := "/replay/" + id
	w.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: role, LogGroupName: group})
	p := w.processor()
	now := time.Now().UTC()
	key := "c1/" + id + "/api/p/f.json.gz"
	w.put(key, 3, now.Add(-time.Hour), now.Add(-time.Hour))
	o := w.put(key, 5, now.Add(-30*time.Minute), now.Add(-30*time.Minute)) // the current version
	head, err := w.s3.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: &w.central, Key: &key})
	require.NoError(t, err)
	require.NotEmpty(t, aws.ToString(head.VersionId))
	res := p.ProcessObject(w.ctx, engine.ObjectRef{Bucket: w.central, Key: key, VersionID: aws.ToString(head.VersionId)})
	require.Equal(t, engine.OutcomeSuccess, res.Outcome, "%+v", res)
	w.requireDelivered(group, o, 1)

	spec := Spec{ID: "r-v", Tenant: id, Bucket: w.central, Since: now.Add(-2 * time.Hour)}
	var listed []Object
	sum, err := Run(w.ctx, &spec, Options{Lister: w, DryRun: true, OnObject: func(o Object) { listed = append(listed, o) }}, nil)
	require.NoError(t, err)
	require.Len(t, listed, 1, "only the current version")
	assert.Equal(t, aws.ToString(head.VersionId), listed[0].VersionID)
	assert.EqualValues(t, 1, sum.Matched)

	sum, err = Run(w.ctx, &spec, Options{Lister: w, Deliverer: p}, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 1, sum.AlreadyDone, "the original delivery of this version is found")
	assert.Zero(t, sum.Events)
	w.requireDelivered(group, o, 1)
}

// cancelAfterObjects cancels a local replay once n objects have been delivered: an interrupt by count.
type cancelAfterObjects struct {
	Deliverer
	n      int32
	done   atomic.Int32
	cancel context.CancelFunc
}

func (c *cancelAfterObjects) ProcessObject(ctx context.Context, obj engine.ObjectRef) engine.ObjectResult {
	res := c.Deliverer.ProcessObject(ctx, obj)
	if res.Outcome == engine.OutcomeSuccess && c.done.Add(1) == c.n {
		c.cancel()
	}
	return res
}

// A local replay interrupted while several objects are in flight reports a continuation key below which
// everything was delivered; continuing from it delivers every remaining event, and none twice.
func TestLocalReplayInterruptAndContinue(t *testing.T) {
	w := newWorld(t)
	id := testaws.Name("acme")
	group := "/replay/" + id
	w.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: role, LogGroupName: group})
	p := w.processor()
	now := time.Now().UTC()
	var objs []object
	for i := range 12 {
		objs = append(objs, w.put(fmt.Sprintf("c%d/%s/app/pod-%d/f.json.gz", i%3, id, i), 20, now.Add(-time.Hour), now.Add(-time.Hour)))
	}
	spec := Spec{ID: "r-local", Tenant: id, Bucket: w.central}
	ctx, cancel := context.WithCancel(w.ctx)
	sum, err := Run(ctx, &spec, Options{Lister: w, Deliverer: &cancelAfterObjects{Deliverer: p, n: 5, cancel: cancel}, Workers: 3}, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, sum.Interrupted)
	require.NotEmpty(t, sum.NextStartAfter)
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.key
	}
	slices.Sort(keys)
	cut := slices.Index(keys, sum.NextStartAfter)
	require.GreaterOrEqual(t, cut, 0)
	for _, o := range objs {
		if o.key <= sum.NextStartAfter {
			w.requireDelivered(group, o, 1) // everything up to the continuation key is there
		}
	}

	spec.StartAfter = sum.NextStartAfter
	sum2, err := Run(w.ctx, &spec, Options{Lister: w, Deliverer: p, Workers: 3}, nil)
	require.NoError(t, err)
	assert.EqualValues(t, len(keys)-cut-1, sum2.Matched, "the continuation lists only the keys after the reported one")
	for _, o := range objs {
		w.requireDelivered(group, o, 1)
	}
}

// leasedOnce answers the first delivery of each object as another process's lease would (ReasonLeased, with
// a short RetryAfter), then delivers.
type leasedOnce struct {
	Deliverer
	mu    sync.Mutex
	seen  map[string]int
	calls atomic.Int32
}

func (l *leasedOnce) ProcessObject(ctx context.Context, obj engine.ObjectRef) engine.ObjectResult {
	l.calls.Add(1)
	l.mu.Lock()
	l.seen[obj.Key]++
	first := l.seen[obj.Key] == 1
	l.mu.Unlock()
	if first {
		return engine.ObjectResult{Bucket: obj.Bucket, Key: obj.Key, Outcome: engine.OutcomeRetry, Reason: engine.ReasonLeased, RetryAfter: time.Millisecond}
	}
	return l.Deliverer.ProcessObject(ctx, obj)
}

// A local replay meeting an object another process is delivering waits for that lease and then finishes the
// object, instead of reporting it as failed.
func TestLocalReplayWaitsOutLeases(t *testing.T) {
	w := newWorld(t)
	id := testaws.Name("acme")
	group := "/replay/" + id
	w.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: role, LogGroupName: group})
	now := time.Now().UTC()
	var objs []object
	for i := range 4 {
		objs = append(objs, w.put(fmt.Sprintf("c1/%s/app/pod-%d/f.json.gz", id, i), 10, now.Add(-time.Hour), now.Add(-time.Hour)))
	}
	d := &leasedOnce{Deliverer: w.processor(), seen: map[string]int{}}
	sum, err := Run(w.ctx, &Spec{ID: "r-leased", Tenant: id, Bucket: w.central}, Options{Lister: w, Deliverer: d, Workers: 2}, nil)
	require.NoError(t, err)
	assert.EqualValues(t, len(objs), sum.Delivered)
	assert.Zero(t, sum.Failed, "failed reasons %v", sum.FailedReasons)
	assert.EqualValues(t, 2*len(objs), d.calls.Load(), "each object tried once under the lease and once after it")
	for _, o := range objs {
		w.requireDelivered(group, o, 1)
	}
}
