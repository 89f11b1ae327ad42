package engine

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/tenant"
)

func TestRangesEncoding(t *testing.T) {
	tests := map[string]struct {
		acked int64
		in    [][2]int64
	}{
		"none":             {acked: 7},
		"one":              {acked: 7, in: [][2]int64{{9, 12}}},
		"right after":      {acked: 7, in: [][2]int64{{7, 8}, {8, 9}}},
		"many, far apart":  {acked: 1 << 40, in: [][2]int64{{1<<40 + 1, 1<<40 + 2}, {1 << 41, 1<<41 + 100_000}}},
		"from zero prefix": {in: [][2]int64{{1, 2}, {3, 4}, {5, 6}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := encodeRanges(tc.acked, tc.in)
			got, err := decodeRanges(tc.acked, b)
			require.NoError(t, err)
			assert.Equal(t, tc.in, got)
		})
	}
}

func TestRangesEncodingBounded(t *testing.T) {
	// A very fragmented set is cut to its lowest ranges: a subset of what was acknowledged.
	var in [][2]int64
	for i := int64(0); i < 50_000; i++ {
		in = append(in, [2]int64{1000 + 3*i, 1000 + 3*i + 1})
	}
	b := encodeRanges(10, in)
	assert.LessOrEqual(t, len(b), maxRangesBytes)
	got, err := decodeRanges(10, b)
	require.NoError(t, err)
	require.NotEmpty(t, got)
	assert.Less(t, len(got), len(in))
	assert.Equal(t, in[:len(got)], got)
	// Malformed ranges are never written past the malformation.
	got, err = decodeRanges(10, encodeRanges(10, [][2]int64{{12, 14}, {13, 20}, {30, 31}}))
	require.NoError(t, err)
	assert.Equal(t, [][2]int64{{12, 14}}, got)
}

func TestRangesDecodingRejectsGarbage(t *testing.T) {
	bad := map[string][]byte{
		"truncated varint": {0x80},
		"missing length":   {0x01},
		"empty range":      {0x01, 0x00},
		"overflow":         {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x01},
		"too long":         make([]byte, maxRangesBytes+1),
	}
	for name, b := range bad {
		_, err := decodeRanges(0, b)
		assert.Error(t, err, name)
	}
}

func TestMemoryProgressRanges(t *testing.T) {
	s := NewMemoryProgress()
	ctx := context.Background()
	rs := [][2]int64{{12, 14}}
	put := func(p Progress) {
		t.Helper()
		require.NoError(t, s.Put(ctx, "x", ProgressUpdate{Dests: map[string]Progress{"k": p}}))
	}
	put(Progress{Acked: 10, Ranges: rs})
	rs[0][1] = 99 // the store keeps its own copy
	got, err := s.Get(ctx, "x")
	require.NoError(t, err)
	assert.Equal(t, ObjectProgress{"k": {Acked: 10, Ranges: [][2]int64{{12, 14}}}}, got)
	got["k"].Ranges[0][1] = 98 // and hands out copies
	put(Progress{Acked: 5, Ranges: [][2]int64{{6, 50}}})
	got, _ = s.Get(ctx, "x")
	assert.Equal(t, ObjectProgress{"k": {Acked: 10, Ranges: [][2]int64{{12, 14}}}}, got, "a stale checkpoint never moves backwards")
	put(Progress{Done: true, Acked: 60, Ranges: [][2]int64{{70, 71}}})
	got, _ = s.Get(ctx, "x")
	assert.Equal(t, ObjectProgress{"k": {Done: true, Acked: 60}}, got)
}

// ackSink stands for a batcher that acknowledges every added event but the first at once (so only ranges
// beyond an empty prefix advance) and reports it through its OnAck; its Close waits for release.
type ackSink struct {
	fakeSink
	opts    batcher.Options
	release chan struct{}
	state   batcher.AckState
}

func (s *ackSink) Add(ev batcher.Event) error {
	if err := s.fakeSink.Add(ev); err != nil {
		return err
	}
	s.mu.Lock()
	n := s.opts.Resume.Prefix + int64(len(s.events))
	if n > s.opts.Resume.Prefix+1 {
		s.state = batcher.AckState{Prefix: s.opts.Resume.Prefix, Ranges: [][2]int64{{s.opts.Resume.Prefix + 1, n}}}
	}
	s.mu.Unlock()
	if s.opts.OnAck != nil {
		s.opts.OnAck()
	}
	return nil
}

func (s *ackSink) AckState() batcher.AckState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *ackSink) Close() (batcher.Result, error) {
	<-s.release
	return batcher.Result{}, context.Canceled
}

func TestCheckpointOnAcknowledgement(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("m", 50)
	w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r")}
	store := &putLog{MemoryProgress: *NewMemoryProgress(), puts: make(chan Progress, 1000)}
	var mu sync.Mutex
	var sinks []*ackSink
	release := make(chan struct{})
	p := w.processor(t, func(o *Options) {
		o.Progress = store
		o.CheckpointInterval = time.Hour // only the notifications can trigger a checkpoint
		o.NewSink = func(_ context.Context, _ batcher.API, _ string, _ batcher.Destination, fns ...func(*batcher.Options)) LogSink {
			s := &ackSink{fakeSink: fakeSink{failAt: -1}, release: release}
			for _, fn := range fns {
				fn(&s.opts)
			}
			mu.Lock()
			sinks = append(sinks, s)
			mu.Unlock()
			return s
		}
	})
	done := make(chan MessageResult, 1)
	go func() { done <- p.ProcessMessage(context.Background(), s3Body("central", key1)) }()
	want := Progress{Ranges: [][2]int64{{1, 50}}}
	for pr := range store.puts {
		require.False(t, pr.Done)
		if assert.ObjectsAreEqual(want, pr) {
			break // the acknowledged set is on record while the sink still runs
		}
	}
	close(release)
	require.Equal(t, OutcomeRetry, (<-done).Outcome)

	// The retry hands the recorded set to its sink, and feeds every event from the first unacknowledged.
	release = make(chan struct{})
	close(release)
	require.Equal(t, OutcomeRetry, p.ProcessMessage(context.Background(), s3Body("central", key1)).Outcome)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, sinks, 2)
	assert.Equal(t, batcher.AckState{Ranges: [][2]int64{{1, 50}}}, sinks[1].opts.Resume)
	assert.Len(t, sinks[1].events, 50, "events inside the ranges are the sink's to skip")
}

func TestMemoryProgress(t *testing.T) {
	checkProgressSteps(t, context.Background(), NewMemoryProgress())
}

func TestMemoryProgressDestinations(t *testing.T) {
	checkDestinationSteps(t, context.Background(), NewMemoryProgress())
}

// checkProgressSteps: one destination's entry never moves backwards and is never reopened (both stores).
func checkProgressSteps(t *testing.T, ctx context.Context, s ProgressStore) {
	op, err := s.Get(ctx, "x")
	require.NoError(t, err)
	assert.Equal(t, ObjectProgress{}, op, "nothing recorded")
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
		require.NoError(t, s.Put(ctx, "x", ProgressUpdate{Dests: map[string]Progress{"k": st.put}}))
		op, err := s.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, ObjectProgress{"k": st.want}, op, "after Put(%+v)", st.put)
	}
}

// checkDestinationSteps: a write of several destinations records each as if written alone (both stores).
func checkDestinationSteps(t *testing.T, ctx context.Context, s ProgressStore) {
	put := func(dests map[string]Progress) {
		t.Helper()
		require.NoError(t, s.Put(ctx, "o", ProgressUpdate{Dests: dests}))
	}
	put(map[string]Progress{"cw1": {Acked: 10}, "cw2": {Acked: 4, Ranges: [][2]int64{{6, 8}}}})
	put(map[string]Progress{"cw1": {Acked: 12}})
	put(map[string]Progress{"cw1": {Acked: 11}, "cw2": {Acked: 5}, "s3": {Done: true}}) // cw1 stale
	put(map[string]Progress{"cw2": {Done: true, Acked: 9}})
	put(map[string]Progress{"cw2": {Acked: 10}, "cw1": {Acked: 13, Ranges: [][2]int64{{20, 22}}}}) // cw2 done
	op, err := s.Get(ctx, "o")
	require.NoError(t, err)
	assert.Equal(t, ObjectProgress{
		"cw1": {Acked: 13, Ranges: [][2]int64{{20, 22}}},
		"cw2": {Done: true, Acked: 9},
		"s3":  {Done: true},
	}, op)
	other, err := s.Get(ctx, "other object")
	require.NoError(t, err)
	assert.Empty(t, other)
}

// updateLog records every progress write.
type updateLog struct {
	*MemoryProgress
	mu      sync.Mutex
	updates []ProgressUpdate
}

func (l *updateLog) Put(ctx context.Context, id string, u ProgressUpdate) error {
	l.mu.Lock()
	l.updates = append(l.updates, u)
	l.mu.Unlock()
	return l.MemoryProgress.Put(ctx, id, u)
}

func (l *updateLog) written() []ProgressUpdate {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.updates)
}

// Every destination's outcome is recorded by one write per attempt, whatever the number of destinations:
// finished ones as done, an unfinished CloudWatch one with what it acknowledged; the retry's write records
// only what the retry delivered, and a delivered object is never written again.
func TestOneFinalProgressWritePerObject(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("m", 30)
	w.configs["acme"] = []tenant.Config{cwConfig("acme", "/a", "r"), cwConfig("acme", "/b", "r2"), s3Config("acme", "archive")}
	attempt := 0
	w.sinkSetup = func(s *fakeSink) {
		if s.dest.LogGroup == "/b" && attempt == 0 {
			s.failAt, s.failErr, s.ackLag = 12, apiErr("ThrottlingException"), 2
		}
	}
	store := &updateLog{MemoryProgress: NewMemoryProgress()}
	p := w.processor(t, func(o *Options) { o.Progress = store })
	k, err := ParseObjectKey(key1)
	require.NoError(t, err)
	keyOf := func(group string) string {
		return progressDestKey(cloudWatchDestKey("us-east-1", group, p.stream.render(k)))
	}
	s3Key := progressDestKey(s3DestKey("us-east-1", "archive", k.DestinationKey(s3Config("acme", "archive").EffectiveBucketPrefix())))

	res := p.ProcessMessage(context.Background(), s3Body("central", key1))
	require.Equal(t, OutcomeRetry, res.Outcome, "%+v", res)
	require.Len(t, store.written(), 1, "one write for the attempt")
	assert.Equal(t, map[string]Progress{keyOf("/a"): {Done: true, Acked: 30}, keyOf("/b"): {Acked: 10}, s3Key: {Done: true}},
		store.written()[0].Dests)

	attempt = 1
	res = p.ProcessMessage(context.Background(), s3Body("central", key1))
	require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
	require.Len(t, store.written(), 2)
	assert.Equal(t, map[string]Progress{keyOf("/b"): {Done: true, Acked: 30}}, store.written()[1].Dests)
	assert.Len(t, w.s3.copies, 1, "the copy is not repeated")

	res = p.ProcessMessage(context.Background(), s3Body("central", key1))
	require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
	assert.Len(t, store.written(), 2, "nothing to write for a delivered object")
}
