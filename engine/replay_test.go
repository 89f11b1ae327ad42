package engine

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/tenant"
)

var replayKeys = map[string][]byte{"k1": []byte("replay-secret-0123456789")}

func replayBody(t *testing.T, r Replay, keyID string, secret []byte, objs ...ObjectRef) []byte {
	t.Helper()
	b, err := EncodeReplayMessage(r, keyID, secret, objs)
	require.NoError(t, err)
	return b
}

func TestReplayMessageRoundTrip(t *testing.T) {
	objs := []ObjectRef{{Bucket: "central", Key: "c1/acme/my app/pod/f+é.json.gz", Size: 7, ETag: "abc", VersionID: "v1"}}
	r := Replay{V: 1, ID: "r-1", Types: []tenant.Type{tenant.TypeCloudWatch}, OutOfWindow: "drop"}
	n, err := ParseNotification(replayBody(t, r, "k1", replayKeys["k1"], objs...))
	require.NoError(t, err)
	require.Equal(t, objs, n.Objects)
	require.NotNil(t, n.Replay)
	assert.Equal(t, "r-1", n.Replay.ID)
	require.NoError(t, VerifyReplay(n.Replay, replayKeys, n.Objects))
}

func TestReplayMarkerRejected(t *testing.T) {
	obj := ObjectRef{Bucket: "central", Key: key1, ETag: "abc"}
	good := Replay{V: 1, ID: "r-1", Types: []tenant.Type{tenant.TypeS3}, OutOfWindow: "drop"}
	signed := string(replayBody(t, good, "k1", replayKeys["k1"], obj))
	tests := map[string]struct {
		body   string
		keys   map[string][]byte
		forged bool // parses, fails authentication
	}{
		"unknown marker field":    {body: strings.Replace(signed, `"v":1`, `"v":1,"extra":true`, 1)},
		"wrong version":           {body: strings.Replace(signed, `"v":1`, `"v":2`, 1)},
		"unknown type":            {body: strings.Replace(signed, `"types":["s3"]`, `"types":["kinesis"]`, 1)},
		"no types":                {body: strings.Replace(signed, `"types":["s3"]`, `"types":[]`, 1)},
		"duplicate type":          {body: strings.Replace(signed, `"types":["s3"]`, `"types":["s3","s3"]`, 1)},
		"bad policy":              {body: strings.Replace(signed, `"out_of_window":"drop"`, `"out_of_window":"keep"`, 1)},
		"bad id":                  {body: strings.Replace(signed, `"id":"r-1"`, `"id":"R 1"`, 1)},
		"marker is null":          {body: strings.TrimSuffix(string(s3Body("central", key1)), "}") + `,"logrouterReplay":null}`},
		"marker not an object":    {body: `{"Records":[],"logrouterReplay":"force"}`},
		"unsigned":                {body: regexp.MustCompile(`"signature":"[0-9a-f]*"`).ReplaceAllString(signed, `"signature":""`)},
		"types widened":           {body: strings.Replace(signed, `"types":["s3"]`, `"types":["s3","cloudwatch"]`, 1), forged: true},
		"force added":             {body: strings.Replace(signed, `"out_of_window":"drop"`, `"out_of_window":"drop","force":true`, 1), forged: true},
		"policy changed":          {body: strings.Replace(signed, `"out_of_window":"drop"`, `"out_of_window":"clamp"`, 1), forged: true},
		"other object":            {body: strings.Replace(signed, "pod-1", "pod-2", 1), forged: true},
		"unknown key id":          {body: strings.Replace(signed, `"key_id":"k1"`, `"key_id":"k2"`, 1), forged: true},
		"wrong secret":            {body: string(replayBody(t, good, "k1", []byte("another-secret-0123456"), obj)), forged: true},
		"processor has no keys":   {body: signed, keys: map[string][]byte{}, forged: true},
		"signature not hex":       {body: strings.Replace(signed, `"signature":"`, `"signature":"zz`, 1), forged: true},
		"signature of other body": {body: strings.Replace(signed, `"id":"r-1"`, `"id":"r-2"`, 1), forged: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, err := ParseNotification([]byte(tc.body))
			if !tc.forged {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrMalformed)
			} else {
				require.NoError(t, err)
				keys := replayKeys
				if tc.keys != nil {
					keys = tc.keys
				}
				assert.ErrorIs(t, VerifyReplay(n.Replay, keys, n.Objects), ErrReplayForged)
			}
			// Whatever the defect, the processor drops the message as malformed and delivers nothing.
			w := newFakeWorld()
			w.s3.objects["central/"+key1] = vectorObject("x", 3)
			w.configs["acme"] = []tenant.Config{s3Config("acme", "archive"), cwConfig("acme", "/acme/app", "arn:aws:iam::1:role/r")}
			p := w.processor(t, func(o *Options) {
				o.ReplayKeys = tc.keys
				if o.ReplayKeys == nil {
					o.ReplayKeys = replayKeys
				}
			})
			res := p.ProcessMessage(context.Background(), []byte(tc.body))
			assert.Equal(t, OutcomeDropped, res.Outcome)
			assert.Equal(t, ReasonMalformedBody, res.Reason)
			assert.True(t, errors.Is(res.Err, ErrMalformed))
			assert.Empty(t, w.s3.copies)
			assert.Empty(t, w.sinks)
		})
	}
}

func TestReplayTypesForceAndPolicy(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("x", 5)
	w.configs["acme"] = []tenant.Config{s3Config("acme", "archive"), cwConfig("acme", "/acme/app", "arn:aws:iam::1:role/r")}
	var policies []batcher.Policy
	reg := prometheus.NewRegistry()
	p := w.processor(t, func(o *Options) {
		o.ReplayKeys = replayKeys
		o.Metrics = NewMetrics(reg, false)
		o.NewSink = func(ctx context.Context, c batcher.API, scope string, d batcher.Destination, fns ...func(*batcher.Options)) LogSink {
			var bo batcher.Options
			for _, f := range fns {
				f(&bo)
			}
			policies = append(policies, bo.OutOfWindow)
			return w.newSink(ctx, c, scope, d)
		}
	})
	ctx := context.Background()
	obj := ObjectRef{Bucket: "central", Key: key1}
	// The original notification delivers both destinations.
	res := p.ProcessMessage(ctx, s3Body("central", key1))
	require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
	require.Len(t, w.s3.copies, 1)
	require.Len(t, w.sinksFor("/acme/app"), 1)
	assert.Equal(t, []batcher.Policy{batcher.PolicyClamp}, policies, "a normal message keeps the processor's policy")

	cwOnly := Replay{V: 1, ID: "r-1", Types: []tenant.Type{tenant.TypeCloudWatch}, OutOfWindow: "drop"}
	// A replay of CloudWatch only finds that destination done and never touches the S3 one.
	res = p.ProcessMessage(ctx, replayBody(t, cwOnly, "k1", replayKeys["k1"], obj))
	require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
	require.Len(t, res.Objects[0].Destinations, 1)
	assert.Equal(t, tenant.TypeCloudWatch, res.Objects[0].Destinations[0].Type)
	assert.True(t, res.Objects[0].Destinations[0].AlreadyDone)
	assert.Equal(t, 1, res.Objects[0].NotReplayed)
	assert.Equal(t, "r-1", res.Objects[0].ReplayID)
	assert.Len(t, w.s3.copies, 1)
	assert.Len(t, w.sinksFor("/acme/app"), 1)

	// Forced: delivered again under the replay's own progress, with the replay's policy; once only.
	forced := cwOnly
	forced.ID, forced.Force = "r-2", true
	for range 2 {
		res = p.ProcessMessage(ctx, replayBody(t, forced, "k1", replayKeys["k1"], obj))
		require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
	}
	sinks := w.sinksFor("/acme/app")
	require.Len(t, sinks, 2, "the forced replay re-delivers once; its repetition is skipped")
	assert.Len(t, sinks[1].events, 5)
	assert.Equal(t, []batcher.Policy{batcher.PolicyClamp, batcher.PolicyDrop}, policies)
	assert.Len(t, w.s3.copies, 1, "S3 was not named")
	assert.EqualValues(t, 1, latencySamples(t, p, tenant.TypeCloudWatch), "a replay does not feed the latency histogram")

	// A replay for S3 only, after the S3 destination's own delivery: nothing to do.
	s3Only := Replay{V: 1, ID: "r-3", Types: []tenant.Type{tenant.TypeS3}, OutOfWindow: "clamp"}
	res = p.ProcessMessage(ctx, replayBody(t, s3Only, "k1", replayKeys["k1"], obj))
	require.Equal(t, OutcomeSuccess, res.Outcome)
	assert.True(t, res.Objects[0].Destinations[0].AlreadyDone)
	assert.Len(t, w.s3.copies, 1)
}

func latencySamples(t *testing.T, p *Processor, typ tenant.Type) uint64 {
	t.Helper()
	var d dto.Metric
	require.NoError(t, p.m.Latency.WithLabelValues(string(typ)).(prometheus.Metric).Write(&d))
	return d.GetHistogram().GetSampleCount()
}
