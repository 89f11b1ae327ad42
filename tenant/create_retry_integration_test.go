package tenant

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/logrouter/logrouter/internal/testaws"
)

// lostAnswer sends every write twice and returns the second answer, as the SDK does when the answer to a
// write that DynamoDB applied is lost and it retries (emulators honour no idempotency token).
type lostAnswer struct{ *dynamodb.Client }

func (c lostAnswer) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if _, err := c.Client.PutItem(ctx, in, optFns...); err != nil {
		return nil, err
	}
	return c.Client.PutItem(ctx, in, optFns...)
}

func (c lostAnswer) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if _, err := c.Client.TransactWriteItems(ctx, in, optFns...); err != nil {
		return nil, err
	}
	return c.Client.TransactWriteItems(ctx, in, optFns...)
}

func TestCreateRecognisesItsOwnRetriedWriteIntegration(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	clock := &fakeClock{t: time.Now().UTC()}
	for name, history := range map[string]bool{"plain put": false, "with history": true} {
		t.Run(name, func(t *testing.T) {
			var base *Store
			if history {
				base, _ = newMotoHistoryStore(t, clock)
			} else {
				base, _ = newMotoStore(t, func(o *StoreOptions) { o.Now = clock.Now })
			}
			client := dynamodb.NewFromConfig(testaws.Config(t))
			store := NewStore(lostAnswer{client}, base.table, func(o *StoreOptions) { *o = base.opts })
			cw := validCW()
			cw.Normalize()
			got, err := store.Create(WithChange(ctx, Change{Operation: OpCreate, KeyID: "k", RequestID: "req-" + name}), cw)
			if err != nil {
				t.Fatalf("a create whose write was retried after a lost answer: %v, want its own write recognised", err)
			}
			if got.TenantID != cw.TenantID || got.CreatedAt == "" {
				t.Fatalf("created %+v", got)
			}
			// Another create of the same key is refused all the same.
			if _, err := base.Create(ctx, cw); !errors.Is(err, ErrExists) {
				t.Fatalf("second create: %v, want ErrExists", err)
			}
		})
	}
}
