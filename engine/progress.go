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
	"strings"
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
	// [lo, hi) ranges, sorted, disjoint; see batcher.AckState); a retry skips them too. Entries written
	// without ranges hold none: the retry then re-sends everything after Acked.
	Ranges [][2]int64
}

// ackState is the set of input events p records as acknowledged.
func (p Progress) ackState() batcher.AckState {
	return batcher.AckState{Prefix: p.Acked, Ranges: p.Ranges}
}

// ObjectProgress is the progress of one object version's destinations, by destination key (see
// progressDestKey); a destination without an entry has nothing on record.
type ObjectProgress map[string]Progress

// ProgressUpdate is one write to an object's progress.
type ProgressUpdate struct {
	// Dests are the destinations' progress to record, by destination key. A Done entry finishes its
	// destination (its ranges are dropped); any other records the destination's acknowledged set, unless
	// that would move its Acked backwards or reopen it once done (then that entry alone is not recorded).
	// Destinations left out keep what they have.
	Dests map[string]Progress
	// Owner, when set, ends Owner's lease in the same write (an object's final write); a lease another
	// owner holds is left alone.
	Owner string
	// RangesBytes bounds each entry's encoded ranges (0 or more than 32 KiB: 32 KiB); see rangesBudget.
	RangesBytes int
}

// ProgressStore persists the delivery progress of each object version — every destination's, in one
// record — so that a retry, also after a crash, in another process, repeats no delivery that succeeded.
//
// The engine writes an object's progress twice when every destination finishes in one attempt: the lease
// (LeaseStore) that also returns what is on record, and one final write with every destination's outcome.
// While a large object is delivered, a CloudWatch destination's acknowledged set is also written each time
// it grows (one write at a time, always the latest, updating that destination's entry only), so a crash
// re-sends only the events acknowledged after the last completed write — usually those of the requests in
// flight — and the events never acknowledged. An S3 copy is recorded by the object's final write: a crash
// between the copy and that write repeats the copy (the same object to the same key: nothing is lost or
// duplicated in the tenant's bucket).
//
// Failure modes (at-least-once): a Put that fails or is lost in a crash makes the next attempt resume from
// the previous record, re-sending what was delivered after it (duplicates, never loss); so does an
// acknowledged set too fragmented to store whole (its highest ranges are left out) or a stored one that
// does not decode (its ranges are ignored). Get failing makes the message recoverable (retried later)
// rather than re-sending everything. Duplicate deliveries are serialized within a process; across
// processes only a LeaseStore serializes them (see LeaseStore). Put never moves a destination's Acked
// backwards nor reopens a finished destination.
type ProgressStore interface {
	// Get reads the object's progress on record (an empty ObjectProgress when there is none).
	Get(ctx context.Context, id string) (ObjectProgress, error)
	Put(ctx context.Context, id string, u ProgressUpdate) error
}

// progressID identifies an object version's progress record. scope is "" for normal deliveries and
// distinct for each forced replay, which keeps progress of its own (see Replay.progressScope). The first
// element keeps these ids apart from those of the per-(object, destination) items of earlier versions.
func progressID(obj ObjectRef, etag string, scope string) string {
	h := sha256.New()
	for _, s := range []string{"object", obj.Bucket, obj.Key, etag, obj.VersionID, scope} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:20])
}

// progressDestKey names a destination (its identity within the object, see delivery.key) inside an object's
// progress record: 64 bits of a hash, short enough to cost little in every write of the record, long enough
// that an object's few destinations never collide.
func progressDestKey(dest string) string {
	h := sha256.Sum256([]byte(dest))
	return hex.EncodeToString(h[:8])
}

// MemoryProgress keeps progress in memory: retries within one process, nothing across a crash. It records
// exactly what DynamoDBProgress records (ranges bounded alike), without leases.
type MemoryProgress struct {
	mu sync.Mutex
	m  map[string]ObjectProgress
}

// NewMemoryProgress returns an empty in-memory store.
func NewMemoryProgress() *MemoryProgress { return &MemoryProgress{m: map[string]ObjectProgress{}} }

// Get returns a copy of the stored progress (empty when none).
func (s *MemoryProgress) Get(_ context.Context, id string) (ObjectProgress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ObjectProgress{}
	for k, p := range s.m[id] {
		p.Ranges = slices.Clone(p.Ranges)
		out[k] = p
	}
	return out, nil
}

// Put records each entry of u unless it would move that destination's Acked backwards or undo its Done.
func (s *MemoryProgress) Put(_ context.Context, id string, u ProgressUpdate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.m[id]
	if op == nil && len(u.Dests) > 0 {
		op = ObjectProgress{}
		s.m[id] = op
	}
	for k, p := range u.Dests {
		if old, ok := op[k]; ok && !p.Done && (old.Done || p.Acked < old.Acked) {
			continue
		}
		p.Ranges = nil
		if !p.Done {
			// What DynamoDBProgress keeps of them.
			p.Ranges, _ = decodeRanges(p.Acked, encodeRangesWithin(p.Acked, u.Dests[k].Ranges, rangesLimit(u.RangesBytes)))
		}
		op[k] = p
	}
	return nil
}

// maxRangesBytes bounds one destination's encoded ranges, and maxItemRangesBytes all of an object's
// (DynamoDB items hold at most 400 KB, and every KB of the item costs a write unit on every write of it):
// an object with more than ten CloudWatch destinations gets a smaller share per destination.
const (
	maxRangesBytes     = 32 << 10
	maxItemRangesBytes = 320 << 10
)

// rangesBudget is each destination's share of maxItemRangesBytes when an object has n CloudWatch
// destinations.
func rangesBudget(n int) int {
	if n <= 1 {
		return maxRangesBytes
	}
	return min(maxRangesBytes, maxItemRangesBytes/n)
}

// encodeRanges writes ranges beyond acked as unsigned varint pairs (gap from the previous range's end,
// length). Ranges that would take it past maxRangesBytes are left out: the set shrinks to an acknowledged
// subset, so a resume re-sends those events rather than losing any.
func encodeRanges(acked int64, rs [][2]int64) []byte {
	return encodeRangesWithin(acked, rs, maxRangesBytes)
}

// encodeRangesWithin is encodeRanges bounded to limit bytes (at most maxRangesBytes).
func encodeRangesWithin(acked int64, rs [][2]int64, limit int) []byte {
	limit = min(limit, maxRangesBytes)
	var out []byte
	prev := acked
	for _, r := range rs {
		if r[0] < prev || r[1] <= r[0] {
			break // malformed: keep the valid leading part only
		}
		var tmp [2 * binary.MaxVarintLen64]byte
		n := binary.PutUvarint(tmp[:], uint64(r[0]-prev))
		n += binary.PutUvarint(tmp[n:], uint64(r[1]-r[0]))
		if len(out)+n > limit {
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

// rangesLimit is the bound a ProgressUpdate's RangesBytes sets.
func rangesLimit(n int) int {
	if n <= 0 {
		return maxRangesBytes
	}
	return min(n, maxRangesBytes)
}

// DynamoDBAPI is the subset of *dynamodb.Client the progress store calls.
type DynamoDBAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DynamoDBProgress keeps progress in a DynamoDB table whose partition key is the string attribute "id", one
// item per object version (per forced replay of it as well). Items carry "dests" (M: destination key → M
// with "acked" (N), "done" (BOOL) and "ranges" (B, the Ranges beyond acked as varint (gap, length) pairs,
// at most 32 KiB, and at most 320 KiB for all of an object's destinations; absent when none)), while leased
// "lease_owner" (S) and "lease_until" (N, Unix milliseconds), "updated_at" and "ttl" (N, epoch seconds;
// enable the table's TTL on it); they expire after TTL, which must exceed the queue's retention period.
// DynamoDB bills each write on the whole item's size: a checkpoint of one destination costs as many write
// units as the item has KB (one for an item with a few ranges per destination).
//
// Items of the layout before this one (one per object version and destination, with "acked", "done" and
// "ranges" at the top) are not read, nor their leases honoured: an object in flight while the fleet is
// upgraded may have parts re-sent once by the new version (duplicates, never loss); they expire with their
// TTL. Reading them would cost a read per destination on every object, for the few in flight at an upgrade.
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

// Attribute names of a progress item.
const (
	attrDests      = "dests"
	attrAcked      = "acked"
	attrDone       = "done"
	attrRanges     = "ranges"
	attrLeaseOwner = "lease_owner"
	attrLeaseUntil = "lease_until"
)

func (s *DynamoDBProgress) key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}
}

// Get reads id's progress with a consistent read (the engine reads it so only when it runs without
// leases; with them, the lease write returns it).
func (s *DynamoDBProgress) Get(ctx context.Context, id string) (ObjectProgress, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read progress from %s: %w", s.table, err)
	}
	return decodeObjectProgress(id, out.Item)
}

// decodeObjectProgress reads a progress item (nil: nothing recorded).
func decodeObjectProgress(id string, item map[string]types.AttributeValue) (ObjectProgress, error) {
	op := ObjectProgress{}
	dests, _ := item[attrDests].(*types.AttributeValueMemberM)
	if dests == nil {
		return op, nil
	}
	for k, v := range dests.Value {
		m, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			return nil, fmt.Errorf("progress item %s: destination %s is not a map", id, k)
		}
		p, err := decodeProgress(m.Value)
		if err != nil {
			return nil, fmt.Errorf("progress item %s: destination %s: %w", id, k, err)
		}
		op[k] = p
	}
	return op, nil
}

// decodeProgress reads one destination's entry.
func decodeProgress(entry map[string]types.AttributeValue) (Progress, error) {
	var p Progress
	if v, ok := entry[attrDone].(*types.AttributeValueMemberBOOL); ok {
		p.Done = v.Value
	}
	if v, ok := entry[attrAcked].(*types.AttributeValueMemberN); ok {
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return Progress{}, fmt.Errorf("acked %q: %w", v.Value, err)
		}
		p.Acked = n
	}
	if v, ok := entry[attrRanges].(*types.AttributeValueMemberB); ok && !p.Done {
		// Undecodable ranges are ignored: the retry re-sends those events (duplicates, never loss).
		if rs, err := decodeRanges(p.Acked, v.Value); err == nil {
			p.Ranges = rs
		}
	}
	return p, nil
}

// Put records u in one conditional UpdateItem that sets the entries of u.Dests (each as a whole) and, with
// u.Owner, removes the lease. The condition keeps every guarantee of ProgressStore: no entry moves its acked
// backwards or reopens a finished destination, and only the owner's lease is removed. When the condition
// fails and u has several parts (entries, lease), they are written one by one, so that each is recorded
// unless it is stale itself; this takes a concurrent or earlier writer (a delivery taken over), never the
// normal case. Losing a condition is not an error.
func (s *DynamoDBProgress) Put(ctx context.Context, id string, u ProgressUpdate) error {
	if len(u.Dests) == 0 {
		if u.Owner == "" {
			return nil
		}
		return s.Unlease(ctx, id, u.Owner)
	}
	old, lost, err := s.update(ctx, id, u)
	if err != nil || !lost {
		return err
	}
	if _, ok := old[attrDests].(*types.AttributeValueMemberM); !ok {
		// No item, or one without the map that nested entries need: the lease write creates it, and this
		// write followed none (a store used without leases, or an item that expired meanwhile).
		if err := s.createDests(ctx, id); err != nil {
			return err
		}
		if _, lost, err = s.update(ctx, id, u); err != nil || !lost {
			return err
		}
	}
	if len(u.Dests) == 1 && u.Owner == "" {
		return nil // stale: it would move acked backwards or reopen a finished destination
	}
	var errs []error
	for k, p := range u.Dests {
		if _, _, err := s.update(ctx, id, ProgressUpdate{Dests: map[string]Progress{k: p}, RangesBytes: u.RangesBytes}); err != nil {
			errs = append(errs, err)
		}
	}
	if u.Owner != "" {
		errs = append(errs, s.Unlease(ctx, id, u.Owner))
	}
	return errors.Join(errs...)
}

// update is Put's conditional write; lost reports that the condition failed, and old is then the item as
// it was.
func (s *DynamoDBProgress) update(ctx context.Context, id string, u ProgressUpdate) (old map[string]types.AttributeValue, lost bool, err error) {
	now := s.now()
	names := map[string]string{"#ds": attrDests, "#u": "updated_at", "#t": "ttl"}
	vals := map[string]types.AttributeValue{
		":u": &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339)},
		":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(s.ttl).Unix(), 10)},
	}
	sets := []string{"#u = :u", "#t = :t"}
	conds := []string{"attribute_exists(#ds)"}
	keys := make([]string, 0, len(u.Dests))
	for k := range u.Dests {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		p := u.Dests[k]
		kn, vn := fmt.Sprintf("#k%d", i), fmt.Sprintf(":v%d", i)
		names[kn] = k
		entry := map[string]types.AttributeValue{
			attrAcked: &types.AttributeValueMemberN{Value: strconv.FormatInt(p.Acked, 10)},
			attrDone:  &types.AttributeValueMemberBOOL{Value: p.Done},
		}
		sets = append(sets, "#ds."+kn+" = "+vn)
		if !p.Done {
			if rs := encodeRangesWithin(p.Acked, p.Ranges, rangesLimit(u.RangesBytes)); len(rs) > 0 {
				entry[attrRanges] = &types.AttributeValueMemberB{Value: rs}
			}
			// A checkpoint never moves acked backwards nor reopens a finished destination.
			an := fmt.Sprintf(":a%d", i)
			names["#dn"], names["#a"] = attrDone, attrAcked
			vals[":f"] = &types.AttributeValueMemberBOOL{Value: false}
			vals[an] = &types.AttributeValueMemberN{Value: strconv.FormatInt(p.Acked, 10)}
			conds = append(conds, fmt.Sprintf("(attribute_not_exists(#ds.%[1]s) OR (#ds.%[1]s.#dn = :f AND #ds.%[1]s.#a <= %[2]s))", kn, an))
		}
		vals[vn] = &types.AttributeValueMemberM{Value: entry}
	}
	expr := "SET " + strings.Join(sets, ", ")
	if u.Owner != "" {
		expr += " REMOVE #lo, #lu"
		names["#lo"], names["#lu"] = attrLeaseOwner, attrLeaseUntil
		vals[":o"] = &types.AttributeValueMemberS{Value: u.Owner}
		conds = append(conds, "(attribute_not_exists(#lo) OR #lo = :o)")
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 s.key(id),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("write progress to %s: %w", s.table, err)
	}
	return nil, false, nil
}

// createDests gives id's item the empty map its entries go into (keeping one that exists).
func (s *DynamoDBProgress) createDests(ctx context.Context, id string) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      s.key(id),
		UpdateExpression:         aws.String("SET #ds = if_not_exists(#ds, :empty), #t = if_not_exists(#t, :t)"),
		ExpressionAttributeNames: map[string]string{"#ds": attrDests, "#t": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":empty": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
			":t":     &types.AttributeValueMemberN{Value: strconv.FormatInt(s.now().Add(s.ttl).Unix(), 10)},
		},
	})
	if err != nil {
		return fmt.Errorf("write progress to %s: %w", s.table, err)
	}
	return nil
}

// Lease is the outcome of LeaseStore.Lease.
type Lease struct {
	// Held: the caller holds the lease until Until. Otherwise another owner holds it until Until, or every
	// destination asked about is done (no lease is needed; Until is then whatever is on record).
	Held  bool
	Until time.Time
	// Progress on record, read by the same conditional write that took the lease (never stale).
	Progress ObjectProgress
}

// LeaseStore is a ProgressStore shared between processes that also leases each object version to one
// owner at a time, so that two processes receiving the same object do not both deliver it. A lease is taken
// with a conditional write that returns the progress on record, renewed by its owner while it delivers,
// taken over by another owner only once it has expired, and ended by the owner's final Put (with Owner) or
// Unlease.
type LeaseStore interface {
	ProgressStore
	// Lease takes or renews id's lease for owner until now+ttl, unless another owner holds an unexpired one
	// or every destination of dests (destination keys) is done already: a redelivery of a delivered object
	// then costs this one write and leaves no lease to end.
	Lease(ctx context.Context, id, owner string, ttl time.Duration, dests []string) (Lease, error)
	// Unlease ends owner's lease on id (nothing when owner does not hold it).
	Unlease(ctx context.Context, id, owner string) error
}

// Lease implements LeaseStore: one conditional UpdateItem that returns the item (taken or refused). It
// creates the item's "dests" map, so that later writes can set entries in it.
func (s *DynamoDBProgress) Lease(ctx context.Context, id, owner string, ttl time.Duration, dests []string) (Lease, error) {
	now := s.now()
	until := now.Add(ttl)
	names := map[string]string{"#lo": attrLeaseOwner, "#lu": attrLeaseUntil, "#t": "ttl", "#ds": attrDests}
	vals := map[string]types.AttributeValue{
		":o":     &types.AttributeValueMemberS{Value: owner},
		":u":     &types.AttributeValueMemberN{Value: strconv.FormatInt(until.UnixMilli(), 10)},
		":now":   &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
		":t":     &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(s.ttl).Unix(), 10)},
		":empty": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
	}
	cond := "(attribute_not_exists(#lu) OR #lu < :now OR #lo = :o)"
	if len(dests) > 0 {
		// Not when every destination is done (a path that does not exist compares false).
		names["#dn"] = attrDone
		vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
		all := make([]string, len(dests))
		for i, k := range dests {
			kn := fmt.Sprintf("#k%d", i)
			names[kn] = k
			all[i] = "#ds." + kn + ".#dn = :true"
		}
		cond += " AND NOT (" + strings.Join(all, " AND ") + ")"
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 s.key(id),
		UpdateExpression:                    aws.String("SET #lo = :o, #lu = :u, #t = if_not_exists(#t, :t), #ds = if_not_exists(#ds, :empty)"),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           vals,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		l := Lease{}
		if v, ok := ccf.Item[attrLeaseUntil].(*types.AttributeValueMemberN); ok {
			if ms, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
				l.Until = time.UnixMilli(ms)
			}
		}
		if l.Progress, err = decodeObjectProgress(id, ccf.Item); err != nil {
			return Lease{}, err
		}
		return l, nil
	}
	if err != nil {
		return Lease{}, fmt.Errorf("lease progress item in %s: %w", s.table, err)
	}
	op, err := decodeObjectProgress(id, out.Attributes)
	if err != nil {
		return Lease{}, err
	}
	return Lease{Held: true, Until: until, Progress: op}, nil
}

// Unlease implements LeaseStore.
func (s *DynamoDBProgress) Unlease(ctx context.Context, id, owner string) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       s.key(id),
		UpdateExpression:          aws.String("REMOVE #lo, #lu"),
		ConditionExpression:       aws.String("#lo = :o"),
		ExpressionAttributeNames:  map[string]string{"#lo": attrLeaseOwner, "#lu": attrLeaseUntil},
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
