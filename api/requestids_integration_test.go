package api

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// lostAnswer sends every PutItem twice and returns the second answer, as the SDK does when the answer to a
// PutItem that DynamoDB applied is lost and it retries.
type lostAnswer struct{ *dynamodb.Client }

func (c lostAnswer) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if _, err := c.Client.PutItem(ctx, in, optFns...); err != nil {
		return nil, err
	}
	return c.Client.PutItem(ctx, in, optFns...)
}

func TestRequestIDClaimSurvivesRetriedWriteIntegration(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	audit := testaws.Name("claim-audit")
	if err := tenant.CreateAuditTable(ctx, client, audit); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(5 * time.Minute)
	retried := NewDynamoRequestIDs(lostAnswer{client}, audit, nil)
	ok, err := retried.Claim(ctx, "ops", "0123456789abcdef-1", until)
	if err != nil || !ok {
		t.Fatalf("a claim whose write was retried after a lost answer: ok=%v err=%v, want its own claim accepted", ok, err)
	}
	// The id is taken all the same: another replica, or the same one, refuses it now.
	other := NewDynamoRequestIDs(client, audit, nil)
	for _, c := range []*DynamoRequestIDs{other, retried} {
		if ok, err := c.Claim(ctx, "ops", "0123456789abcdef-1", until); err != nil || ok {
			t.Fatalf("second claim of a used id: ok=%v err=%v, want refused", ok, err)
		}
	}
	if ok, err := other.Claim(ctx, "ops", "0123456789abcdef-2", until); err != nil || !ok {
		t.Fatalf("a fresh id: ok=%v err=%v", ok, err)
	}
}
