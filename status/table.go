package status

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/internal/dynamotable"
	"github.com/logrouter/logrouter/tenant"
)

// Table layout (the shared contract): pk = "tenant#<id>"; sk = "status#<type>" or "usage#<date>#<type>";
// TTL attribute expires_at. Usage items also carry usage_date and usage_key, the keys of the UsageIndex
// global secondary index that lists every tenant's usage of one day.
const (
	AttrPK        = "pk"
	AttrSK        = "sk"
	AttrExpiresAt = "expires_at"
	UsageIndex    = "usage-by-date"
	attrUsageDate = "usage_date"
	attrUsageKey  = "usage_key"
)

// DynamoDBAPI is the subset of *dynamodb.Client the status table calls.
type DynamoDBAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Table reads and writes delivery status and usage items. Safe for concurrent use.
type Table struct {
	client DynamoDBAPI
	name   string
}

// NewTable returns the status table name served by client.
func NewTable(client DynamoDBAPI, name string) *Table { return &Table{client: client, name: name} }

// Name is the table's name.
func (t *Table) Name() string { return t.name }

// CreateTable creates the status table with its usage index and TTL (tests, the demo, first-time setup;
// production tables come from deploy/cloudformation/central.yaml).
func CreateTable(ctx context.Context, client dynamotable.API, name string) error {
	return dynamotable.CreateWithIndexes(ctx, client, name, AttrExpiresAt, []dynamotable.Key{{Name: AttrPK}, {Name: AttrSK, Range: true}},
		dynamotable.Index{Name: UsageIndex, Keys: []dynamotable.Key{{Name: attrUsageDate}, {Name: attrUsageKey, Range: true}}})
}

func tenantPK(id string) string                 { return "tenant#" + id }
func statusSK(t tenant.Type) string             { return "status#" + string(t) }
func usageSK(date string, t tenant.Type) string { return "usage#" + date + "#" + string(t) }

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// update builds an update expression with placeholder names and values.
type update struct {
	sets, adds, removes []string
	names               map[string]string
	byAttr              map[string]string
	values              map[string]types.AttributeValue
}

func newUpdate() *update {
	return &update{names: map[string]string{}, byAttr: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// name returns the placeholder of attr (one per attribute).
func (u *update) name(attr string) string {
	if p, ok := u.byAttr[attr]; ok {
		return p
	}
	p := "#n" + strconv.Itoa(len(u.names))
	u.names[p] = attr
	u.byAttr[attr] = p
	return p
}

func (u *update) value(v types.AttributeValue) string {
	p := ":v" + strconv.Itoa(len(u.values))
	u.values[p] = v
	return p
}

func (u *update) set(attr string, v types.AttributeValue) {
	u.sets = append(u.sets, u.name(attr)+" = "+u.value(v))
}
func (u *update) add(attr string, v int64) {
	if v != 0 {
		u.adds = append(u.adds, u.name(attr)+" "+u.value(n(v)))
	}
}
func (u *update) remove(attr string) { u.removes = append(u.removes, u.name(attr)) }

func (u *update) expression() string {
	var b strings.Builder
	for _, part := range []struct {
		kw    string
		items []string
	}{{"SET", u.sets}, {"ADD", u.adds}, {"REMOVE", u.removes}} {
		if len(part.items) > 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(part.kw + " " + strings.Join(part.items, ", "))
		}
	}
	return b.String()
}

// addUsage adds c to the day's usage item (atomic ADD: concurrent processes' counters sum exactly).
func (t *Table) addUsage(ctx context.Context, k usageKey, c Counters, expires time.Time) error {
	u := newUpdate()
	u.set("tenant_id", s(k.tenant))
	u.set("type", s(string(k.typ)))
	u.set("date", s(k.date))
	u.set(attrUsageDate, s(k.date))
	u.set(attrUsageKey, s(k.tenant+"#"+string(k.typ)))
	u.set(AttrExpiresAt, n(expires.Unix()))
	for _, name := range sortedKeys(c) {
		u.add(name, c[name])
	}
	_, err := t.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &t.name,
		Key:                       map[string]types.AttributeValue{AttrPK: s(tenantPK(k.tenant)), AttrSK: s(usageSK(k.date, k.typ))},
		UpdateExpression:          aws.String(u.expression()),
		ExpressionAttributeNames:  u.names,
		ExpressionAttributeValues: u.values,
	})
	if err != nil {
		return fmt.Errorf("add usage of tenant %s %s on %s to %s: %w", k.tenant, k.typ, k.date, t.name, err)
	}
	return nil
}

// stored is the merge-relevant part of a status item.
type stored struct {
	version      int64
	success      *Success
	failure      *Failure
	warning      *Failure
	consecutive  int64
	failingSince time.Time
}

// merge combines the stored status with one process's batch. A "last" value replaces the stored one only
// when newer. Consecutive failures count the failures after the latest success known to either side; when
// several processes' outcomes interleave within one flush interval, failures another process recorded
// before this process's latest success are not counted (the count is then a lower bound; the since-time
// and the health stay right).
func merge(cur stored, b *batch) stored {
	out := cur
	out.success = newer(successAt, cur.success, b.success)
	out.failure = newer(failureAt, cur.failure, b.failure)
	out.warning = newer(failureAt, cur.warning, b.warning)
	if out.failure == b.failure && b.failure != nil && b.failure.Category == CategoryCircuitOpen && cur.failure != nil &&
		cur.failure.Category != CategoryCircuitOpen && (cur.success == nil || cur.failure.At.After(cur.success.At)) {
		// Another process recorded what opened this breaker: keep it, at the newer time.
		kept := *cur.failure
		kept.At = b.failure.At
		out.failure = &kept
	}
	mySuccessIsLatest := b.success != nil && (cur.success == nil || b.success.At.After(cur.success.At))
	if mySuccessIsLatest {
		out.consecutive, out.failingSince = b.streak, b.streakFirst
		if cur.consecutive > 0 && cur.failingSince.After(b.success.At) {
			out.consecutive += cur.consecutive
			out.failingSince = cur.failingSince
		}
	} else if b.streak > 0 && (cur.success == nil || b.streakLast.After(cur.success.At)) {
		mine, first := b.streak, b.streakFirst
		if cur.success != nil && !b.streakFirst.After(cur.success.At) {
			mine, first = 1, b.streakLast // only the last failure is known to follow the stored success
		}
		out.consecutive = cur.consecutive + mine
		if cur.consecutive == 0 || first.Before(cur.failingSince) {
			out.failingSince = first
		}
	}
	if out.consecutive == 0 {
		out.failingSince = time.Time{}
	}
	return out
}

const maxStatusAttempts = 8

// mergeStatus writes b into the status item: read, merge, write conditioned on the version read (optimistic
// concurrency; counters use ADD). It returns how many conflicting attempts preceded the write.
func (t *Table) mergeStatus(ctx context.Context, k statusKey, b *batch, now time.Time) (conflicts int, err error) {
	key := map[string]types.AttributeValue{AttrPK: s(tenantPK(k.tenant)), AttrSK: s(statusSK(k.typ))}
	for attempt := 0; attempt < maxStatusAttempts; attempt++ {
		got, err := t.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &t.name, Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return conflicts, fmt.Errorf("read status of tenant %s %s from %s: %w", k.tenant, k.typ, t.name, err)
		}
		cur := decodeStored(got.Item)
		m := merge(cur, b)
		u := newUpdate()
		u.set("tenant_id", s(k.tenant))
		u.set("type", s(string(k.typ)))
		u.set("updated_at", n(now.UnixMilli()))
		u.set("version", n(cur.version+1))
		if m.success != nil && m.success != cur.success {
			u.set("success_at", n(m.success.At.UnixMilli()))
			u.set("success_key", s(m.success.Key))
		}
		setFailure(u, "failure", m.failure, cur.failure)
		setFailure(u, "warning", m.warning, cur.warning)
		u.set("consecutive_failures", n(m.consecutive))
		if m.failingSince.IsZero() {
			if !cur.failingSince.IsZero() {
				u.remove("failing_since")
			}
		} else {
			u.set("failing_since", n(m.failingSince.UnixMilli()))
		}
		u.add(CounterDeliveriesOK, b.ok)
		u.add(CounterDeliveriesFailed, b.failed)
		oldest := now.UTC().Truncate(time.Hour).Add(-23 * time.Hour)
		for _, h := range sortedKeys(b.hours) {
			ht, err := time.Parse("2006010215", h)
			if err != nil || ht.Before(oldest) {
				continue // outside the 24 h window already
			}
			for _, c := range hourCounters {
				u.add(hourAttr(h, c), b.hours[h][c])
			}
		}
		// Hours that left the window are removed as the window moves (those of 25 to 48 hours ago; after a
		// longer silence older ones stay until the item is rewritten in their window, and are ignored).
		for i := 25; i <= 48; i++ {
			h := now.UTC().Truncate(time.Hour).Add(-time.Duration(i) * time.Hour).Format("2006010215")
			for _, c := range hourCounters {
				u.remove(hourAttr(h, c))
			}
		}
		cond := "attribute_not_exists(" + u.name("version") + ")"
		if cur.version > 0 {
			cond = u.name("version") + " = " + u.value(n(cur.version))
		}
		_, err = t.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &t.name,
			Key:                       key,
			UpdateExpression:          aws.String(u.expression()),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  u.names,
			ExpressionAttributeValues: u.values,
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			conflicts++
			continue
		}
		if err != nil {
			return conflicts, fmt.Errorf("write status of tenant %s %s to %s: %w", k.tenant, k.typ, t.name, err)
		}
		return conflicts, nil
	}
	return conflicts, fmt.Errorf("write status of tenant %s %s to %s: %d concurrent updates in a row", k.tenant, k.typ, t.name, maxStatusAttempts)
}

// hourAttr names an hourly counter: hours are short-lived attribute names ("h2026120421_deliveries_ok").
func hourAttr(hour, counter string) string { return "h" + hour + "_" + counter }

func setFailure(u *update, prefix string, f, cur *Failure) {
	if f == nil || f == cur {
		return
	}
	u.set(prefix+"_at", n(f.At.UnixMilli()))
	u.set(prefix+"_key", s(f.Key))
	u.set(prefix+"_category", s(string(f.Category)))
	u.set(prefix+"_reason", s(f.Reason))
	u.set(prefix+"_message", s(f.Message))
}

func attrS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func attrN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(v.Value, 10, 64)
		return i
	}
	return 0
}

func attrTime(item map[string]types.AttributeValue, name string) time.Time {
	if ms := attrN(item, name); ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}

func decodeFailure(item map[string]types.AttributeValue, prefix string, t tenant.Type) *Failure {
	at := attrTime(item, prefix+"_at")
	if at.IsZero() {
		return nil
	}
	cat := Category(attrS(item, prefix+"_category"))
	return &Failure{At: at, Key: attrS(item, prefix+"_key"), Category: cat, Side: cat.Side(), Reason: attrS(item, prefix+"_reason"),
		Message: attrS(item, prefix+"_message"), Hint: Hint(cat, t)}
}

func decodeStored(item map[string]types.AttributeValue) stored {
	if item == nil {
		return stored{}
	}
	t := tenant.Type(attrS(item, "type"))
	st := stored{
		version:      attrN(item, "version"),
		failure:      decodeFailure(item, "failure", t),
		warning:      decodeFailure(item, "warning", t),
		consecutive:  attrN(item, "consecutive_failures"),
		failingSince: attrTime(item, "failing_since"),
	}
	if at := attrTime(item, "success_at"); !at.IsZero() {
		st.success = &Success{At: at, Key: attrS(item, "success_key")}
	}
	return st
}

func decodeRecord(item map[string]types.AttributeValue, now time.Time, idleAfter time.Duration) Record {
	st := decodeStored(item)
	r := Record{
		TenantID: attrS(item, "tenant_id"), Type: tenant.Type(attrS(item, "type")),
		LastSuccess: st.success, LastFailure: st.failure, LastWarning: st.warning,
		ConsecutiveFailures: st.consecutive,
		Last24h:             Counters{},
		Total:               Counters{CounterDeliveriesOK: attrN(item, CounterDeliveriesOK), CounterDeliveriesFailed: attrN(item, CounterDeliveriesFailed)},
		UpdatedAt:           attrTime(item, "updated_at"),
	}
	if !st.failingSince.IsZero() {
		fs := st.failingSince
		r.FailingSince = &fs
	}
	for _, c := range hourCounters {
		r.Last24h[c] = 0
	}
	first := now.UTC().Truncate(time.Hour).Add(-23 * time.Hour)
	for i := 0; i < 24; i++ {
		h := first.Add(time.Duration(i) * time.Hour).Format("2006010215")
		for _, c := range hourCounters {
			r.Last24h[c] += attrN(item, hourAttr(h, c))
		}
	}
	r.DeriveHealth(now, idleAfter)
	if r.Health != HealthFailing {
		r.ConsecutiveFailures = 0
	}
	return r
}

// TenantStatus returns the stored status of every destination type of a tenant (none recorded: empty).
func (t *Table) TenantStatus(ctx context.Context, tenantID string, now time.Time, idleAfter time.Duration) ([]Record, error) {
	items, err := t.queryAll(ctx, &dynamodb.QueryInput{
		TableName:              &t.name,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(tenantPK(tenantID)), ":p": s("status#"),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read status of tenant %s from %s: %w", tenantID, t.name, err)
	}
	out := make([]Record, 0, len(items))
	for _, it := range items {
		out = append(out, decodeRecord(it, now, idleAfter))
	}
	return out, nil
}

func (t *Table) queryAll(ctx context.Context, in *dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(t.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		items = append(items, page.Items...)
	}
	return items, nil
}

func decodeUsage(item map[string]types.AttributeValue) UsageRow {
	r := UsageRow{TenantID: attrS(item, "tenant_id"), Type: tenant.Type(attrS(item, "type")), Date: attrS(item, "date"), Counters: Counters{}}
	for _, c := range UsageCounters {
		r.Counters[c] = attrN(item, c)
	}
	return r
}

// TenantUsage returns a tenant's daily usage rows from..to (inclusive, YYYY-MM-DD), by date then type.
func (t *Table) TenantUsage(ctx context.Context, tenantID, from, to string) ([]UsageRow, error) {
	items, err := t.queryAll(ctx, &dynamodb.QueryInput{
		TableName:              &t.name,
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(tenantPK(tenantID)), ":from": s("usage#" + from), ":to": s("usage#" + to + "#~"),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("read usage of tenant %s from %s: %w", tenantID, t.name, err)
	}
	out := make([]UsageRow, 0, len(items))
	for _, it := range items {
		out = append(out, decodeUsage(it))
	}
	return out, nil
}

// UsagePage is one page of a day's usage across tenants.
type UsagePage struct {
	Rows []UsageRow
	Next string // opaque token of the next page; "" on the last one
}

// ErrBadToken reports a pagination token this table did not issue (or issued for another day).
var ErrBadToken = errors.New("invalid pagination token")

type pageToken struct {
	Date string `json:"d"`
	PK   string `json:"p"`
	SK   string `json:"s"`
	Key  string `json:"k"`
}

// UsageByDate returns up to limit usage rows of one day (every tenant and type), ordered by tenant and type.
func (t *Table) UsageByDate(ctx context.Context, date string, limit int, next string) (UsagePage, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &t.name,
		IndexName:                 aws.String(UsageIndex),
		KeyConditionExpression:    aws.String("usage_date = :d"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": s(date)},
		Limit:                     aws.Int32(int32(limit)),
	}
	if next != "" {
		raw, err := base64.RawURLEncoding.DecodeString(next)
		var tok pageToken
		if err != nil || json.Unmarshal(raw, &tok) != nil || tok.Date != date || !strings.HasPrefix(tok.PK, "tenant#") ||
			!strings.HasPrefix(tok.SK, "usage#"+date+"#") || tok.Key == "" {
			return UsagePage{}, ErrBadToken
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			AttrPK: s(tok.PK), AttrSK: s(tok.SK), attrUsageDate: s(date), attrUsageKey: s(tok.Key),
		}
	}
	out, err := t.client.Query(ctx, in)
	if err != nil {
		return UsagePage{}, fmt.Errorf("read usage of %s from %s: %w", date, t.name, err)
	}
	page := UsagePage{Rows: make([]UsageRow, 0, len(out.Items))}
	for _, it := range out.Items {
		page.Rows = append(page.Rows, decodeUsage(it))
	}
	if lek := out.LastEvaluatedKey; len(lek) > 0 {
		raw, _ := json.Marshal(pageToken{Date: date, PK: attrS(lek, AttrPK), SK: attrS(lek, AttrSK), Key: attrS(lek, attrUsageKey)})
		page.Next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return page, nil
}

func rejectedMessage(st *batcher.Stats) string {
	return fmt.Sprintf("CloudWatch Logs rejected %d events as too old, %d as too new and %d as older than the log group's retention",
		st.RejectedTooOld, st.RejectedTooNew, st.RejectedExpired)
}
