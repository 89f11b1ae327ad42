package batcher

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
)

// countingLogs is an in-memory CloudWatch Logs that counts calls per operation. It holds groups and streams
// only (events are counted, not stored), can refuse CreateLogGroup and can hold the first PutLogEvents calls
// until a number of them has arrived (to make concurrent batchers probe at the same time).
type countingLogs struct {
	mu          sync.Mutex
	groups      map[string]map[string]bool
	calls       map[string]int
	notFound    map[string]int // calls answered ResourceNotFoundException, per operation
	events      int
	denyGroup   bool
	holdPuts    int // the first holdPuts PutLogEvents wait until that many have arrived
	arrived     int
	holdRelease chan struct{} // closed when holdPuts puts have arrived
}

func newCountingLogs() *countingLogs {
	return &countingLogs{groups: map[string]map[string]bool{}, calls: map[string]int{}, notFound: map[string]int{}}
}

func (f *countingLogs) addStream(group, stream string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.groups[group] == nil {
		f.groups[group] = map[string]bool{}
	}
	if stream != "" {
		f.groups[group][stream] = true
	}
}

func (f *countingLogs) deleteStream(group, stream string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.groups[group], stream)
}

func (f *countingLogs) count(op string) (calls, notFound int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op], f.notFound[op]
}

func (f *countingLogs) PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	f.mu.Lock()
	f.calls["PutLogEvents"]++
	found := f.groups[*in.LogGroupName][*in.LogStreamName] // decided on arrival, answered after the hold
	msg := "The specified log stream does not exist."      // CloudWatch's messages, which groupMissing reads
	if f.groups[*in.LogGroupName] == nil {
		msg = "The specified log group does not exist."
	}
	if !found {
		f.notFound["PutLogEvents"]++
	} else {
		f.events += len(in.LogEvents)
	}
	hold := f.arrived < f.holdPuts
	if hold {
		f.arrived++
		if f.arrived == f.holdPuts {
			close(f.holdRelease)
		}
	}
	f.mu.Unlock()
	if hold {
		select {
		case <-f.holdRelease:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !found {
		return nil, &types.ResourceNotFoundException{Message: aws.String(msg)}
	}
	return &cloudwatchlogs.PutLogEventsOutput{}, nil
}

func (f *countingLogs) CreateLogGroup(_ context.Context, in *cloudwatchlogs.CreateLogGroupInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["CreateLogGroup"]++
	switch {
	case f.denyGroup:
		return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform logs:CreateLogGroup"}
	case f.groups[*in.LogGroupName] != nil:
		return nil, &types.ResourceAlreadyExistsException{}
	}
	f.groups[*in.LogGroupName] = map[string]bool{}
	return &cloudwatchlogs.CreateLogGroupOutput{}, nil
}

func (f *countingLogs) CreateLogStream(_ context.Context, in *cloudwatchlogs.CreateLogStreamInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["CreateLogStream"]++
	g := f.groups[*in.LogGroupName]
	switch {
	case g == nil:
		f.notFound["CreateLogStream"]++
		return nil, &types.ResourceNotFoundException{Message: aws.String("The specified log group does not exist.")}
	case g[*in.LogStreamName]:
		return nil, &types.ResourceAlreadyExistsException{}
	}
	g[*in.LogStreamName] = true
	return &cloudwatchlogs.CreateLogStreamOutput{}, nil
}

func (f *countingLogs) PutRetentionPolicy(_ context.Context, in *cloudwatchlogs.PutRetentionPolicyInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutRetentionPolicyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["PutRetentionPolicy"]++
	if f.groups[*in.LogGroupName] == nil {
		return nil, &types.ResourceNotFoundException{}
	}
	return &cloudwatchlogs.PutRetentionPolicyOutput{}, nil
}

// opCalls is the expected count per operation (operations absent are expected at 0).
type opCalls map[string]int

func (f *countingLogs) assertCalls(t *testing.T, want opCalls) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, op := range []string{"PutLogEvents", "CreateLogStream", "CreateLogGroup", "PutRetentionPolicy"} {
		if f.calls[op] != want[op] {
			t.Errorf("%s: %d calls (%d answered ResourceNotFound), want %d; all calls %v", op, f.calls[op], f.notFound[op], want[op], f.calls)
		}
	}
}

// probeDeliver delivers one event to group/stream through a batcher sharing cache, returning Close's error.
func probeDeliver(t *testing.T, f *countingLogs, cache *ExistenceCache, probe StreamProbe, group, stream string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := New(ctx, f, "scope", Destination{LogGroup: group, LogStream: stream}, testOptions, func(o *Options) {
		o.StockSerializer = true
		o.Existence = cache
		o.StreamProbe = probe
		o.RetentionDays = 7
	})
	if err := b.Add(plainEvent(ms(fixedNow), 10)); err != nil {
		return err
	}
	res, err := b.Close()
	if err == nil && res.Acked != 1 {
		t.Errorf("%s/%s: acked %d, want 1", group, stream, res.Acked)
	}
	return err
}

var allProbes = []StreamProbe{ProbeAuto, ProbePutFirst, ProbeCreateFirst}

// Exact calls per operation for each probe in each case, through the real batcher against a counting fake
// (the SDK is not involved: StockSerializer). Cumulative over the setup and the delivery under test.
func TestStreamProbeCallCounts(t *testing.T) {
	const g = "/tenant/app"
	pod1 := Destination{g, "pod-1"}
	tests := map[string]struct {
		setup func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe)
		run   func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe)
		want  map[StreamProbe]opCalls
	}{
		"fresh group, two new streams": {
			run: func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe) {
				for _, s := range []string{"pod-1", "pod-2"} {
					if err := probeDeliver(t, f, c, p, g, s); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: map[StreamProbe]opCalls{
				// pod-1: put (group missing), CreateLogGroup, PutRetentionPolicy, CreateLogStream, put; pod-2: put
				// (stream missing), CreateLogStream, put.
				ProbePutFirst: {"PutLogEvents": 4, "CreateLogStream": 2, "CreateLogGroup": 1, "PutRetentionPolicy": 1},
				// pod-2 is in a group this process created: CreateLogStream, put.
				ProbeAuto: {"PutLogEvents": 3, "CreateLogStream": 2, "CreateLogGroup": 1, "PutRetentionPolicy": 1},
				// pod-1: CreateLogStream (group missing), CreateLogGroup, PutRetentionPolicy, CreateLogStream, put.
				ProbeCreateFirst: {"PutLogEvents": 2, "CreateLogStream": 3, "CreateLogGroup": 1, "PutRetentionPolicy": 1},
			},
		},
		"existing group, new stream": {
			setup: func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe) {
				f.addStream(g, "old")
				c.markKnown(streamKey("scope", Destination{g, "old"}))
			},
			want: map[StreamProbe]opCalls{
				ProbePutFirst:    {"PutLogEvents": 2, "CreateLogStream": 1},
				ProbeAuto:        {"PutLogEvents": 2, "CreateLogStream": 1},
				ProbeCreateFirst: {"PutLogEvents": 1, "CreateLogStream": 1},
			},
		},
		"existing stream unknown to the cache (process start)": {
			setup: func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe) { f.addStream(g, "pod-1") },
			want: map[StreamProbe]opCalls{
				ProbePutFirst:    {"PutLogEvents": 1},
				ProbeAuto:        {"PutLogEvents": 1},
				ProbeCreateFirst: {"PutLogEvents": 1, "CreateLogStream": 1},
			},
		},
		"stream deleted behind our back": {
			setup: func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe) {
				f.addStream(g, "pod-1")
				c.markKnown(streamKey("scope", pod1))
				if err := probeDeliver(t, f, c, p, g, "pod-1"); err != nil {
					t.Fatal(err)
				}
				f.deleteStream(g, "pod-1")
			},
			// Setup: one put. Then put (stream missing), CreateLogStream, put, whatever the probe.
			want: map[StreamProbe]opCalls{
				ProbePutFirst:    {"PutLogEvents": 3, "CreateLogStream": 1},
				ProbeAuto:        {"PutLogEvents": 3, "CreateLogStream": 1},
				ProbeCreateFirst: {"PutLogEvents": 3, "CreateLogStream": 1},
			},
		},
		"group creation denied, group exists": {
			setup: func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe) {
				f.addStream(g, "")
				f.denyGroup = true
			},
			want: map[StreamProbe]opCalls{
				ProbePutFirst:    {"PutLogEvents": 2, "CreateLogStream": 1},
				ProbeAuto:        {"PutLogEvents": 2, "CreateLogStream": 1},
				ProbeCreateFirst: {"PutLogEvents": 1, "CreateLogStream": 1},
			},
		},
		"group creation denied, group missing": {
			setup: func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe) { f.denyGroup = true },
			run: func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe) {
				err := probeDeliver(t, f, c, p, g, "pod-1")
				var be *Error
				var apiErr smithy.APIError
				if !errors.As(err, &be) || be.Op != "CreateLogGroup" || !errors.As(err, &apiErr) ||
					apiErr.ErrorCode() != "AccessDeniedException" || IsRetryable(err) {
					t.Fatalf("error %v, want a terminal CreateLogGroup AccessDeniedException", err)
				}
				if c.Known("scope", pod1) {
					t.Error("missing stream cached as known")
				}
			},
			want: map[StreamProbe]opCalls{
				// put (group missing), CreateLogGroup denied, CreateLogStream (in case the group exists): missing.
				ProbePutFirst: {"PutLogEvents": 1, "CreateLogStream": 1, "CreateLogGroup": 1},
				ProbeAuto:     {"PutLogEvents": 1, "CreateLogStream": 1, "CreateLogGroup": 1},
				// CreateLogStream (group missing), CreateLogGroup denied.
				ProbeCreateFirst: {"CreateLogStream": 1, "CreateLogGroup": 1},
			},
		},
	}
	for name, tt := range tests {
		for _, p := range allProbes {
			t.Run(name+"/"+string(p), func(t *testing.T) {
				f, cache := newCountingLogs(), NewExistenceCache(100)
				if tt.setup != nil {
					tt.setup(t, f, cache, p)
				}
				run := tt.run
				if run == nil {
					run = func(t *testing.T, f *countingLogs, c *ExistenceCache, p StreamProbe) {
						if err := probeDeliver(t, f, c, p, g, "pod-1"); err != nil {
							t.Fatal(err)
						}
						if !c.Known("scope", pod1) {
							t.Error("stream not cached after delivery")
						}
					}
				}
				run(t, f, cache, p)
				f.assertCalls(t, tt.want[p])
				if accepted := f.calls["PutLogEvents"] - f.notFound["PutLogEvents"]; f.events != accepted {
					t.Errorf("%d events stored by %d accepted puts", f.events, accepted)
				}
			})
		}
	}
}

// Concurrent batchers on one new stream of a new group create the group and the stream once. Where the put
// comes first, the fake holds the batchers' first PutLogEvents until all have arrived, so that every one of
// them is refused and asks for the creation: the ones that ask after it finished must not repeat it.
func TestStreamProbeConcurrentOneStream(t *testing.T) {
	const n = 4
	tests := map[StreamProbe]opCalls{
		ProbePutFirst:    {"PutLogEvents": 2 * n, "CreateLogStream": 1, "CreateLogGroup": 1, "PutRetentionPolicy": 1},
		ProbeAuto:        {"PutLogEvents": 2 * n, "CreateLogStream": 1, "CreateLogGroup": 1, "PutRetentionPolicy": 1},
		ProbeCreateFirst: {"PutLogEvents": n, "CreateLogStream": 2, "CreateLogGroup": 1, "PutRetentionPolicy": 1},
	}
	for _, p := range allProbes {
		t.Run(string(p), func(t *testing.T) {
			f, cache := newCountingLogs(), NewExistenceCache(100)
			if p != ProbeCreateFirst {
				f.holdPuts, f.holdRelease = n, make(chan struct{})
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() { errs[i] = probeDeliver(t, f, cache, p, "/tenant/app", "pod-1") })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			f.assertCalls(t, tests[p])
			if _, nf := f.count("PutLogEvents"); p != ProbeCreateFirst && nf != n {
				t.Errorf("%d puts answered ResourceNotFound, want %d", nf, n)
			}
		})
	}
}
