package engine

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
)

func TestDynamoDBProgress(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("progress")
	require.NoError(t, CreateProgressTable(ctx, client, table))
	s := NewDynamoDBProgress(client, table, time.Hour)
	p, err := s.Get(ctx, "x")
	require.NoError(t, err)
	assert.Equal(t, Progress{}, p, "nothing recorded")
	steps := []struct {
		put, want Progress
	}{
		{Progress{Acked: 10}, Progress{Acked: 10}},
		{Progress{Acked: 25}, Progress{Acked: 25}},
		{Progress{Acked: 20}, Progress{Acked: 25}}, // a stale checkpoint never moves backwards
		{Progress{Acked: 25, Ranges: [][2]int64{{27, 30}, {40, 41}}}, Progress{Acked: 25, Ranges: [][2]int64{{27, 30}, {40, 41}}}},
		{Progress{Acked: 30, Ranges: [][2]int64{{40, 41}}}, Progress{Acked: 30, Ranges: [][2]int64{{40, 41}}}},
		{Progress{Acked: 20, Ranges: [][2]int64{{21, 22}}}, Progress{Acked: 30, Ranges: [][2]int64{{40, 41}}}},
		{Progress{Acked: 31}, Progress{Acked: 31}},
		{Progress{Done: true, Acked: 40}, Progress{Done: true, Acked: 40}},
		{Progress{Acked: 50}, Progress{Done: true, Acked: 40}}, // nor reopens a finished delivery
	}
	for _, st := range steps {
		require.NoError(t, s.Put(ctx, "x", st.put))
		got, err := s.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, st.want, got, "after Put(%+v)", st.put)
	}
}

func TestDynamoDBProgressFragmentedRanges(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("progress")
	require.NoError(t, CreateProgressTable(ctx, client, table))
	s := NewDynamoDBProgress(client, table, time.Hour)
	// More ranges than an item holds: the lowest are kept, a subset of the acknowledged set.
	var rs [][2]int64
	for i := int64(0); i < 60_000; i++ {
		rs = append(rs, [2]int64{100 + 2*i, 100 + 2*i + 1})
	}
	require.NoError(t, s.Put(ctx, "y", Progress{Acked: 50, Ranges: rs}))
	got, err := s.Get(ctx, "y")
	require.NoError(t, err)
	assert.Equal(t, int64(50), got.Acked)
	require.NotEmpty(t, got.Ranges)
	assert.Less(t, len(got.Ranges), len(rs))
	assert.Equal(t, rs[:len(got.Ranges)], got.Ranges)
	// Finishing the delivery drops the ranges.
	require.NoError(t, s.Put(ctx, "y", Progress{Done: true, Acked: 200_000}))
	got, err = s.Get(ctx, "y")
	require.NoError(t, err)
	assert.Equal(t, Progress{Done: true, Acked: 200_000}, got)
}

func TestDynamoDBProgressLeases(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("progress")
	require.NoError(t, CreateProgressTable(ctx, client, table))
	s := NewDynamoDBProgress(client, table, time.Hour)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	const ttl = 30 * time.Second

	l, err := s.Lease(ctx, "z", "p1", ttl)
	require.NoError(t, err)
	assert.Equal(t, Lease{Held: true, Until: now.Add(ttl)}, l, "a new item: taken, nothing on record")
	require.NoError(t, s.Put(ctx, "z", Progress{Acked: 7}))

	// Another owner is refused while the lease runs, and learns until when and the progress on record.
	now = now.Add(10 * time.Second)
	l, err = s.Lease(ctx, "z", "p2", ttl)
	require.NoError(t, err)
	assert.False(t, l.Held)
	assert.True(t, l.Until.Equal(now.Add(20*time.Second)), "until %s", l.Until)
	assert.Equal(t, Progress{Acked: 7}, l.Progress)
	// The owner renews.
	l, err = s.Lease(ctx, "z", "p1", ttl)
	require.NoError(t, err)
	assert.True(t, l.Held)
	assert.Equal(t, Progress{Acked: 7}, l.Progress)

	// Once expired it is taken over, with the last checkpoint.
	now = now.Add(ttl + time.Millisecond)
	l, err = s.Lease(ctx, "z", "p2", ttl)
	require.NoError(t, err)
	assert.True(t, l.Held, "an expired lease is taken over")
	assert.Equal(t, Progress{Acked: 7}, l.Progress)
	// p1 lost it: its renewal is refused.
	l, err = s.Lease(ctx, "z", "p1", ttl)
	require.NoError(t, err)
	assert.False(t, l.Held)

	// Unlease by a non-owner does nothing; by the owner frees it at once.
	require.NoError(t, s.Unlease(ctx, "z", "p1"))
	l, _ = s.Lease(ctx, "z", "p3", ttl)
	assert.False(t, l.Held)
	require.NoError(t, s.Unlease(ctx, "z", "p2"))
	l, err = s.Lease(ctx, "z", "p3", ttl)
	require.NoError(t, err)
	assert.True(t, l.Held)

	// The final Put (done) ends the lease; every later reader finds the delivery done.
	require.NoError(t, s.Put(ctx, "z", Progress{Done: true, Acked: 9}))
	l, err = s.Lease(ctx, "z", "p4", ttl)
	require.NoError(t, err)
	assert.Equal(t, Progress{Done: true, Acked: 9}, l.Progress)
}
