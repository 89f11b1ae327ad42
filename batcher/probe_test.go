package batcher

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/logrouter/logrouter/internal/cwlfake"
)

// calls are the creation and put calls a delivery made, by operation.
type calls struct{ put, stream, group, retention, describe int64 }

func callsOf(srv *cwlfake.Server) calls {
	return calls{srv.Requests("PutLogEvents"), srv.Requests("CreateLogStream"), srv.Requests("CreateLogGroup"),
		srv.Requests("PutRetentionPolicy"), srv.Requests("DescribeLogStreams") + srv.Requests("DescribeLogGroups")}
}

func (c calls) minus(o calls) calls {
	return calls{c.put - o.put, c.stream - o.stream, c.group - o.group, c.retention - o.retention, c.describe - o.describe}
}

func deliverTo(t *testing.T, srv *cwlfake.Server, cache *ExistenceCache, probe StreamProbe, stream string) calls {
	t.Helper()
	before := callsOf(srv)
	stored := len(srv.Events(testDest.LogGroup, stream))
	d := testDest
	d.LogStream = stream
	b := New(t.Context(), srv.Client(), "test-scope", d, testOptions, func(o *Options) {
		o.Existence, o.StreamProbe, o.RetentionDays = cache, probe, 7
	})
	res := deliver(t, b, []Event{plainEvent(ms(fixedNow), 3)})
	if res.Acked != 1 || len(srv.Events(d.LogGroup, stream)) != stored+1 {
		t.Fatalf("%s: acked %d, stored %d more", stream, res.Acked, len(srv.Events(d.LogGroup, stream))-stored)
	}
	return callsOf(srv).minus(before)
}

// Each probe's calls per case, exactly: the trade-off StreamProbe documents.
func TestStreamProbeCalls(t *testing.T) {
	type step struct {
		stream string
		want   calls
	}
	tests := []struct {
		name  string
		probe StreamProbe
		setup func(*cwlfake.Server, *ExistenceCache)
		steps []step
	}{
		{"auto: a new group's streams", ProbeAuto, nil, []step{
			{"pod-a", calls{put: 2, stream: 1, group: 1, retention: 1}}, // refused put says the group is missing: group, stream, put
			{"pod-b", calls{put: 1, stream: 1}},                         // a group this process created has only new streams
			{"pod-a", calls{put: 1}},                                    // known now
		}},
		{"auto: a new stream in an existing group", ProbeAuto, func(s *cwlfake.Server, _ *ExistenceCache) {
			s.CreateLogStream(testDest.LogGroup, "other")
		}, []step{
			{"pod-a", calls{put: 2, stream: 1}},
		}},
		{"auto: an existing stream after a restart", ProbeAuto, func(s *cwlfake.Server, _ *ExistenceCache) {
			s.CreateLogStream(testDest.LogGroup, "pod-a")
		}, []step{
			{"pod-a", calls{put: 1}},
		}},
		{"put-first: a new group's streams", ProbePutFirst, nil, []step{
			{"pod-a", calls{put: 2, stream: 1, group: 1, retention: 1}},
			{"pod-b", calls{put: 2, stream: 1}},
		}},
		{"put-first: an existing stream after a restart", ProbePutFirst, func(s *cwlfake.Server, _ *ExistenceCache) {
			s.CreateLogStream(testDest.LogGroup, "pod-a")
		}, []step{
			{"pod-a", calls{put: 1}},
		}},
		{"create-first: a new group's streams", ProbeCreateFirst, nil, []step{
			{"pod-a", calls{put: 1, stream: 2, group: 1, retention: 1}}, // the first CreateLogStream finds no group
			{"pod-b", calls{put: 1, stream: 1}},
		}},
		{"create-first: an existing stream after a restart", ProbeCreateFirst, func(s *cwlfake.Server, _ *ExistenceCache) {
			s.CreateLogStream(testDest.LogGroup, "pod-a")
		}, []step{
			{"pod-a", calls{put: 1, stream: 1}}, // refused as existing
			{"pod-a", calls{put: 1}},
		}},
		{"a known stream deleted behind our back", ProbeAuto, func(s *cwlfake.Server, c *ExistenceCache) {
			s.CreateLogStream(testDest.LogGroup, "other")
			d := testDest
			d.LogStream = "pod-a"
			c.markKnown(streamKey("test-scope", d))
		}, []step{
			{"pod-a", calls{put: 2, stream: 1}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFake(t)
			cache := NewExistenceCache(0)
			if tc.setup != nil {
				tc.setup(srv, cache)
			}
			for i, s := range tc.steps {
				if got := deliverTo(t, srv, cache, tc.probe, s.stream); got != s.want {
					t.Errorf("step %d (%s): calls %+v, want %+v", i, s.stream, got, s.want)
				}
			}
		})
	}
}

// Batchers of one new group's streams running at once create the group once.
func TestStreamProbeConcurrentNewGroup(t *testing.T) {
	srv := startFake(t)
	cache := NewExistenceCache(0)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			d := testDest
			d.LogStream = fmt.Sprintf("pod-%d", i%3) // two batchers per stream
			b := New(t.Context(), srv.Client(), "test-scope", d, testOptions, func(o *Options) { o.Existence = cache })
			for j := range 50 {
				if err := b.Add(Event{Timestamp: ms(fixedNow), Message: fmt.Appendf(nil, "%d-%d", i, j)}); err != nil {
					errs[i] = err
					return
				}
			}
			res, err := b.Close()
			if err == nil && res.Acked != 50 {
				err = fmt.Errorf("acked %d of 50", res.Acked)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	c := callsOf(srv)
	if c.group != 1 || c.stream > 3+2 || c.describe != 0 || srv.EventCount() != 300 {
		t.Fatalf("calls %+v, %d events stored", c, srv.EventCount())
	}
}

// A role that may create streams but not groups: when the refused put's message is taken to mean the group is
// missing but the group exists, the denied CreateLogGroup falls back to CreateLogStream; when the group is
// really missing, the denial is the delivery's error.
func TestStreamProbeGroupCreationDenied(t *testing.T) {
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, "other")
	srv.Deny("CreateLogGroup", testDest.LogGroup, "AccessDeniedException")
	d := testDest
	d.LogStream = "pod-a"
	b := New(t.Context(), srv.Client(), "test-scope", d, testOptions)
	if err := b.createDestination(true); err != nil {
		t.Fatalf("group exists, stream creatable: %v", err)
	}
	if _, err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if len(srv.Events(d.LogGroup, "pod-a")) != 0 || srv.Requests("CreateLogStream") != 1 {
		t.Fatalf("stream not created: %d CreateLogStream", srv.Requests("CreateLogStream"))
	}

	srv2 := startFake(t)
	srv2.Deny("CreateLogGroup", testDest.LogGroup, "AccessDeniedException")
	b2 := New(t.Context(), srv2.Client(), "test-scope", testDest, testOptions)
	_ = b2.Add(plainEvent(ms(fixedNow), 3))
	_, err := b2.Close()
	var be *Error
	if !errors.As(err, &be) || be.Op != "CreateLogGroup" || !isAccessDenied(err) {
		t.Fatalf("missing group, creation denied: %v", err)
	}
}

func TestParseStreamProbe(t *testing.T) {
	for in, want := range map[string]StreamProbe{"": ProbeAuto, "auto": ProbeAuto, "put-first": ProbePutFirst, "create-first": ProbeCreateFirst} {
		if got, err := ParseStreamProbe(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := ParseStreamProbe("describe-first"); err == nil {
		t.Error("unknown probe accepted")
	}
	b := New(t.Context(), nil, "s", testDest, func(o *Options) { o.StreamProbe = "sometimes" })
	if err := b.Add(plainEvent(ms(fixedNow), 1)); err == nil {
		t.Error("invalid StreamProbe option accepted")
	}
}
