package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/logrouter/logrouter/tenant"
)

// RequestIDs records the request ids of accepted mutating requests, so that a captured request cannot be
// replayed while its timestamp is still accepted. Every replica of the API must share one.
type RequestIDs interface {
	// Claim records (keyID, requestID) until until. It returns false when the pair was already recorded and
	// has not expired, i.e. the request is a replay.
	Claim(ctx context.Context, keyID, requestID string, until time.Time) (bool, error)
}

// DynamoRequestIDs keeps request ids in the audit table (tenant.AuditPartitionKey): one item per id,
// pk = "request#<key_id>#<request_id>", sk = "request", expires_at = the end of the request's timestamp
// window. The claim is a conditional PutItem, so of two replicas receiving the same request exactly one
// accepts it. Each claim writes a random token: when the SDK retries a PutItem whose answer was lost, the
// retry fails its condition on the item the first try wrote, and the token read back (consistently) tells
// that this claim, not another one, owns it.
type DynamoRequestIDs struct {
	client dynamoPutter
	table  string
	now    func() time.Time
}

type dynamoPutter interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// attrClaim holds a request-id item's claim token.
const attrClaim = "claim"

// NewDynamoRequestIDs returns request-id records in table (an audit table) through client.
func NewDynamoRequestIDs(client dynamoPutter, table string, now func() time.Time) *DynamoRequestIDs {
	if now == nil {
		now = time.Now
	}
	return &DynamoRequestIDs{client: client, table: table, now: now}
}

// Claim implements RequestIDs. DynamoDB deletes expired items lazily, so an item past its expires_at counts as
// absent.
func (d *DynamoRequestIDs) Claim(ctx context.Context, keyID, requestID string, until time.Time) (bool, error) {
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return false, fmt.Errorf("claim token: %w", err)
	}
	token := hex.EncodeToString(tok[:])
	key := map[string]types.AttributeValue{
		tenant.AuditPartitionKey: &types.AttributeValueMemberS{Value: "request#" + keyID + "#" + requestID},
		tenant.AuditSortKey:      &types.AttributeValueMemberS{Value: "request"},
	}
	item := map[string]types.AttributeValue{
		tenant.AuditTTLAttribute: &types.AttributeValueMemberN{Value: strconv.FormatInt(until.Unix(), 10)},
		attrClaim:                &types.AttributeValueMemberS{Value: token},
	}
	maps.Copy(item, key)
	_, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(d.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #exp < :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": tenant.AuditPartitionKey, "#exp": tenant.AuditTTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(d.now().Unix(), 10)}},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		got, gerr := d.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.table), Key: key, ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return false, fmt.Errorf("read request id back from %s: %w", d.table, gerr)
		}
		v, _ := got.Item[attrClaim].(*types.AttributeValueMemberS)
		return v != nil && v.Value == token, nil
	}
	if err != nil {
		return false, fmt.Errorf("record request id in %s: %w", d.table, err)
	}
	return true, nil
}

// MemoryRequestIDs keeps request ids in this process only: right for a single API process and for tests, not
// for several replicas.
type MemoryRequestIDs struct {
	mu   sync.Mutex
	seen map[string]time.Time
	now  func() time.Time
}

// NewMemoryRequestIDs returns an empty in-process record.
func NewMemoryRequestIDs(now func() time.Time) *MemoryRequestIDs {
	if now == nil {
		now = time.Now
	}
	return &MemoryRequestIDs{seen: map[string]time.Time{}, now: now}
}

// Claim implements RequestIDs.
func (m *MemoryRequestIDs) Claim(_ context.Context, keyID, requestID string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.seen) > 4*maxBuckets {
		for k, exp := range m.seen {
			if exp.Before(now) {
				delete(m.seen, k)
			}
		}
	}
	k := keyID + "\x00" + requestID
	if exp, ok := m.seen[k]; ok && !exp.Before(now) {
		return false, nil
	}
	m.seen[k] = until
	return true, nil
}
