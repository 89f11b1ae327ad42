package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/internal/dynamotable"
)

// Progress is how far one object's delivery to one destination got in earlier attempts.
type Progress struct {
	// Done: the destination has the whole object; a redelivery skips it.
	Done bool
	// Acked: for CloudWatch, the number of leading input events CloudWatch accepted (or the batcher
	// deliberately dropped); a retry resumes after them.
	Acked int64
	// Ranges: for CloudWatch, the input events beyond Acked that were acknowledged as well (half-open
	// [lo, hi) ranges, sorted, disjoint; see batcher.AckState); a retry skips them too. Items written
	// before ranges existed hold none: the retry then re-sends everything after Acked.
	Ranges [][2]int64
}

// ackState is the set of input events p records as acknowledged.
func (p Progress) ackState() batcher.AckState {
	return batcher.AckState{Prefix: p.Acked, Ranges: p.Ranges}
}

// ProgressStore persists Progress per (object version, destination) so that a retry — also after a crash,
// in another process — repeats no delivery that succeeded.
//
// The engine writes a CloudWatch destination's acknowledged set each time it grows (one write at a time,
// always the latest), so a crash re-sends only the events acknowledged after the last completed write —
// usually those of the requests in flight — and the events never acknowledged.
//
// Failure modes (at-least-once): a Put that fails or is lost in a crash makes the next attempt resume from
// the previous checkpoint, re-sending the events acknowledged after it (duplicates, never loss); so does an
// acknowledged set too fragmented to store whole (its highest ranges are left out) or a stored one that
// does not decode (its ranges are ignored). Get failing makes the message recoverable (retried later)
// rather than re-sending everything. Duplicate deliveries are serialized within a process; across processes
// only a LeaseStore serializes them (see LeaseStore). Put never moves Acked backwards.
type ProgressStore interface {
	Get(ctx context.Context, id string) (Progress, error)
	Put(ctx context.Context, id string, p Progress) error
}

// progressID identifies (object version, destination).
func progressID(obj ObjectRef, etag string, dest string) string {
	h := sha256.New()
	for _, s := range []string{obj.Bucket, obj.Key, etag, obj.VersionID, dest} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:20])
}

// MemoryProgress keeps progress in memory: retries within one process, nothing across a crash.
type MemoryProgress struct {
	mu sync.Mutex
	m  map[string]Progress
}

// NewMemoryProgress returns an empty in-memory store.
func NewMemoryProgress() *MemoryProgress { return &MemoryProgress{m: map[string]Progress{}} }

// Get returns the stored progress (zero when none).
func (s *MemoryProgress) Get(_ context.Context, id string) (Progress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id], nil
}

// Put stores p unless it would move Acked backwards or undo Done.
func (s *MemoryProgress) Put(_ context.Context, id string, p Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m[id]
	if old.Done || p.Acked < old.Acked && !p.Done {
		return nil
	}
	p.Ranges = slices.Clone(p.Ranges)
	if p.Done {
		p.Ranges = nil // as in DynamoDBProgress: a finished delivery needs no ranges
	}
	s.m[id] = p
	return nil
}

// maxRangesBytes bounds the encoded ranges of a progress item (DynamoDB items hold at most 400 KB, and
// every KB of a write costs a write unit).
const maxRangesBytes = 32 << 10

// encodeRanges writes ranges beyond acked as unsigned varint pairs (gap from the previous range's end,
// length). Ranges that would take it past maxRangesBytes are left out: the set shrinks to an acknowledged
// subset, so a resume re-sends those events rather than losing any.
func encodeRanges(acked int64, rs [][2]int64) []byte {
	var out []byte
	prev := acked
	for _, r := range rs {
		if r[0] < prev || r[1] <= r[0] {
			break // malformed: keep the valid leading part only
		}
		var tmp [2 * binary.MaxVarintLen64]byte
		n := binary.PutUvarint(tmp[:], uint64(r[0]-prev))
		n += binary.PutUvarint(tmp[n:], uint64(r[1]-r[0]))
		if len(out)+n > maxRangesBytes {
			break
		}
		out = append(out, tmp[:n]...)
		prev = r[1]
	}
	return out
}

// decodeRanges reverses encodeRanges, rejecting anything it could not have written.
func decodeRanges(acked int64, b []byte) ([][2]int64, error) {
	if len(b) > maxRangesBytes {
		return nil, fmt.Errorf("ranges of %d bytes exceed %d", len(b), maxRangesBytes)
	}
	var rs [][2]int64
	prev := acked
	for len(b) > 0 {
		gap, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("ranges: bad varint")
		}
		b = b[n:]
		length, m := binary.Uvarint(b)
		if m <= 0 || length == 0 {
			return nil, errors.New("ranges: bad or empty range length")
		}
		b = b[m:]
		const limit = 1 << 62
		if gap > limit || length > limit || uint64(prev)+gap+length > limit {
			return nil, errors.New("ranges: index out of range")
		}
		lo := prev + int64(gap)
		rs = append(rs, [2]int64{lo, lo + int64(length)})
		prev = lo + int64(length)
	}
	return rs, nil
}

// DynamoDBAPI is the subset of *dynamodb.Client the progress store calls.
type DynamoDBAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DynamoDBProgress keeps progress in a DynamoDB table whose partition key is the string attribute "id".
// Items carry "acked" (N), "ranges" (B, the Ranges beyond acked as varint (gap, length) pairs, at most
// 32 KiB; absent when none), "done" (BOOL), "updated_at" and "ttl" (N, epoch seconds; enable the table's TTL
// on it) and expire after TTL, which must exceed the queue's retention period.
type DynamoDBProgress struct {
	client DynamoDBAPI
	table  string
	ttl    time.Duration
	now    func() time.Time
}

// NewDynamoDBProgress returns a store on table; ttl 0 means 15 days (SQS retains messages at most 14).
func NewDynamoDBProgress(client DynamoDBAPI, table string, ttl time.Duration) *DynamoDBProgress {
	if ttl <= 0 {
		ttl = 15 * 24 * time.Hour
	}
	return &DynamoDBProgress{client: client, table: table, ttl: ttl, now: time.Now}
}

// Get reads id's progress with a consistent read; zero when there is none.
func (s *DynamoDBProgress) Get(ctx context.Context, id string) (Progress, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Progress{}, fmt.Errorf("read progress from %s: %w", s.table, err)
	}
	return decodeProgress(id, out.Item)
}

// decodeProgress reads a progress item (nil: nothing recorded).
func decodeProgress(id string, item map[string]types.AttributeValue) (Progress, error) {
	var p Progress
	if v, ok := item["done"].(*types.AttributeValueMemberBOOL); ok {
		p.Done = v.Value
	}
	if v, ok := item["acked"].(*types.AttributeValueMemberN); ok {
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return Progress{}, fmt.Errorf("progress item %s: acked %q: %w", id, v.Value, err)
		}
		p.Acked = n
	}
	if v, ok := item["ranges"].(*types.AttributeValueMemberB); ok && !p.Done {
		// Undecodable ranges are ignored: the retry re-sends those events (duplicates, never loss).
		if rs, err := decodeRanges(p.Acked, v.Value); err == nil {
			p.Ranges = rs
		}
	}
	return p, nil
}

// Put records p. It never moves Acked backwards nor clears Done (a conditional update; losing the
// condition is not an error).
func (s *DynamoDBProgress) Put(ctx context.Context, id string, p Progress) error {
	now := s.now()
	in := &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression: aws.String("SET #a = :a, #d = :d, #u = :u, #t = :t REMOVE #r"),
		ExpressionAttributeNames: map[string]string{
			"#a": "acked", "#d": "done", "#u": "updated_at", "#t": "ttl", "#r": "ranges",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":a": &types.AttributeValueMemberN{Value: strconv.FormatInt(p.Acked, 10)},
			":d": &types.AttributeValueMemberBOOL{Value: p.Done},
			":u": &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339)},
			":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(s.ttl).Unix(), 10)},
		},
	}
	if p.Done {
		// A finished delivery needs no lease: the same write ends it.
		in.UpdateExpression = aws.String("SET #a = :a, #d = :d, #u = :u, #t = :t REMOVE #r, #lo, #lu")
		in.ExpressionAttributeNames["#lo"], in.ExpressionAttributeNames["#lu"] = "lease_owner", "lease_until"
	}
	if rs := encodeRanges(p.Acked, p.Ranges); len(rs) > 0 && !p.Done {
		in.UpdateExpression = aws.String("SET #a = :a, #d = :d, #u = :u, #t = :t, #r = :r")
		in.ExpressionAttributeValues[":r"] = &types.AttributeValueMemberB{Value: rs}
	}
	if !p.Done {
		// A checkpoint never moves acked backwards nor reopens a finished delivery.
		in.ConditionExpression = aws.String("attribute_not_exists(#a) OR (#d = :d AND #a <= :a)")
	}
	_, err := s.client.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write progress to %s: %w", s.table, err)
	}
	return nil
}

// Lease is the outcome of LeaseStore.Lease.
type Lease struct {
	// Held: the caller holds the lease until Until. Otherwise another owner holds it until Until.
	Held  bool
	Until time.Time
	// Progress on record, read by the same conditional write that took the lease (never stale).
	Progress Progress
}

// LeaseStore is a ProgressStore shared between processes that also leases each (object version,
// destination) to one owner at a time, so that two processes receiving the same object do not both send
// it. A lease is taken with a conditional write, renewed by its owner while it delivers, taken over by
// another owner only once it has expired, and ended by the owner's final Put (Done) or Unlease.
type LeaseStore interface {
	ProgressStore
	// Lease takes or renews id's lease for owner until now+ttl, unless another owner holds an unexpired one.
	Lease(ctx context.Context, id, owner string, ttl time.Duration) (Lease, error)
	// Unlease ends owner's lease on id (nothing when owner does not hold it).
	Unlease(ctx context.Context, id, owner string) error
}

// Lease implements LeaseStore: one conditional UpdateItem that returns the item (taken or refused).
// Items carry "lease_owner" (S) and "lease_until" (N, Unix milliseconds) while leased.
func (s *DynamoDBProgress) Lease(ctx context.Context, id, owner string, ttl time.Duration) (Lease, error) {
	now := s.now()
	until := now.Add(ttl)
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression:    aws.String("SET #lo = :o, #lu = :u, #t = if_not_exists(#t, :t)"),
		ConditionExpression: aws.String("attribute_not_exists(#lu) OR #lu < :now OR #lo = :o"),
		ExpressionAttributeNames: map[string]string{
			"#lo": "lease_owner", "#lu": "lease_until", "#t": "ttl",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":o":   &types.AttributeValueMemberS{Value: owner},
			":u":   &types.AttributeValueMemberN{Value: strconv.FormatInt(until.UnixMilli(), 10)},
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
			":t":   &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(s.ttl).Unix(), 10)},
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		l := Lease{}
		if v, ok := ccf.Item["lease_until"].(*types.AttributeValueMemberN); ok {
			if ms, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
				l.Until = time.UnixMilli(ms)
			}
		}
		if l.Progress, err = decodeProgress(id, ccf.Item); err != nil {
			return Lease{}, err
		}
		return l, nil
	}
	if err != nil {
		return Lease{}, fmt.Errorf("lease progress item in %s: %w", s.table, err)
	}
	p, err := decodeProgress(id, out.Attributes)
	if err != nil {
		return Lease{}, err
	}
	return Lease{Held: true, Until: until, Progress: p}, nil
}

// Unlease implements LeaseStore.
func (s *DynamoDBProgress) Unlease(ctx context.Context, id, owner string) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression:          aws.String("REMOVE #lo, #lu"),
		ConditionExpression:       aws.String("#lo = :o"),
		ExpressionAttributeNames:  map[string]string{"#lo": "lease_owner", "#lu": "lease_until"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": &types.AttributeValueMemberS{Value: owner}},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("end lease in %s: %w", s.table, err)
	}
	return nil
}

// CreateProgressTable creates a progress table (partition key "id", on-demand, TTL on "ttl") and waits for
// it to be active. It is meant for tests and first-time setup.
func CreateProgressTable(ctx context.Context, client dynamotable.API, table string) error {
	return dynamotable.Create(ctx, client, table, "ttl", dynamotable.Key{Name: "id"})
}
