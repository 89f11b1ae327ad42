package tenant

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/logrouter/logrouter/internal/dynamotable"
)

// The audit table holds the change history of delivery configurations (and, for package api, the request ids
// it has seen). Its key is pk (S, HASH) and sk (S, RANGE); expires_at (N, Unix seconds) is its TTL attribute.
// A history entry is pk = "history#<tenant_id>#<type>", sk = "<time, fixed-width RFC 3339 UTC>#<request id>",
// so a Query on pk in descending order lists a configuration's changes newest first.
const (
	AuditPartitionKey = "pk"
	AuditSortKey      = "sk"
	AuditTTLAttribute = "expires_at"
)

// DefaultHistoryRetention is how long history entries are kept (their expires_at) when StoreOptions do not say.
const DefaultHistoryRetention = 400 * 24 * time.Hour

// Operations recorded in the history.
const (
	OpCreate  = "create"
	OpReplace = "replace"
	OpPatch   = "patch"
	OpDelete  = "delete"
)

// Change says who makes a change and how, for its history entry. Package api attaches one to each mutating
// request's context with WithChange; the store records it with the change.
type Change struct {
	Operation string // OpReplace or OpPatch for Update (default "update"); Create and Delete set their own
	KeyID     string // the signing key that authorised the change
	RequestID string // the client's request id (unique per mutating request)
	Remote    string // the client's address
}

type changeKey struct{}

// WithChange returns ctx carrying c.
func WithChange(ctx context.Context, c Change) context.Context {
	return context.WithValue(ctx, changeKey{}, c)
}

// ChangeFrom returns the Change attached to ctx (the zero Change when none is).
func ChangeFrom(ctx context.Context) Change {
	c, _ := ctx.Value(changeKey{}).(Change)
	return c
}

// HistoryEntry is one recorded change: the configuration before (absent on create) and after (absent on
// delete).
type HistoryEntry struct {
	At        string  `json:"at" doc:"When the change was written (RFC 3339, UTC, nanoseconds)."`
	Operation string  `json:"operation" enum:"create,replace,patch,delete,update" doc:"What the change was."`
	KeyID     string  `json:"key_id" doc:"Id of the signing key that made the change."`
	RequestID string  `json:"request_id" doc:"The request id the change was signed with."`
	Remote    string  `json:"remote" doc:"Address of the client (as seen by the API server)."`
	Before    *Config `json:"before,omitempty" doc:"The configuration before the change (absent on create)."`
	After     *Config `json:"after,omitempty" doc:"The configuration after the change (absent on delete)."`
}

// HistoryPage is one page of a configuration's history, newest first.
type HistoryPage struct {
	Entries []HistoryEntry
	// Next is an opaque token for the following (older) page; "" at the end.
	Next string
}

// ErrNoHistory: the store was built without a history table.
var ErrNoHistory = errors.New("change history is not configured (no audit table)")

// historyTime formats t with a fixed width so that sort keys order by time.
func historyTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }

func historyPK(tenantID string, t Type) string { return "history#" + tenantID + "#" + string(t) }

// historyItem builds the history entry's item for a change of (tenantID, t) at now.
func (s *Store) historyItem(ctx context.Context, op, tenantID string, t Type, before, after *Config, now time.Time) (map[string]types.AttributeValue, error) {
	ch := ChangeFrom(ctx)
	if op == "" {
		op = ch.Operation
	}
	if op == "" {
		op = "update"
	}
	at := historyTime(now)
	item := map[string]types.AttributeValue{
		AuditPartitionKey: &types.AttributeValueMemberS{Value: historyPK(tenantID, t)},
		AuditSortKey:      &types.AttributeValueMemberS{Value: at + "#" + ch.RequestID},
		"at":              &types.AttributeValueMemberS{Value: at},
		"operation":       &types.AttributeValueMemberS{Value: op},
		AuditTTLAttribute: &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(s.opts.HistoryRetention).Unix(), 10)},
	}
	for name, v := range map[string]string{"key_id": ch.KeyID, "request_id": ch.RequestID, "remote": ch.Remote} {
		if v != "" {
			item[name] = &types.AttributeValueMemberS{Value: v}
		}
	}
	for name, c := range map[string]*Config{"before": before, "after": after} {
		if c == nil {
			continue
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("encode history entry: %w", err)
		}
		item[name] = &types.AttributeValueMemberS{Value: string(b)}
	}
	return item, nil
}

// writeWithHistory writes change (the configuration table's conditional put or delete) and its history entry
// in one TransactWriteItems: both or neither. It returns errCondition when change's condition failed, and an
// error naming the history entry when that one collided (a duplicate request id at the same instant).
func (s *Store) writeWithHistory(ctx context.Context, change types.TransactWriteItem, history map[string]types.AttributeValue) error {
	_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{change, {Put: &types.Put{
			TableName:                aws.String(s.opts.HistoryTable),
			Item:                     history,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": AuditPartitionKey},
		}}},
	})
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		reasons := tce.CancellationReasons
		if len(reasons) > 0 && aws.ToString(reasons[0].Code) == "ConditionalCheckFailed" {
			return errCondition
		}
		if len(reasons) > 1 && aws.ToString(reasons[1].Code) == "ConditionalCheckFailed" {
			return fmt.Errorf("history entry %s already exists: %w", history[AuditSortKey].(*types.AttributeValueMemberS).Value, err)
		}
	}
	return err
}

var errCondition = errors.New("condition failed")

type historyToken struct {
	SK string `json:"s"`
}

// History returns up to limit history entries of (tenantID, t), newest first, starting after the position in
// next ("" = the newest). Entries past their retention may still be listed until DynamoDB deletes them.
func (s *Store) History(ctx context.Context, tenantID string, t Type, limit int, next string) (HistoryPage, error) {
	if s.opts.HistoryTable == "" {
		return HistoryPage{}, ErrNoHistory
	}
	pk := historyPK(tenantID, t)
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.opts.HistoryTable),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": AuditPartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	if next != "" {
		raw, err := base64.RawURLEncoding.DecodeString(next)
		var tok historyToken
		if err != nil || json.Unmarshal(raw, &tok) != nil || tok.SK == "" {
			return HistoryPage{}, ErrBadToken
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			AuditPartitionKey: &types.AttributeValueMemberS{Value: pk},
			AuditSortKey:      &types.AttributeValueMemberS{Value: tok.SK},
		}
	}
	out, err := s.client.Query(ctx, in)
	if err != nil {
		return HistoryPage{}, fmt.Errorf("query history of %s/%s: %w", tenantID, t, err)
	}
	page := HistoryPage{Entries: make([]HistoryEntry, 0, len(out.Items))}
	for _, item := range out.Items {
		e, err := decodeHistory(item)
		if err != nil {
			return HistoryPage{}, fmt.Errorf("history of %s/%s: %w", tenantID, t, err)
		}
		page.Entries = append(page.Entries, e)
	}
	if sk, ok := out.LastEvaluatedKey[AuditSortKey].(*types.AttributeValueMemberS); ok {
		raw, _ := json.Marshal(historyToken{SK: sk.Value})
		page.Next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return page, nil
}

func decodeHistory(item map[string]types.AttributeValue) (HistoryEntry, error) {
	str := func(name string) string {
		if v, ok := item[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	e := HistoryEntry{At: str("at"), Operation: str("operation"), KeyID: str("key_id"), RequestID: str("request_id"), Remote: str("remote")}
	for name, dst := range map[string]**Config{"before": &e.Before, "after": &e.After} {
		raw := str(name)
		if raw == "" {
			continue
		}
		var c Config
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return HistoryEntry{}, fmt.Errorf("entry %s: malformed %s: %w", e.At, name, err)
		}
		*dst = &c
	}
	return e, nil
}

// CreateAuditTable creates an audit table (history and seen request ids; see AuditPartitionKey) with TTL on
// expires_at. It is meant for tests and first-time setup; it returns once the table is active.
func CreateAuditTable(ctx context.Context, client dynamotable.API, table string) error {
	return dynamotable.Create(ctx, client, table, AuditTTLAttribute, dynamotable.Key{Name: AuditPartitionKey}, dynamotable.Key{Name: AuditSortKey, Range: true})
}
