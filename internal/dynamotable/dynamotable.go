// Package dynamotable creates the project's DynamoDB tables (tenant configs, delivery progress) for tests and
// first-time setup. Production tables come from deploy/cloudformation/central.yaml.
package dynamotable

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// API is the subset of *dynamodb.Client that Create calls.
type API interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	DescribeTimeToLive(context.Context, *dynamodb.DescribeTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
}

// Key is one key attribute: a string partition key, or a string sort key when Range is set.
type Key struct {
	Name  string
	Range bool
}

// Index is a global secondary index with string keys, projecting every attribute.
type Index struct {
	Name string
	Keys []Key
}

// Create creates an on-demand table with string key attributes, waits until it is active (at most two
// minutes or ctx), then enables TTL on ttlAttribute.
//
// It is idempotent for its own effects: when the SDK retries a CreateTable or UpdateTimeToLive whose answer
// was lost, the table (with the same key schema) or the TTL setting found in place counts as created. A
// table of that name with another key schema is an error.
func Create(ctx context.Context, client API, table, ttlAttribute string, keys ...Key) error {
	return CreateWithIndexes(ctx, client, table, ttlAttribute, keys)
}

// CreateWithIndexes is Create with global secondary indexes.
func CreateWithIndexes(ctx context.Context, client API, table, ttlAttribute string, keys []Key, indexes ...Index) error {
	in := &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest}
	defined := map[string]bool{}
	schema := func(keys []Key) []types.KeySchemaElement {
		var out []types.KeySchemaElement
		for _, k := range keys {
			kt := types.KeyTypeHash
			if k.Range {
				kt = types.KeyTypeRange
			}
			if !defined[k.Name] {
				defined[k.Name] = true
				in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(k.Name), AttributeType: types.ScalarAttributeTypeS})
			}
			out = append(out, types.KeySchemaElement{AttributeName: aws.String(k.Name), KeyType: kt})
		}
		return out
	}
	in.KeySchema = schema(keys)
	for _, ix := range indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name), KeySchema: schema(ix.Keys),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	if _, err := client.CreateTable(ctx, in); err != nil {
		var inUse *types.ResourceInUseException
		if !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", table, err)
		}
		if err := sameKeySchema(ctx, client, table, in.KeySchema); err != nil {
			return fmt.Errorf("create table %s: %w", table, err)
		}
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", table, err)
	}
	_, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(ttlAttribute), Enabled: aws.Bool(true)},
	})
	if err != nil {
		d, derr := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
		if derr != nil || d.TimeToLiveDescription == nil || aws.ToString(d.TimeToLiveDescription.AttributeName) != ttlAttribute ||
			(d.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled && d.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabling) {
			return fmt.Errorf("enable TTL on %s: %w", table, err)
		}
	}
	return nil
}

// sameKeySchema reports an error unless the existing table has exactly the key schema want.
func sameKeySchema(ctx context.Context, client API, table string, want []types.KeySchemaElement) error {
	d, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return fmt.Errorf("table exists; describe it: %w", err)
	}
	got := d.Table.KeySchema
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = aws.ToString(got[i].AttributeName) == aws.ToString(want[i].AttributeName) && got[i].KeyType == want[i].KeyType
	}
	if !same {
		return errors.New("a table of that name already exists with another key schema")
	}
	return nil
}
