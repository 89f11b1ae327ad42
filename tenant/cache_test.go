package tenant

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeDynamo answers Query from per-tenant item lists; the other methods are not used by the cache.
type fakeDynamo struct {
	DynamoDBAPI
	mu      sync.Mutex
	items   map[string][]map[string]types.AttributeValue
	queries atomic.Int64
	gate    chan struct{} // when set, Query waits for it
	err     error
}

func (f *fakeDynamo) Query(ctx context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.queries.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	tenant := in.ExpressionAttributeValues[":t"].(*types.AttributeValueMemberS).Value
	return &dynamodb.QueryOutput{Items: f.items[tenant]}, nil
}

func (f *fakeDynamo) set(t *testing.T, tenant string, items ...any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.items == nil {
		f.items = map[string][]map[string]types.AttributeValue{}
	}
	f.items[tenant] = nil
	for _, it := range items {
		m, ok := it.(map[string]types.AttributeValue)
		if !ok {
			var err error
			if m, err = attributevalue.MarshalMap(it); err != nil {
				t.Fatal(err)
			}
		}
		f.items[tenant] = append(f.items[tenant], m)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestCache(t *testing.T, opts CacheOptions) (*Cache, *fakeDynamo, *fakeClock, *bytes.Buffer) {
	t.Helper()
	db := &fakeDynamo{}
	clk := &fakeClock{t: testNow}
	var logs bytes.Buffer
	opts.Now = clk.Now
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	return NewCache(NewStore(db, "t"), opts), db, clk, &logs
}

func types_(cs []Config) []Type {
	out := make([]Type, len(cs))
	for i, c := range cs {
		out[i] = c.Type
	}
	return out
}

func TestCacheTTL(t *testing.T) {
	ctx := context.Background()
	c, db, clk, _ := newTestCache(t, CacheOptions{})
	cw := validCW()
	db.set(t, "acme-corp", cw)

	got, err := c.Lookup(ctx, "acme-corp")
	if err != nil || len(got) != 1 || got[0].LogGroupName != cw.LogGroupName {
		t.Fatalf("got %v, %v", got, err)
	}
	db.set(t, "acme-corp", cw, validS3())
	clk.Advance(59 * time.Second)
	if got, _ := c.Lookup(ctx, "acme-corp"); len(got) != 1 || db.queries.Load() != 1 {
		t.Fatalf("within TTL: got %d configs after %d queries, want the cached 1 after 1", len(got), db.queries.Load())
	}
	clk.Advance(time.Second)
	if got, _ := c.Lookup(ctx, "acme-corp"); len(got) != 2 || db.queries.Load() != 2 {
		t.Fatalf("after TTL: got %d configs after %d queries, want 2 after 2", len(got), db.queries.Load())
	}
}

func TestCacheNegativeTTL(t *testing.T) {
	ctx := context.Background()
	c, db, clk, _ := newTestCache(t, CacheOptions{})
	if got, err := c.Lookup(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
	db.set(t, "nobody", validS3())
	clk.Advance(29 * time.Second)
	if got, _ := c.Lookup(ctx, "nobody"); len(got) != 0 || db.queries.Load() != 1 {
		t.Fatalf("negative entry not reused: %d configs, %d queries", len(got), db.queries.Load())
	}
	clk.Advance(time.Second)
	if got, _ := c.Lookup(ctx, "nobody"); len(got) != 1 {
		t.Fatalf("negative entry outlived NegativeTTL: %d configs", len(got))
	}
}

func TestCacheSkipsExpiredDisabledAndMalformed(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	c, db, clk, logs := newTestCache(t, CacheOptions{Metrics: NewCacheMetrics(reg)})

	expired := validS3()
	expired.TTL = ptr(testNow.Unix() - 1)
	disabled := validS3()
	disabled.TenantID = "other"
	disabled.Enabled = ptr(false)
	soon := validCW()
	soon.TTL = ptr(testNow.Unix() + 10) // expires while cached
	malformed := map[string]types.AttributeValue{
		"tenant_id": &types.AttributeValueMemberS{Value: "acme-corp"},
		"type":      &types.AttributeValueMemberS{Value: "s3"},
		"enabled":   &types.AttributeValueMemberS{Value: "yes"}, // must be a BOOL
	}
	invalid := validS3()
	invalid.BucketName = "Not_A_Bucket"

	db.set(t, "acme-corp", soon, expired, malformed)
	db.set(t, "other", disabled, validCW2("other"))
	db.set(t, "bad", invalid)

	got, err := c.Lookup(ctx, "acme-corp")
	if err != nil || len(got) != 1 || got[0].Type != TypeCloudWatch {
		t.Fatalf("acme-corp: got %v, %v; want only the unexpired cloudwatch config", types_(got), err)
	}
	if !strings.Contains(logs.String(), "malformed") {
		t.Fatalf("malformed item not logged: %s", logs)
	}
	clk.Advance(10 * time.Second)
	if got, _ := c.Lookup(ctx, "acme-corp"); len(got) != 0 {
		t.Fatalf("config visible after its ttl: %v", got)
	}
	if got, _ := c.Lookup(ctx, "other"); len(got) != 1 || got[0].Type != TypeCloudWatch {
		t.Fatalf("other: got %v, want only the enabled cloudwatch config", types_(got))
	}
	if got, _ := c.Lookup(ctx, "bad"); len(got) != 0 {
		t.Fatalf("invalid config returned: %v", got)
	}
	for reason, want := range map[string]float64{"expired": 1, "disabled": 1, "malformed": 1, "invalid": 1} {
		if v := testutil.ToFloat64(c.opts.Metrics.skipped.WithLabelValues(reason)); v != want {
			t.Errorf("skipped{%s} = %v, want %v", reason, v, want)
		}
	}
}

func validCW2(tenant string) Config {
	c := validCW()
	c.TenantID = tenant
	return c
}

func TestCacheNormalizesAndWarnsOnUnknownGroups(t *testing.T) {
	c, db, _, logs := newTestCache(t, CacheOptions{})
	s3 := validS3()
	s3.BucketPrefix = "archive"
	s3.Groups = []string{"Schedulr"}
	db.set(t, "acme-corp", s3)
	got, err := c.Lookup(context.Background(), "acme-corp")
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if got[0].BucketPrefix != "archive/" {
		t.Fatalf("prefix %q", got[0].BucketPrefix)
	}
	if !strings.Contains(logs.String(), "Schedulr") {
		t.Fatalf("unknown group not logged: %s", logs)
	}
}

func TestCacheCoalescesConcurrentLookups(t *testing.T) {
	c, db, _, _ := newTestCache(t, CacheOptions{})
	db.set(t, "acme-corp", validCW())
	db.gate = make(chan struct{})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Lookup(context.Background(), "acme-corp")
			if err == nil && len(got) != 1 {
				err = errors.New("wrong result")
			}
			errs <- err
		}()
	}
	// Let the first load start, give the others time to join it, then release it.
	for db.queries.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(db.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if q := db.queries.Load(); q != 1 {
		t.Fatalf("%d queries for %d concurrent lookups, want 1", q, n)
	}
}

func TestCacheWaiterContextCancel(t *testing.T) {
	c, db, _, _ := newTestCache(t, CacheOptions{})
	db.gate = make(chan struct{})
	defer close(db.gate)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Lookup(ctx, "acme-corp"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	ctx := context.Background()
	c, db, _, _ := newTestCache(t, CacheOptions{})
	db.err = errors.New("throttled")
	if _, err := c.Lookup(ctx, "acme-corp"); err == nil {
		t.Fatal("want the store error")
	}
	db.mu.Lock()
	db.err = nil
	db.mu.Unlock()
	db.set(t, "acme-corp", validCW())
	if got, err := c.Lookup(ctx, "acme-corp"); err != nil || len(got) != 1 {
		t.Fatalf("after recovery: %v, %v", got, err)
	}
}

func TestCacheBounded(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	c, db, _, _ := newTestCache(t, CacheOptions{MaxTenants: 2, Metrics: NewCacheMetrics(reg)})
	for _, tn := range []string{"a", "b"} {
		if _, err := c.Lookup(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = c.Lookup(ctx, "a") // a is now most recently used
	_, _ = c.Lookup(ctx, "c") // evicts b
	if c.Len() != 2 {
		t.Fatalf("len %d, want 2", c.Len())
	}
	q := db.queries.Load()
	_, _ = c.Lookup(ctx, "a")
	if db.queries.Load() != q {
		t.Fatal("a was evicted, want b (least recently used)")
	}
	_, _ = c.Lookup(ctx, "b")
	if db.queries.Load() != q+1 {
		t.Fatal("b was still cached")
	}
	if v := testutil.ToFloat64(c.opts.Metrics.evictions); v != 2 {
		t.Fatalf("evictions %v, want 2", v)
	}
}

func TestCacheReturnsCallersCopy(t *testing.T) {
	c, db, _, _ := newTestCache(t, CacheOptions{})
	db.set(t, "acme-corp", validCW())
	got, _ := c.Lookup(context.Background(), "acme-corp")
	got[0].LogGroupName = "changed"
	again, _ := c.Lookup(context.Background(), "acme-corp")
	if again[0].LogGroupName == "changed" {
		t.Fatal("caller's change leaked into the cache")
	}
}
