package engine

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
)

func newDynamoDBProgress(t *testing.T) (context.Context, *DynamoDBProgress) {
	ctx := testaws.Context(t, time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("progress")
	require.NoError(t, CreateProgressTable(ctx, client, table))
	return ctx, NewDynamoDBProgress(client, table, time.Hour)
}

func TestDynamoDBProgress(t *testing.T) {
	ctx, s := newDynamoDBProgress(t)
	checkProgressSteps(t, ctx, s)
}

func TestDynamoDBProgressDestinations(t *testing.T) {
	ctx, s := newDynamoDBProgress(t)
	checkDestinationSteps(t, ctx, s)
}

func TestDynamoDBProgressFragmentedRanges(t *testing.T) {
	ctx, s := newDynamoDBProgress(t)
	// More ranges than an item holds: the lowest are kept, a subset of the acknowledged set.
	var rs [][2]int64
	for i := int64(0); i < 60_000; i++ {
		rs = append(rs, [2]int64{100 + 2*i, 100 + 2*i + 1})
	}
	require.NoError(t, s.Put(ctx, "y", ProgressUpdate{Dests: map[string]Progress{"k": {Acked: 50, Ranges: rs}}}))
	op, err := s.Get(ctx, "y")
	require.NoError(t, err)
	got := op["k"]
	assert.Equal(t, int64(50), got.Acked)
	require.NotEmpty(t, got.Ranges)
	assert.Less(t, len(got.Ranges), len(rs))
	assert.Equal(t, rs[:len(got.Ranges)], got.Ranges)
	// Many CloudWatch destinations share the item's room: each keeps fewer ranges, all fit in one item.
	u := ProgressUpdate{Dests: map[string]Progress{}, RangesBytes: rangesBudget(12)}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "l", "m"} {
		u.Dests[k] = Progress{Acked: 50, Ranges: rs}
	}
	require.NoError(t, s.Put(ctx, "w", u))
	op, err = s.Get(ctx, "w")
	require.NoError(t, err)
	require.Len(t, op, 12)
	for k, p := range op {
		require.NotEmpty(t, p.Ranges, k)
		assert.Less(t, len(p.Ranges), len(got.Ranges), "%s keeps its share", k)
		assert.Equal(t, rs[:len(p.Ranges)], p.Ranges)
	}
	// Finishing the delivery drops the ranges.
	require.NoError(t, s.Put(ctx, "y", ProgressUpdate{Dests: map[string]Progress{"k": {Done: true, Acked: 200_000}}}))
	op, err = s.Get(ctx, "y")
	require.NoError(t, err)
	assert.Equal(t, ObjectProgress{"k": {Done: true, Acked: 200_000}}, op)
}

func TestDynamoDBProgressLeases(t *testing.T) {
	ctx, s := newDynamoDBProgress(t)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	const ttl = 30 * time.Second
	dests := []string{"k", "s"}

	l, err := s.Lease(ctx, "z", "p1", ttl, dests)
	require.NoError(t, err)
	assert.Equal(t, Lease{Held: true, Until: now.Add(ttl), Progress: ObjectProgress{}}, l, "a new item: taken, nothing on record")
	require.NoError(t, s.Put(ctx, "z", ProgressUpdate{Dests: map[string]Progress{"k": {Acked: 7}}}))

	// Another owner is refused while the lease runs, and learns until when and the progress on record.
	now = now.Add(10 * time.Second)
	l, err = s.Lease(ctx, "z", "p2", ttl, dests)
	require.NoError(t, err)
	assert.False(t, l.Held)
	assert.True(t, l.Until.Equal(now.Add(20*time.Second)), "until %s", l.Until)
	assert.Equal(t, ObjectProgress{"k": {Acked: 7}}, l.Progress)
	// The owner renews.
	l, err = s.Lease(ctx, "z", "p1", ttl, dests)
	require.NoError(t, err)
	assert.True(t, l.Held)
	assert.Equal(t, ObjectProgress{"k": {Acked: 7}}, l.Progress)

	// Once expired it is taken over, with the last checkpoint.
	now = now.Add(ttl + time.Millisecond)
	l, err = s.Lease(ctx, "z", "p2", ttl, dests)
	require.NoError(t, err)
	assert.True(t, l.Held, "an expired lease is taken over")
	assert.Equal(t, ObjectProgress{"k": {Acked: 7}}, l.Progress)
	// p1 lost it: its renewal is refused.
	l, err = s.Lease(ctx, "z", "p1", ttl, dests)
	require.NoError(t, err)
	assert.False(t, l.Held)

	// Unlease by a non-owner does nothing; by the owner frees it at once.
	require.NoError(t, s.Unlease(ctx, "z", "p1"))
	l, _ = s.Lease(ctx, "z", "p3", ttl, dests)
	assert.False(t, l.Held)
	require.NoError(t, s.Unlease(ctx, "z", "p2"))
	l, err = s.Lease(ctx, "z", "p3", ttl, dests)
	require.NoError(t, err)
	assert.True(t, l.Held)

	// A final write by a process whose lease was taken over records its destinations but leaves the new
	// owner's lease alone.
	require.NoError(t, s.Put(ctx, "z", ProgressUpdate{Dests: map[string]Progress{"k": {Acked: 8}}, Owner: "p2"}))
	l, err = s.Lease(ctx, "z", "p4", ttl, dests)
	require.NoError(t, err)
	assert.False(t, l.Held, "p3 still holds it")
	assert.Equal(t, ObjectProgress{"k": {Acked: 8}}, l.Progress)

	// The owner's final write records every destination and ends the lease, in one write.
	final := ProgressUpdate{Dests: map[string]Progress{"k": {Done: true, Acked: 9}, "s": {Done: true}}, Owner: "p3"}
	require.NoError(t, s.Put(ctx, "z", final))
	done := ObjectProgress{"k": {Done: true, Acked: 9}, "s": {Done: true}}
	// A redelivery takes no lease on an object whose destinations are all done, and learns so.
	l, err = s.Lease(ctx, "z", "p4", ttl, dests)
	require.NoError(t, err)
	assert.Equal(t, Lease{Progress: done}, l, "no lease left, none taken")
	// A destination not done yet (a config added since) is leased as usual.
	l, err = s.Lease(ctx, "z", "p4", ttl, append(dests, "new"))
	require.NoError(t, err)
	assert.Equal(t, Lease{Held: true, Until: now.Add(ttl), Progress: done}, l)
}

// The conditions of the nested entries, as DynamoDB (and moto) evaluate them.
func TestDynamoDBProgressNestedConditions(t *testing.T) {
	ctx, s := newDynamoDBProgress(t)
	put := func(id string, owner string, dests map[string]Progress) {
		t.Helper()
		require.NoError(t, s.Put(ctx, id, ProgressUpdate{Dests: dests, Owner: owner}))
	}
	get := func(id string) ObjectProgress {
		t.Helper()
		op, err := s.Get(ctx, id)
		require.NoError(t, err)
		return op
	}
	_, err := s.Lease(ctx, "n", "p1", time.Minute, []string{"a", "b", "c"})
	require.NoError(t, err)

	// Two destinations' checkpoints interleave: each updates its own entry only.
	put("n", "", map[string]Progress{"a": {Acked: 10}})
	put("n", "", map[string]Progress{"b": {Acked: 5, Ranges: [][2]int64{{7, 9}}}})
	put("n", "", map[string]Progress{"a": {Acked: 20, Ranges: [][2]int64{{25, 26}}}})
	put("n", "", map[string]Progress{"b": {Acked: 3}})  // stale: never backwards
	put("n", "", map[string]Progress{"a": {Acked: 15}}) // stale
	assert.Equal(t, ObjectProgress{"a": {Acked: 20, Ranges: [][2]int64{{25, 26}}}, "b": {Acked: 5, Ranges: [][2]int64{{7, 9}}}}, get("n"))

	// A finished destination is never reopened; its neighbour goes on.
	put("n", "", map[string]Progress{"a": {Done: true, Acked: 30}})
	put("n", "", map[string]Progress{"a": {Acked: 40}})
	put("n", "", map[string]Progress{"b": {Acked: 6}})
	assert.Equal(t, ObjectProgress{"a": {Done: true, Acked: 30}, "b": {Acked: 6}}, get("n"))

	// A final write with a stale entry (b moved on meanwhile, a is done) still records the others and
	// ends the lease.
	put("n", "", map[string]Progress{"b": {Acked: 12}})
	put("n", "p1", map[string]Progress{"a": {Acked: 31}, "b": {Acked: 11, Ranges: [][2]int64{{20, 21}}}, "c": {Done: true}})
	assert.Equal(t, ObjectProgress{"a": {Done: true, Acked: 30}, "b": {Acked: 12}, "c": {Done: true}}, get("n"))
	l, err := s.Lease(ctx, "n", "p2", time.Minute, []string{"a", "b", "c"})
	require.NoError(t, err)
	assert.True(t, l.Held, "the final write ended p1's lease")
}
