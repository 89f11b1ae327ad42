package dynamotable_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/logrouter/logrouter/internal/dynamotable"
	"github.com/logrouter/logrouter/internal/testaws"
)

func TestCreateIsIdempotentIntegration(t *testing.T) {
	ctx := testaws.Context(t, 2*time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("dyntable")
	keys := []dynamotable.Key{{Name: "pk"}, {Name: "sk", Range: true}}

	if err := dynamotable.Create(ctx, client, table, "expires_at", keys...); err != nil {
		t.Fatalf("first create: %v", err)
	}
	// What a retried CreateTable (its first answer lost) meets: the table and its TTL already in place.
	if err := dynamotable.Create(ctx, client, table, "expires_at", keys...); err != nil {
		t.Fatalf("second create with the same schema: %v", err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if got := ttl.TimeToLiveDescription; got == nil || aws.ToString(got.AttributeName) != "expires_at" || got.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Fatalf("TTL %+v", got)
	}
	err = dynamotable.Create(ctx, client, table, "expires_at", dynamotable.Key{Name: "id"})
	if err == nil || !strings.Contains(err.Error(), "another key schema") {
		t.Fatalf("create with another key schema: %v", err)
	}
}
