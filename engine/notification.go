package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// ErrMalformed is wrapped by every error about a message body or record that is not a usable notification.
var ErrMalformed = errors.New("malformed notification")

// ObjectRef is one S3 object a notification refers to. Key is URL-decoded.
type ObjectRef struct {
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	Size      int64     `json:"size,omitempty"`
	ETag      string    `json:"etag,omitempty"` // without quotes; "" when unknown
	VersionID string    `json:"version_id,omitempty"`
	EventTime time.Time `json:"event_time,omitzero"`
	// Replay, when set, restricts and adjusts the delivery (see Replay); the processor sets it only from an
	// authenticated marker or from a caller in the same process.
	Replay *Replay `json:"-"`
}

// Notification is the content of one SQS message body.
type Notification struct {
	// Test is true for S3's s3:TestEvent, which carries no object and is acknowledged without work.
	Test bool
	// Objects are the ObjectCreated records, in message order.
	Objects []ObjectRef
	// Invalid holds one ErrMalformed-wrapping error per record that could not be used.
	Invalid []error
	// Ignored counts well-formed records of other event types (e.g. ObjectRemoved).
	Ignored int
	// Replay is the message's replay marker (ReplayField), well-formed but not yet authenticated: the
	// processor verifies it against its replay keys (VerifyReplay) before using it.
	Replay *Replay
}

type snsEnvelope struct {
	Type     string `json:"Type"`
	Message  string `json:"Message"`
	TopicArn string `json:"TopicArn"`
}

type s3Event struct {
	Records []s3Record      `json:"Records"`
	Event   string          `json:"Event"` // "s3:TestEvent"
	Service string          `json:"Service"`
	Replay  json.RawMessage `json:"logrouterReplay"`
}

type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	EventTime   string `json:"eventTime"` // RFC 3339; some emulators omit the zone
	S3          struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"eTag"`
			VersionID string `json:"versionId"`
		} `json:"object"`
	} `json:"s3"`
}

// maxBodyBytes is SQS's message size limit; anything larger did not come from SQS.
const maxBodyBytes = 1 << 20

// ParseNotification decodes an SQS message body: an S3 event notification, the same wrapped in an SNS
// envelope (raw message delivery off), or an s3:TestEvent. Keys are URL-decoded as S3 encodes them
// (form encoding: "+" is a space, %XX any byte including "/"). A body that is none of these returns an
// error wrapping ErrMalformed; a single unusable record is reported in Invalid while the others are kept.
func ParseNotification(body []byte) (Notification, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Notification{}, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if len(body) > maxBodyBytes {
		return Notification{}, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMalformed, len(body), maxBodyBytes)
	}
	var env snsEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Notification{}, fmt.Errorf("%w: not JSON: %v", ErrMalformed, err)
	}
	if env.Type == "Notification" && env.Message != "" {
		body = []byte(env.Message)
	}
	var ev s3Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Notification{}, fmt.Errorf("%w: not an S3 event: %v", ErrMalformed, err)
	}
	if ev.Event == "s3:TestEvent" {
		return Notification{Test: true}, nil
	}
	if len(ev.Records) == 0 {
		return Notification{}, fmt.Errorf("%w: no Records", ErrMalformed)
	}
	var n Notification
	if ev.Replay != nil {
		r, err := parseReplay(ev.Replay)
		if err != nil {
			return Notification{}, err
		}
		n.Replay = r
	}
	for i, r := range ev.Records {
		if r.EventSource != "aws:s3" {
			n.Invalid = append(n.Invalid, fmt.Errorf("%w: record %d: eventSource %q is not aws:s3", ErrMalformed, i, r.EventSource))
			continue
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			n.Ignored++
			continue
		}
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			n.Invalid = append(n.Invalid, fmt.Errorf("%w: record %d: key %q is not URL-encoded: %v", ErrMalformed, i, r.S3.Object.Key, err))
			continue
		}
		if r.S3.Bucket.Name == "" || key == "" {
			n.Invalid = append(n.Invalid, fmt.Errorf("%w: record %d: bucket or key missing", ErrMalformed, i))
			continue
		}
		n.Objects = append(n.Objects, ObjectRef{
			Bucket:    r.S3.Bucket.Name,
			Key:       key,
			Size:      r.S3.Object.Size,
			ETag:      strings.Trim(r.S3.Object.ETag, `"`),
			VersionID: r.S3.Object.VersionID,
			EventTime: parseEventTime(r.EventTime),
		})
	}
	return n, nil
}

// MessageBodies returns the SQS message bodies in input: the bodies of a Lambda SQS event
// ({"Records":[{"eventSource":"aws:sqs","body":...}]}), or input itself as one body.
func MessageBodies(input []byte) [][]byte {
	var ev struct {
		Records []struct {
			EventSource string `json:"eventSource"`
			Body        string `json:"body"`
		} `json:"Records"`
	}
	if json.Unmarshal(input, &ev) == nil && len(ev.Records) > 0 {
		var out [][]byte
		for _, r := range ev.Records {
			if r.EventSource != "aws:sqs" {
				return [][]byte{input}
			}
			out = append(out, []byte(r.Body))
		}
		return out
	}
	return [][]byte{input}
}

// parseEventTime reads a record's eventTime; a missing or unreadable time is zero (it only feeds metrics).
func parseEventTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
