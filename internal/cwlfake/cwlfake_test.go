package cwlfake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ev(ts time.Time, msg string) types.InputLogEvent {
	return types.InputLogEvent{Timestamp: aws.Int64(ts.UnixMilli()), Message: aws.String(msg)}
}

func setup(t *testing.T) (*Server, *cloudwatchlogs.Client) {
	s := Start(t, func(o *Options) { o.Now = func() time.Time { return now } })
	s.CreateLogStream("g", "s")
	return s, s.Client(func(o *cloudwatchlogs.Options) { o.RetryMaxAttempts = 1 })
}

func put(c *cloudwatchlogs.Client, evs ...types.InputLogEvent) (*cloudwatchlogs.PutLogEventsOutput, error) {
	return c.PutLogEvents(context.Background(), &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String("g"), LogStreamName: aws.String("s"), LogEvents: evs,
	})
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func TestPutLogEventsRules(t *testing.T) {
	half := MaxBatchBytes / 2
	many := func(n int) []types.InputLogEvent {
		out := make([]types.InputLogEvent, n)
		for i := range out {
			out[i] = ev(now, "m")
		}
		return out
	}
	tests := map[string]struct {
		evs  []types.InputLogEvent
		want string
	}{
		"size at limit":        {[]types.InputLogEvent{ev(now, strings.Repeat("a", half-26)), ev(now, strings.Repeat("b", half-26))}, ""},
		"size one over":        {[]types.InputLogEvent{ev(now, strings.Repeat("a", half-26)), ev(now, strings.Repeat("b", half-25))}, "InvalidParameterException"},
		"size counts UTF-8":    {[]types.InputLogEvent{ev(now, strings.Repeat("a", half-26)), ev(now, strings.Repeat("é", (half-26)/2)+"é")}, "InvalidParameterException"},
		"event at limit":       {[]types.InputLogEvent{ev(now, strings.Repeat("a", MaxBatchBytes-26))}, ""},
		"10000 events":         {many(10000), ""},
		"10001 events":         {many(10001), "InvalidParameterException"},
		"no events":            {[]types.InputLogEvent{}, "InvalidParameterException"},
		"empty message":        {[]types.InputLogEvent{ev(now, "")}, "InvalidParameterException"},
		"out of order":         {[]types.InputLogEvent{ev(now, "b"), ev(now.Add(-time.Millisecond), "a")}, "InvalidParameterException"},
		"equal timestamps":     {[]types.InputLogEvent{ev(now, "b"), ev(now, "a")}, ""},
		"span 24h":             {[]types.InputLogEvent{ev(now.Add(-24*time.Hour), "a"), ev(now, "b")}, ""},
		"span 24h + 1ms":       {[]types.InputLogEvent{ev(now.Add(-24*time.Hour-time.Millisecond), "a"), ev(now, "b")}, "InvalidParameterException"},
		"span ignores too old": {[]types.InputLogEvent{ev(now.Add(-20*24*time.Hour), "a"), ev(now, "b")}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, c := setup(t)
			_, err := put(c, tc.evs...)
			if got := code(err); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRejectedEvents(t *testing.T) {
	s, c := setup(t)
	s.SetRetention("g", 7)
	out, err := put(c,
		ev(now.Add(-15*24*time.Hour), "too old and expired"),
		ev(now.Add(-8*24*time.Hour), "expired"),
		ev(now, "ok"),
		ev(now.Add(2*time.Hour), "ok at the future limit"),
		ev(now.Add(2*time.Hour+time.Millisecond), "too new"))
	if err != nil {
		t.Fatal(err)
	}
	ri := out.RejectedLogEventsInfo
	if ri == nil || aws.ToInt32(ri.TooOldLogEventEndIndex) != 1 || aws.ToInt32(ri.ExpiredLogEventEndIndex) != 2 || aws.ToInt32(ri.TooNewLogEventStartIndex) != 4 {
		t.Fatalf("rejected info %+v", ri)
	}
	if got := s.Events("g", "s"); len(got) != 2 || got[0].Message != "ok" {
		t.Fatalf("stored %+v", got)
	}
}

func TestResourcesAndReadback(t *testing.T) {
	s := Start(t, func(o *Options) { o.Now = func() time.Time { return now } })
	c := s.Client(func(o *cloudwatchlogs.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	if _, err := put(c, ev(now, "x")); code(err) != "ResourceNotFoundException" {
		t.Fatalf("put to missing group: %v", err)
	}
	_, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s")})
	if code(err) != "ResourceNotFoundException" {
		t.Fatalf("stream in missing group: %v", err)
	}
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("g"), KmsKeyId: aws.String("k"), Tags: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("g")}); !errors.As(err, new(*types.ResourceAlreadyExistsException)) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := c.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("g"), RetentionInDays: aws.Int32(8)}); code(err) != "InvalidParameterException" {
		t.Fatalf("invalid retention: %v", err)
	}
	if _, err := c.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("g"), RetentionInDays: aws.Int32(30)}); err != nil {
		t.Fatal(err)
	}
	if _, err := put(c, ev(now, "x")); code(err) != "ResourceNotFoundException" {
		t.Fatalf("put to missing stream: %v", err)
	}
	if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	g, _ := s.Group("g")
	if g.KMSKeyID != "k" || g.Tags["a"] != "b" || g.RetentionDays != 30 || len(g.Streams) != 1 {
		t.Fatalf("group %+v", g)
	}
	var evs []types.InputLogEvent
	for i := range 2500 {
		evs = append(evs, ev(now.Add(time.Duration(i)*time.Millisecond), strings.Repeat("z", 1000)))
	}
	if _, err := put(c, evs[:1000]...); err != nil {
		t.Fatal(err)
	}
	if _, err := put(c, evs[1000:2000]...); err != nil {
		t.Fatal(err)
	}
	if _, err := put(c, evs[2000:]...); err != nil {
		t.Fatal(err)
	}
	// Read back with the SDK's default retries: its client intermittently fails a response read on a
	// reused loopback connection ("use of closed network connection"), a transport flake unrelated to the
	// fake's paging semantics, which this part checks.
	reader := s.Client()
	var got int
	var token *string
	for {
		page, err := reader.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s"),
			StartFromHead: aws.Bool(true), Limit: aws.Int32(300), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if got >= len(evs) || aws.ToInt64(e.Timestamp) != aws.ToInt64(evs[got].Timestamp) {
				t.Fatalf("event %d out of order or extra", got)
			}
			got++
		}
		if token != nil && aws.ToString(page.NextForwardToken) == *token {
			break
		}
		token = page.NextForwardToken
	}
	if got != len(evs) {
		t.Fatalf("read back %d events, want %d", got, len(evs))
	}
	ds, err := c.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("g")})
	if err != nil || len(ds.LogStreams) != 1 || aws.ToString(ds.LogStreams[0].LogStreamName) != "s" {
		t.Fatalf("describe: %v %+v", err, ds)
	}
}

func TestFaults(t *testing.T) {
	tests := map[string]struct {
		fault  Fault
		check  func(error) bool
		stored int64
	}{
		"throttle":         {FaultThrottle, func(err error) bool { return code(err) == "ThrottlingException" }, 0},
		"server error":     {FaultServerError, func(err error) bool { return code(err) == "ServiceUnavailableException" }, 0},
		"drop":             {FaultDrop, func(err error) bool { return err != nil && code(err) == "other: "+err.Error() }, 0},
		"drop after store": {FaultDropAfterStore, func(err error) bool { return err != nil && code(err) == "other: "+err.Error() }, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, c := setup(t)
			s.InjectFaults("PutLogEvents", tc.fault)
			_, err := put(c, ev(now, strings.Repeat("p", 4096)))
			if !tc.check(err) || s.EventCount() != tc.stored || s.FaultsServed(tc.fault) != 1 {
				t.Fatalf("err %v, stored %d", err, s.EventCount())
			}
			if _, err := put(c, ev(now, "after")); err != nil {
				t.Fatalf("request after the fault: %v", err)
			}
		})
	}
}

func TestStrictJSONStrings(t *testing.T) {
	for raw, ok := range map[string]bool{
		`"abc"`: true, `"\ud83c\udf89"`: true, `"\u00e9\n\/"`: true,
		`"\ud83c"`: false, `"\udf89"`: false, `"\ud83cx"`: false, "\"a\x01\"": false, `"\q"`: false, `"a"b"`: false, `"\u12"`: false,
	} {
		if err := checkJSONString([]byte(raw)); (err == nil) != ok {
			t.Errorf("checkJSONString(%s) = %v, want ok=%v", raw, err, ok)
		}
	}
}

func TestHoldPuts(t *testing.T) {
	s, c := setup(t)
	s.HoldPutsAfter(2)
	for i := range 2 {
		if _, err := put(c, ev(now, fmt.Sprint("passed ", i))); err != nil {
			t.Fatal(err)
		}
	}
	// The third waits at the gate; a client giving up stores nothing.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s"),
			LogEvents: []types.InputLogEvent{ev(now, "abandoned")}})
		errc <- err
	}()
	until(func() bool { return s.HeldPuts() == 1 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("an abandoned request succeeded")
	}
	until(func() bool { return s.Active() == 0 })
	if s.EventCount() != 2 {
		t.Fatalf("stored %d events, want the 2 passed", s.EventCount())
	}
	// A held request goes through once released.
	go func() { _, err := put(c, ev(now, "released")); errc <- err }()
	until(func() bool { return s.HeldPuts() == 1 })
	s.ReleasePuts()
	if err := <-errc; err != nil || s.EventCount() != 3 {
		t.Fatalf("after release: %v, %d events", err, s.EventCount())
	}
}

// until polls cond (a state the test waits for, not a deadline).
func until(cond func() bool) {
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

func TestHoldCountsOnlyStoredRequests(t *testing.T) {
	s, c := setup(t)
	s.HoldPutsAfter(1)
	// A request to a missing stream stores nothing and does not use the place.
	if _, err := c.PutLogEvents(context.Background(), &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("g"),
		LogStreamName: aws.String("missing"), LogEvents: []types.InputLogEvent{ev(now, "x")}}); code(err) != "ResourceNotFoundException" {
		t.Fatalf("missing stream: %v", err)
	}
	if _, err := put(c, ev(now, "stored")); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := put(c, ev(now, "held")); errc <- err }()
	until(func() bool { return s.HeldPuts() == 1 })
	if s.EventCount() != 1 {
		t.Fatalf("stored %d events", s.EventCount())
	}
	s.ReleasePuts()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestDenials(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	s.Deny("PutLogEvents", "g", "AccessDeniedException")
	if _, err := put(c, ev(now, "x")); code(err) != "AccessDeniedException" || s.EventCount() != 0 {
		t.Fatalf("denied put: %v, stored %d", err, s.EventCount())
	}
	// Other groups and operations are not affected.
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	s.Allow("PutLogEvents", "g")
	if _, err := put(c, ev(now, "x")); err != nil {
		t.Fatalf("after Allow: %v", err)
	}

	s.DenyKMSKey("arn:aws:kms:us-east-1:1:key/bad")
	_, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("enc"), KmsKeyId: aws.String("arn:aws:kms:us-east-1:1:key/bad")})
	if code(err) != "InvalidParameterException" {
		t.Fatalf("refused KMS key: %v", err)
	}
	if _, ok := s.Group("enc"); ok {
		t.Fatal("the group was created with a refused key")
	}
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("enc"), KmsKeyId: aws.String("arn:aws:kms:us-east-1:1:key/good")}); err != nil {
		t.Fatalf("another key: %v", err)
	}
}

func TestReleaseToNewConnectionsRefusesOldOnes(t *testing.T) {
	s, old := setup(t)
	if _, err := put(old, ev(now, "before the hold")); err != nil { // opens old's keep-alive connection
		t.Fatal(err)
	}
	s.HoldPutsAfter(0)
	errc := make(chan error, 1)
	go func() { _, err := put(old, ev(now, "held on an old connection")); errc <- err }()
	until(func() bool { return s.HeldPuts() == 1 })
	s.ReleasePutsToNewConnections()
	if err := <-errc; code(err) != "ServiceUnavailableException" {
		t.Fatalf("held request of an old connection: %v, want refused", err)
	}
	// Another client opens a new connection: its requests are stored.
	fresh := s.Client(func(o *cloudwatchlogs.Options) { o.RetryMaxAttempts = 1 })
	if _, err := put(fresh, ev(now, "new connection")); err != nil {
		t.Fatalf("new connection: %v", err)
	}
	// The old connection was closed by the refusal, so old's next request comes on a new connection too.
	if _, err := put(old, ev(now, "old client, new connection")); err != nil {
		t.Fatalf("old client after the refusal: %v", err)
	}
	var got []string
	for _, e := range s.Events("g", "s") {
		got = append(got, e.Message)
	}
	if want := []string{"before the hold", "new connection", "old client, new connection"}; !slices.Equal(got, want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
}
