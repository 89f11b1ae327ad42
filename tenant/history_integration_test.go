package tenant

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/logrouter/logrouter/internal/testaws"
)

// newMotoHistoryStore returns a store on fresh configuration and audit tables in moto.
func newMotoHistoryStore(t *testing.T, clock *fakeClock) (*Store, *dynamodb.Client) {
	t.Helper()
	audit := testaws.Name("audit")
	client := dynamodb.NewFromConfig(testaws.Config(t))
	if err := CreateAuditTable(testaws.Context(t, time.Minute), client, audit); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(audit)})
	})
	store, _ := newMotoStore(t, func(o *StoreOptions) {
		o.Now = clock.Now
		o.HistoryTable = audit
		o.HistoryRetention = 48 * time.Hour
	})
	return store, client
}

func TestHistoryRecordsEveryChangeIntegration(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	clock := &fakeClock{t: time.Now().UTC()}
	store, client := newMotoHistoryStore(t, clock)
	change := func(op, id string) context.Context {
		return WithChange(ctx, Change{Operation: op, KeyID: "ops-1", RequestID: id, Remote: "192.0.2.1:4000"})
	}

	cw := validCW()
	cw.Normalize()
	if _, err := store.Create(change("", "req-create"), cw); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if _, err := store.Update(change(OpPatch, "req-patch"), "acme-corp", TypeCloudWatch, func(c *Config) error {
		c.LogGroupName = "/aws/logs/other"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := store.Delete(change("", "req-delete"), "acme-corp", TypeCloudWatch); err != nil {
		t.Fatal(err)
	}

	page, err := store.History(ctx, "acme-corp", TypeCloudWatch, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 || page.Next == "" {
		t.Fatalf("first page: %+v", page)
	}
	rest, err := store.History(ctx, "acme-corp", TypeCloudWatch, 2, page.Next)
	if err != nil {
		t.Fatal(err)
	}
	all := append(page.Entries, rest.Entries...)
	if len(all) != 3 {
		t.Fatalf("%d entries: %+v", len(all), all)
	}
	del, patch, create := all[0], all[1], all[2]
	if del.Operation != OpDelete || del.RequestID != "req-delete" || del.After != nil || del.Before == nil || del.Before.LogGroupName != "/aws/logs/other" {
		t.Fatalf("delete entry %+v", del)
	}
	if patch.Operation != OpPatch || patch.Before.LogGroupName != "/aws/logs/acme-corp" || patch.After.LogGroupName != "/aws/logs/other" {
		t.Fatalf("patch entry %+v", patch)
	}
	if create.Operation != OpCreate || create.Before != nil || create.After == nil || create.KeyID != "ops-1" || create.Remote != "192.0.2.1:4000" {
		t.Fatalf("create entry %+v", create)
	}
	if !(del.At > patch.At && patch.At > create.At) {
		t.Fatalf("not newest first: %s %s %s", del.At, patch.At, create.At)
	}

	// Retention: expires_at is the change time plus the configured retention.
	out, err := client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(store.HistoryTable()),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: historyPK("acme-corp", TypeCloudWatch)}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := out.Items[0][AuditTTLAttribute].(*types.AttributeValueMemberN)
	if want := strconv.FormatInt(clock.Now().Add(48*time.Hour).Unix(), 10); exp == nil || exp.Value != want {
		t.Fatalf("expires_at %v, want %s", out.Items[0][AuditTTLAttribute], want)
	}

	if _, err := store.History(ctx, "acme-corp", TypeCloudWatch, 10, "bogus"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("bad token: %v", err)
	}
}

// The change and its history entry are one transaction: when either write fails, neither is stored.
func TestHistoryFailingTransactionLeavesNeitherIntegration(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	clock := &fakeClock{t: time.Now().UTC()}
	store, client := newMotoHistoryStore(t, clock)

	// The configuration's condition fails (it exists): no history entry for the refused create.
	s3 := validS3()
	s3.Normalize()
	if _, err := store.Create(WithChange(ctx, Change{RequestID: "first"}), s3); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if _, err := store.Create(WithChange(ctx, Change{RequestID: "second"}), s3); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	page, err := store.History(ctx, "acme-corp", TypeS3, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].RequestID != "first" {
		t.Fatalf("history after a refused create: %+v", page.Entries)
	}

	// The history entry's write fails (an entry with the same key exists): the configuration is not created.
	clock.Advance(time.Second)
	ctxDup := WithChange(ctx, Change{RequestID: "dup"})
	cw := validCW()
	cw.Normalize()
	clash, err := store.historyItem(ctxDup, OpCreate, "acme-corp", TypeCloudWatch, nil, nil, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(store.HistoryTable()), Item: clash}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctxDup, cw); err == nil || errors.Is(err, ErrExists) {
		t.Fatalf("create with a clashing history entry: %v", err)
	}
	if _, err := store.Get(ctx, "acme-corp", TypeCloudWatch); !errors.Is(err, ErrNotFound) {
		t.Fatalf("configuration written without its history entry: %v", err)
	}
	// The same holds for a delete.
	clash, err = store.historyItem(ctxDup, OpDelete, "acme-corp", TypeS3, nil, nil, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(store.HistoryTable()), Item: clash}); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctxDup, "acme-corp", TypeS3); err == nil {
		t.Fatal("delete with a clashing history entry succeeded")
	}
	if _, err := store.Get(ctx, "acme-corp", TypeS3); err != nil {
		t.Fatalf("configuration deleted without its history entry: %v", err)
	}
}

func TestCheckNamesTheMissingTableIntegration(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	err := NewStore(client, "no-such-table-"+testaws.Name("x")).Check(ctx)
	if err == nil {
		t.Fatal("Check passed on a missing table")
	}
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("error %v is not ResourceNotFound", err)
	}
	clock := &fakeClock{t: time.Now()}
	store, _ := newMotoHistoryStore(t, clock)
	if err := store.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
