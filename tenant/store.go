package tenant

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/logrouter/logrouter/internal/dynamotable"
)

// DynamoDBAPI is the subset of *dynamodb.Client the store calls.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store errors; branch with errors.Is.
var (
	ErrNotFound = errors.New("delivery configuration not found")
	ErrExists   = errors.New("delivery configuration already exists")
	// ErrConflict: the item kept changing under a read-modify-write; the caller may retry.
	ErrConflict = errors.New("delivery configuration was modified concurrently")
	// ErrBadToken: a pagination token that this store did not issue.
	ErrBadToken = errors.New("invalid pagination token")
)

// ItemError describes a stored item that could not be decoded; the rest of a listing is still returned.
type ItemError struct {
	TenantID, Type string // as far as they could be read
	Err            error
}

func (e *ItemError) Error() string {
	return fmt.Sprintf("malformed delivery configuration %s/%s: %v", e.TenantID, e.Type, e.Err)
}

func (e *ItemError) Unwrap() error { return e.Err }

// StoreOptions tune a Store.
type StoreOptions struct {
	// Now is the clock for created_at/updated_at (default time.Now).
	Now func() time.Time
	// ConsistentRead makes Get and ListTenant strongly consistent (default false).
	ConsistentRead bool
	// HistoryTable is the audit table (see AuditPartitionKey) that records every Create, Update and Delete in
	// the same transaction as the change. Empty: no history is written and History fails with ErrNoHistory.
	HistoryTable string
	// HistoryRetention is how long history entries are kept (default DefaultHistoryRetention).
	HistoryRetention time.Duration
}

// Store reads and writes delivery configurations in one DynamoDB table (partition key tenant_id, sort key type).
// It is safe for concurrent use.
type Store struct {
	client DynamoDBAPI
	table  string
	opts   StoreOptions
}

// NewStore returns a store for table. *dynamodb.Client satisfies DynamoDBAPI.
func NewStore(client DynamoDBAPI, table string, optFns ...func(*StoreOptions)) *Store {
	o := StoreOptions{Now: time.Now}
	for _, f := range optFns {
		f(&o)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HistoryRetention <= 0 {
		o.HistoryRetention = DefaultHistoryRetention
	}
	return &Store{client: client, table: table, opts: o}
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// HistoryTable returns the audit table name ("" when history is not recorded).
func (s *Store) HistoryTable() string { return s.opts.HistoryTable }

// Check verifies that the configuration table (and the history table, when set) can be read with the store's
// client: one GetItem each, of a key no item has. The error says which table and why (missing table, no
// credentials, no region, network).
func (s *Store) Check(ctx context.Context) error {
	if _, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key("-", "-")}); err != nil {
		return tableError("delivery-configuration table", s.table, err)
	}
	if s.opts.HistoryTable == "" {
		return nil
	}
	_, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.opts.HistoryTable), Key: map[string]types.AttributeValue{
		AuditPartitionKey: &types.AttributeValueMemberS{Value: "-"}, AuditSortKey: &types.AttributeValueMemberS{Value: "-"},
	}})
	if err != nil {
		return tableError("audit table", s.opts.HistoryTable, err)
	}
	return nil
}

func tableError(what, table string, err error) error {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return fmt.Errorf("%s %s does not exist in this account and region: %w", what, table, err)
	}
	return fmt.Errorf("%s %s is not readable: %w", what, table, err)
}

// timestamp formats t as the server-set created_at/updated_at value (RFC 3339, UTC, nanoseconds).
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func key(tenantID string, t Type) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"tenant_id": &types.AttributeValueMemberS{Value: tenantID},
		"type":      &types.AttributeValueMemberS{Value: string(t)},
	}
}

func decodeItem(item map[string]types.AttributeValue) (Config, error) {
	var c Config
	if err := attributevalue.UnmarshalMap(item, &c); err != nil {
		ie := &ItemError{Err: err}
		if v, ok := item["tenant_id"].(*types.AttributeValueMemberS); ok {
			ie.TenantID = v.Value
		}
		if v, ok := item["type"].(*types.AttributeValueMemberS); ok {
			ie.Type = v.Value
		}
		return Config{}, ie
	}
	return c, nil
}

// attrWriteToken holds a random token of the create that wrote an item. When the SDK retries a create whose
// answer was lost (DynamoDB applied it), the retry fails its condition on the item the first try wrote; the
// token read back tells that this create, not another one, wrote it. (DynamoDB's own idempotency token for
// TransactWriteItems covers the same case on AWS, but not a plain PutItem, nor emulators.)
const attrWriteToken = "write_token"

func writeToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// wroteIt reports whether the stored item of (tenantID, t) carries token (read consistently).
func (s *Store) wroteIt(ctx context.Context, tenantID string, t Type, token string) bool {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(tenantID, t), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false
	}
	v, ok := out.Item[attrWriteToken].(*types.AttributeValueMemberS)
	return ok && v.Value == token
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Get returns the configuration of (tenantID, t), or ErrNotFound. A stored item that cannot be decoded
// yields an *ItemError.
func (s *Store) Get(ctx context.Context, tenantID string, t Type) (Config, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(tenantID, t),
		ConsistentRead: aws.Bool(s.opts.ConsistentRead),
	})
	if err != nil {
		return Config{}, fmt.Errorf("get delivery configuration %s/%s: %w", tenantID, t, err)
	}
	if len(out.Item) == 0 {
		return Config{}, ErrNotFound
	}
	return decodeItem(out.Item)
}

// ListTenant returns every stored configuration of tenantID (Query on the partition key), including disabled
// and expired ones. Items that cannot be decoded are returned separately and do not hide the others.
func (s *Store) ListTenant(ctx context.Context, tenantID string) ([]Config, []*ItemError, error) {
	var configs []Config
	var bad []*ItemError
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("tenant_id = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberS{Value: tenantID}},
		ConsistentRead:            aws.Bool(s.opts.ConsistentRead),
	}
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, nil, fmt.Errorf("query delivery configurations of %s: %w", tenantID, err)
		}
		for _, item := range out.Items {
			c, err := decodeItem(item)
			if err != nil {
				bad = append(bad, err.(*ItemError))
				continue
			}
			configs = append(configs, c)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return configs, bad, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Page is one page of a table-wide listing.
type Page struct {
	Configs   []Config
	Malformed []*ItemError
	// Next is an opaque token for the following page; "" at the end.
	Next string
}

type pageToken struct {
	TenantID string `json:"t"`
	Type     string `json:"y"`
}

// List returns up to limit configurations of all tenants (a Scan), starting after the position encoded in
// next ("" = from the beginning). A page may hold fewer than limit items while Next is still set.
func (s *Store) List(ctx context.Context, limit int, next string) (Page, error) {
	in := &dynamodb.ScanInput{TableName: aws.String(s.table)}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1<<20)))
	}
	if next != "" {
		raw, err := base64.RawURLEncoding.DecodeString(next)
		var tok pageToken
		if err != nil || json.Unmarshal(raw, &tok) != nil || tok.TenantID == "" || tok.Type == "" {
			return Page{}, ErrBadToken
		}
		in.ExclusiveStartKey = key(tok.TenantID, Type(tok.Type))
	}
	out, err := s.client.Scan(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("scan delivery configurations: %w", err)
	}
	var p Page
	for _, item := range out.Items {
		c, err := decodeItem(item)
		if err != nil {
			p.Malformed = append(p.Malformed, err.(*ItemError))
			continue
		}
		p.Configs = append(p.Configs, c)
	}
	if len(out.LastEvaluatedKey) > 0 {
		var tok pageToken
		if v, ok := out.LastEvaluatedKey["tenant_id"].(*types.AttributeValueMemberS); ok {
			tok.TenantID = v.Value
		}
		if v, ok := out.LastEvaluatedKey["type"].(*types.AttributeValueMemberS); ok {
			tok.Type = v.Value
		}
		raw, _ := json.Marshal(tok)
		p.Next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return p, nil
}

// Create stores c as a new configuration, setting created_at and updated_at. It fails with ErrExists when
// (tenant_id, type) is already stored; the check is a conditional write, so of two racing creates exactly
// one succeeds. The caller validates c first.
func (s *Store) Create(ctx context.Context, c Config) (Config, error) {
	at := s.opts.Now()
	now := timestamp(at)
	c.CreatedAt, c.UpdatedAt = now, now
	item, err := attributevalue.MarshalMap(c)
	if err != nil {
		return Config{}, fmt.Errorf("encode delivery configuration: %w", err)
	}
	token, err := writeToken()
	if err != nil {
		return Config{}, err
	}
	item[attrWriteToken] = &types.AttributeValueMemberS{Value: token}
	put := &types.Put{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#t)"),
		ExpressionAttributeNames: map[string]string{"#t": "tenant_id"},
	}
	err = s.put(ctx, put, OpCreate, c.TenantID, c.Type, nil, &c, at)
	if isConditionFailed(err) {
		if s.wroteIt(ctx, c.TenantID, c.Type, token) {
			return c, nil
		}
		return Config{}, ErrExists
	}
	if err != nil {
		return Config{}, fmt.Errorf("create delivery configuration %s/%s: %w", c.TenantID, c.Type, err)
	}
	return c, nil
}

// Update applies fn to the stored configuration of (tenantID, t) and writes the result, keeping created_at
// and setting updated_at. It fails with ErrNotFound when nothing is stored. The write is conditional on the
// item being unchanged since it was read; on a concurrent change it re-reads and re-applies fn a few times,
// then gives up with ErrConflict. fn may return an error to abort (returned as is). fn must keep tenant_id
// and type.
func (s *Store) Update(ctx context.Context, tenantID string, t Type, fn func(*Config) error) (Config, error) {
	for attempt := 0; attempt < 5; attempt++ {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), Key: key(tenantID, t), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return Config{}, fmt.Errorf("get delivery configuration %s/%s: %w", tenantID, t, err)
		}
		if len(out.Item) == 0 {
			return Config{}, ErrNotFound
		}
		// A malformed stored item can still be replaced: start from what decodes.
		old, decErr := decodeItem(out.Item)
		if decErr != nil {
			old = Config{TenantID: tenantID, Type: t}
			if v, ok := out.Item["created_at"].(*types.AttributeValueMemberS); ok {
				old.CreatedAt = v.Value
			}
		}
		c := old
		if err := fn(&c); err != nil {
			return Config{}, err
		}
		if c.TenantID != tenantID || c.Type != t {
			return Config{}, fmt.Errorf("update delivery configuration %s/%s: the key cannot change", tenantID, t)
		}
		c.CreatedAt = old.CreatedAt
		at := s.opts.Now()
		c.UpdatedAt = timestamp(at)
		item, err := attributevalue.MarshalMap(c)
		if err != nil {
			return Config{}, fmt.Errorf("encode delivery configuration: %w", err)
		}
		cond, names, values := unchangedCondition(out.Item)
		put := &types.Put{TableName: aws.String(s.table), Item: item,
			ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values}
		var before *Config
		if decErr == nil {
			before = &old
		}
		err = s.put(ctx, put, "", tenantID, t, before, &c, at)
		if isConditionFailed(err) {
			continue
		}
		if err != nil {
			return Config{}, fmt.Errorf("update delivery configuration %s/%s: %w", tenantID, t, err)
		}
		return c, nil
	}
	return Config{}, ErrConflict
}

// Replace overwrites the stored configuration of (c.TenantID, c.Type) with c, keeping created_at; it fails with
// ErrNotFound when nothing is stored. The caller validates c first.
func (s *Store) Replace(ctx context.Context, c Config) (Config, error) {
	return s.Update(ctx, c.TenantID, c.Type, func(stored *Config) error {
		*stored = c
		return nil
	})
}

// unchangedCondition is the condition that the item read as prev is still stored unchanged (same updated_at).
func unchangedCondition(prev map[string]types.AttributeValue) (*string, map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{"#t": "tenant_id", "#u": "updated_at"}
	if u, ok := prev["updated_at"]; ok {
		return aws.String("attribute_exists(#t) AND #u = :u"), names, map[string]types.AttributeValue{":u": u}
	}
	return aws.String("attribute_exists(#t) AND attribute_not_exists(#u)"), names, nil
}

// put writes a configuration item: a conditional PutItem, or, with a history table, a transaction of the put
// and its history entry. A failed condition on the configuration is returned as a
// *types.ConditionalCheckFailedException in both cases.
func (s *Store) put(ctx context.Context, put *types.Put, op, tenantID string, t Type, before, after *Config, at time.Time) error {
	if s.opts.HistoryTable == "" {
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.TableName, Item: put.Item,
			ConditionExpression: put.ConditionExpression, ExpressionAttributeNames: put.ExpressionAttributeNames,
			ExpressionAttributeValues: put.ExpressionAttributeValues})
		return err
	}
	h, err := s.historyItem(ctx, op, tenantID, t, before, after, at)
	if err != nil {
		return err
	}
	err = s.writeWithHistory(ctx, types.TransactWriteItem{Put: put}, h)
	if errors.Is(err, errCondition) {
		return &types.ConditionalCheckFailedException{Message: aws.String("transaction canceled: configuration condition failed")}
	}
	return err
}

// Delete removes the configuration of (tenantID, t), or fails with ErrNotFound. With a history table the
// removed configuration is recorded in the same transaction (it is read first; a concurrent change makes
// Delete re-read a few times, then fail with ErrConflict).
func (s *Store) Delete(ctx context.Context, tenantID string, t Type) error {
	if s.opts.HistoryTable != "" {
		return s.deleteWithHistory(ctx, tenantID, t)
	}
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(tenantID, t),
		ConditionExpression:      aws.String("attribute_exists(#t)"),
		ExpressionAttributeNames: map[string]string{"#t": "tenant_id"},
	})
	if isConditionFailed(err) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete delivery configuration %s/%s: %w", tenantID, t, err)
	}
	return nil
}

func (s *Store) deleteWithHistory(ctx context.Context, tenantID string, t Type) error {
	for attempt := 0; attempt < 5; attempt++ {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), Key: key(tenantID, t), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return fmt.Errorf("get delivery configuration %s/%s: %w", tenantID, t, err)
		}
		if len(out.Item) == 0 {
			return ErrNotFound
		}
		var before *Config
		if old, err := decodeItem(out.Item); err == nil {
			before = &old
		}
		at := s.opts.Now()
		h, err := s.historyItem(ctx, OpDelete, tenantID, t, before, nil, at)
		if err != nil {
			return err
		}
		cond, names, values := unchangedCondition(out.Item)
		err = s.writeWithHistory(ctx, types.TransactWriteItem{Delete: &types.Delete{
			TableName: aws.String(s.table), Key: key(tenantID, t),
			ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		}}, h)
		if errors.Is(err, errCondition) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete delivery configuration %s/%s: %w", tenantID, t, err)
		}
		return nil
	}
	return ErrConflict
}

// CreateTable creates the table with the design's key schema (on-demand billing) and enables TTL on the ttl
// attribute. It is meant for tests and first-time setup; it returns once the table is active.
func CreateTable(ctx context.Context, client dynamotable.API, table string) error {
	return dynamotable.Create(ctx, client, table, "ttl", dynamotable.Key{Name: "tenant_id"}, dynamotable.Key{Name: "type", Range: true})
}
