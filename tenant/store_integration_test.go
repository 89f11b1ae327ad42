package tenant

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/logrouter/logrouter/internal/testaws"
)

// newMotoStore creates a fresh table in moto and returns a store on it and the raw client.
func newMotoStore(t *testing.T, optFns ...func(*StoreOptions)) (*Store, *dynamodb.Client) {
	t.Helper()
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("tenants")
	ctx := testaws.Context(t, time.Minute)
	if err := CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return NewStore(client, table, optFns...), client
}

func TestStoreCRUDIntegration(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	clock := &fakeClock{t: time.Now().UTC()}
	store, client := newMotoStore(t, func(o *StoreOptions) { o.Now = clock.Now })

	cw := validCW()
	cw.DesiredLogs = []string{"a", "b"}
	cw.Enabled = ptr(false)
	created, err := store.Create(ctx, cw)
	if err != nil {
		t.Fatal(err)
	}
	if created.CreatedAt == "" || created.CreatedAt != created.UpdatedAt {
		t.Fatalf("timestamps %q %q", created.CreatedAt, created.UpdatedAt)
	}
	if _, err := store.Create(ctx, cw); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}

	// The item uses the design's attribute names and types.
	raw, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(store.Table()), Key: key("acme-corp", TypeCloudWatch)})
	if err != nil {
		t.Fatal(err)
	}
	for attr, want := range map[string]string{"tenant_id": "S", "type": "S", "enabled": "BOOL", "desired_logs": "L",
		"log_distribution_role_arn": "S", "log_group_name": "S", "created_at": "S", "updated_at": "S"} {
		var got string
		switch raw.Item[attr].(type) {
		case *types.AttributeValueMemberS:
			got = "S"
		case *types.AttributeValueMemberBOOL:
			got = "BOOL"
		case *types.AttributeValueMemberL:
			got = "L"
		}
		if got != want {
			t.Errorf("attribute %s: %T, want %s", attr, raw.Item[attr], want)
		}
	}
	if _, ok := raw.Item["bucket_name"]; ok {
		t.Error("empty optional attribute stored")
	}

	got, err := store.Get(ctx, "acme-corp", TypeCloudWatch)
	if err != nil || got.IsEnabled() || len(got.DesiredLogs) != 2 {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if _, err := store.Get(ctx, "acme-corp", TypeS3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}

	clock.Advance(time.Second)
	updated, err := store.Update(ctx, "acme-corp", TypeCloudWatch, func(c *Config) error {
		c.Enabled = nil
		c.CreatedAt = "forged"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !updated.IsEnabled() || updated.CreatedAt != created.CreatedAt || updated.UpdatedAt == created.UpdatedAt {
		t.Fatalf("update: %+v", updated)
	}
	if _, err := store.Update(ctx, "acme-corp", TypeS3, func(*Config) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	abort := errors.New("abort")
	if _, err := store.Update(ctx, "acme-corp", TypeCloudWatch, func(*Config) error { return abort }); !errors.Is(err, abort) {
		t.Fatalf("aborted update: %v", err)
	}

	configs, bad, err := store.ListTenant(ctx, "acme-corp")
	if err != nil || len(configs) != 1 || len(bad) != 0 {
		t.Fatalf("list tenant: %v %v %v", configs, bad, err)
	}
	if err := store.Delete(ctx, "acme-corp", TypeCloudWatch); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, "acme-corp", TypeCloudWatch); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestStoreConcurrentUpdatesIntegration(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	store, _ := newMotoStore(t)
	if _, err := store.Create(ctx, validS3()); err != nil {
		t.Fatal(err)
	}
	// Each update appends one entry; with the conditional write none may be lost.
	const n = 6
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := store.Update(ctx, "acme-corp", TypeS3, func(c *Config) error {
				c.DesiredLogs = append(c.DesiredLogs, fmt.Sprintf("app-%d", i))
				return nil
			})
			errs <- err
		}()
	}
	ok := 0
	for i := 0; i < n; i++ {
		err := <-errs
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
	}
	got, err := store.Get(ctx, "acme-corp", TypeS3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.DesiredLogs) != ok {
		t.Fatalf("%d updates succeeded but %d entries stored: lost update", ok, len(got.DesiredLogs))
	}
}

func TestStoreListPaginationIntegration(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	store, _ := newMotoStore(t)
	for i := 0; i < 25; i++ {
		c := validS3()
		c.TenantID = fmt.Sprintf("t-%02d", i)
		if _, err := store.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	next := ""
	pages := 0
	for {
		p, err := store.List(ctx, 10, next)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range p.Configs {
			if seen[c.TenantID] {
				t.Fatalf("%s listed twice", c.TenantID)
			}
			seen[c.TenantID] = true
		}
		if p.Next == "" {
			break
		}
		next = p.Next
	}
	if len(seen) != 25 || pages < 3 {
		t.Fatalf("%d configs in %d pages", len(seen), pages)
	}
	if _, err := store.List(ctx, 10, "not-a-token"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestCacheHidesExpiredItemIntegration(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	store, client := newMotoStore(t)
	now := time.Now()

	// Under one tenant: an item whose ttl has passed but that DynamoDB has not deleted yet, a live one, and a
	// malformed one that must not hide the live one.
	expired := validCW()
	expired.TTL = ptr(now.Unix() - 3600)
	if _, err := store.Create(ctx, expired); err != nil {
		t.Fatal(err)
	}
	live := validS3()
	live.TTL = ptr(now.Unix() + 3600)
	if _, err := store.Create(ctx, live); err != nil {
		t.Fatal(err)
	}
	if configs, _, err := store.ListTenant(ctx, "acme-corp"); err != nil || len(configs) != 2 {
		t.Fatalf("store lists %d items (%v); the expired one must still be stored for this test", len(configs), err)
	}
	_, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(store.Table()), Item: map[string]types.AttributeValue{
		"tenant_id":    &types.AttributeValueMemberS{Value: "acme-corp"},
		"type":         &types.AttributeValueMemberS{Value: "kinesis"},
		"desired_logs": &types.AttributeValueMemberN{Value: "5"},
	}})
	if err != nil {
		t.Fatal(err)
	}

	cache := NewCache(store, CacheOptions{})
	got, err := cache.Lookup(ctx, "acme-corp")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != TypeS3 {
		t.Fatalf("cache returned %v, want only the live s3 config", types_(got))
	}
	if got[0].BucketPrefix != DefaultBucketPrefix {
		t.Fatalf("bucket prefix %q", got[0].BucketPrefix)
	}
	if none, err := cache.Lookup(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Fatalf("unknown tenant: %v, %v", none, err)
	}
}
