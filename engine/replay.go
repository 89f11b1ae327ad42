package engine

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/tenant"
)

// ReplayField is the top-level field of an S3-event-shaped message body that carries a replay marker.
const ReplayField = "logrouterReplay"

// ReplayVersion is the only marker version this processor accepts.
const ReplayVersion = 1

// Replay says how a replayed object is delivered: only to the named destination types, with the given
// out-of-window policy for CloudWatch, and — when Force is set — under progress records of its own, so that
// destinations that already have the object receive it again (duplicates, by request).
//
// On the wire (the ReplayField of a notification) a marker must be authenticated: Signature is the hex
// HMAC-SHA256, under the key KeyID names, of the marker's fields and of every record's bucket, key, ETag and
// version id (see SignReplay). Anyone who can send to the queue can already name objects of the source
// buckets; the signature keeps them from turning a notification into a forced re-delivery or from changing
// a replay's types or policy. A message whose marker is malformed, unsigned, signed with an unknown key or
// not matching its records is dropped like any other malformed message.
type Replay struct {
	V           int           `json:"v"`
	ID          string        `json:"id"`
	Types       []tenant.Type `json:"types"`
	OutOfWindow string        `json:"out_of_window"`
	Force       bool          `json:"force,omitempty"`
	KeyID       string        `json:"key_id"`
	Signature   string        `json:"signature"`
}

// Validate checks the marker's fields (not its signature).
func (r *Replay) Validate() error {
	if r.V != ReplayVersion {
		return fmt.Errorf("replay marker version %d is not %d", r.V, ReplayVersion)
	}
	if err := ValidateReplayID(r.ID); err != nil {
		return err
	}
	if len(r.Types) == 0 {
		return errors.New("replay marker names no destination type")
	}
	seen := map[tenant.Type]bool{}
	for _, t := range r.Types {
		if t != tenant.TypeCloudWatch && t != tenant.TypeS3 {
			return fmt.Errorf("replay marker names unknown destination type %q", t)
		}
		if seen[t] {
			return fmt.Errorf("replay marker names %q twice", t)
		}
		seen[t] = true
	}
	if _, err := batcher.ParsePolicy(r.OutOfWindow); err != nil {
		return fmt.Errorf("replay marker: %w", err)
	}
	return nil
}

// ValidateReplayID accepts 1 to 64 characters of [a-z0-9-].
func ValidateReplayID(id string) error {
	if len(id) == 0 || len(id) > 64 {
		return fmt.Errorf("replay id must be 1 to 64 characters, got %d", len(id))
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("replay id %q has a character outside [a-z0-9-]", id)
		}
	}
	return nil
}

// Admits reports whether the replay is for destinations of type t.
func (r *Replay) Admits(t tenant.Type) bool { return slices.Contains(r.Types, t) }

// batcherOptions applies the replay's out-of-window policy (none without a replay).
func (r *Replay) batcherOptions(o *batcher.Options) {
	if r == nil {
		return
	}
	if p, err := batcher.ParsePolicy(r.OutOfWindow); err == nil {
		o.OutOfWindow = p
	}
}

// progressScope sets a forced replay's progress apart from the normal delivery's and other replays' (see
// progressID): "" unless forced.
func (r *Replay) progressScope() string {
	if r == nil || !r.Force {
		return ""
	}
	return "replay\x00" + r.ID
}

// replaySigningInput is the canonical, unambiguous (length-prefixed) encoding of what a signature covers.
func replaySigningInput(r *Replay, objs []ObjectRef) []byte {
	var b bytes.Buffer
	put := func(s string) {
		var n [binary.MaxVarintLen64]byte
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		b.WriteString(s)
	}
	put("LOGROUTER-REPLAY-V1")
	put(r.ID)
	for _, t := range r.Types {
		put(string(t))
	}
	put("")
	put(r.OutOfWindow)
	put(fmt.Sprint(r.Force))
	put(r.KeyID)
	for _, o := range objs {
		put(o.Bucket)
		put(o.Key)
		put(o.ETag)
		put(o.VersionID)
	}
	return b.Bytes()
}

// SignReplay sets r's KeyID and Signature for a message naming objs (keys URL-decoded, ETags unquoted, as
// ParseNotification returns them).
func SignReplay(r *Replay, keyID string, secret []byte, objs []ObjectRef) {
	r.KeyID = keyID
	m := hmac.New(sha256.New, secret)
	m.Write(replaySigningInput(r, objs))
	r.Signature = hex.EncodeToString(m.Sum(nil))
}

// ErrReplayForged is wrapped (with ErrMalformed) by the errors of a marker whose signature does not verify.
var ErrReplayForged = errors.New("replay marker not authenticated")

// VerifyReplay checks r's signature over objs with keys (key id -> secret).
func VerifyReplay(r *Replay, keys map[string][]byte, objs []ObjectRef) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: this processor has no replay keys (LOGROUTER_REPLAY_KEYS_FILE)", ErrReplayForged)
	}
	secret, ok := keys[r.KeyID]
	if !ok {
		return fmt.Errorf("%w: unknown key id %q", ErrReplayForged, r.KeyID)
	}
	got, err := hex.DecodeString(r.Signature)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: signature is not a hex HMAC-SHA256", ErrReplayForged)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(replaySigningInput(r, objs))
	if !hmac.Equal(m.Sum(nil), got) {
		return fmt.Errorf("%w: signature does not match", ErrReplayForged)
	}
	return nil
}

// parseReplay decodes a marker strictly: known fields only, every field valid.
func parseReplay(raw []byte) (*Replay, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r Replay
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: replay marker: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: replay marker: trailing data", ErrMalformed)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if r.KeyID == "" || r.Signature == "" {
		return nil, fmt.Errorf("%w: %w: replay marker is not signed", ErrMalformed, ErrReplayForged)
	}
	return &r, nil
}

// ReplayEventName is the eventName of a replay message's records.
const ReplayEventName = "ObjectCreated:Replay"

// EncodeReplayMessage renders an SQS message body that ParseNotification reads back as objs with r as
// its marker, signed with (keyID, secret). r is validated first.
func EncodeReplayMessage(r Replay, keyID string, secret []byte, objs []ObjectRef) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, errors.New("a replay message needs at least one object")
	}
	if keyID == "" || len(secret) == 0 {
		return nil, errors.New("a replay message needs a signing key")
	}
	SignReplay(&r, keyID, secret, objs)
	recs := make([]s3Record, len(objs))
	for i, o := range objs {
		rec := &recs[i]
		rec.EventSource, rec.EventName = "aws:s3", ReplayEventName
		if !o.EventTime.IsZero() {
			rec.EventTime = o.EventTime.UTC().Format(time.RFC3339Nano)
		}
		rec.S3.Bucket.Name = o.Bucket
		rec.S3.Object.Key = url.QueryEscape(o.Key)
		rec.S3.Object.Size = o.Size
		rec.S3.Object.ETag = o.ETag
		rec.S3.Object.VersionID = o.VersionID
	}
	return json.Marshal(struct {
		Records []s3Record `json:"Records"`
		Replay  Replay     `json:"logrouterReplay"`
	}{recs, r})
}
