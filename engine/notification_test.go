package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseNotification(t *testing.T) {
	s3ev := `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"c1/acme/my+app/pod%2F1/f%C3%A9.json.gz","size":5,"eTag":"abc"}}}]}`
	tests := map[string]struct {
		body    string
		want    []ObjectRef
		test    bool
		invalid int
		ignored int
		err     bool
	}{
		"plain S3 event, + is a space, %2F and UTF-8 decoded": {
			body: s3ev,
			want: []ObjectRef{{Bucket: "b", Key: "c1/acme/my app/pod/1/fé.json.gz", Size: 5, ETag: "abc"}},
		},
		"SNS envelope": {
			body: `{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":` + quoteJSON(s3ev) + `}`,
			want: []ObjectRef{{Bucket: "b", Key: "c1/acme/my app/pod/1/fé.json.gz", Size: 5, ETag: "abc"}},
		},
		"test event":                {body: `{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}`, test: true},
		"test event inside SNS":     {body: `{"Type":"Notification","Message":"{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\"}"}`, test: true},
		"several records, one bad":  {body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k1"}}},{"eventSource":"aws:sqs"},{"eventSource":"aws:s3","eventName":"ObjectCreated:Copy","s3":{"bucket":{"name":"b"},"object":{"key":"k%ZZ"}}},{"eventSource":"aws:s3","eventName":"ObjectCreated:Post","s3":{"bucket":{"name":"b"},"object":{"key":"k2"}}}]}`, want: []ObjectRef{{Bucket: "b", Key: "k1"}, {Bucket: "b", Key: "k2"}}, invalid: 2},
		"removal ignored":           {body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`, ignored: 1},
		"missing bucket":            {body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`, invalid: 1},
		"not JSON":                  {body: `hello`, err: true},
		"empty":                     {body: `  `, err: true},
		"JSON without records":      {body: `{"foo":1}`, err: true},
		"SNS with non-JSON message": {body: `{"Type":"Notification","Message":"hi"}`, err: true},
		"records not an array":      {body: `{"Records":{}}`, err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, err := ParseNotification([]byte(tc.body))
			if tc.err {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrMalformed))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.test, n.Test)
			assert.Equal(t, tc.want, n.Objects)
			assert.Len(t, n.Invalid, tc.invalid)
			for _, e := range n.Invalid {
				assert.ErrorIs(t, e, ErrMalformed)
			}
			assert.Equal(t, tc.ignored, n.Ignored)
		})
	}
}

func quoteJSON(s string) string {
	b := []byte{'"'}
	for _, c := range []byte(s) {
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return string(append(b, '"'))
}

func FuzzParseNotification(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b%2Fc"}}}]}`))
	f.Add([]byte(`{"Type":"Notification","Message":"{}"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotification(body)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		for _, o := range n.Objects {
			if o.Bucket == "" || o.Key == "" {
				t.Fatalf("empty bucket or key in %+v", o)
			}
		}
	})
}

func TestParseEventTime(t *testing.T) {
	assert.Equal(t, time.Date(2026, 11, 26, 1, 28, 8, 140754000, time.UTC), parseEventTime("2026-11-26T01:28:08.140754"))
	assert.Equal(t, time.Date(2026, 11, 26, 1, 28, 8, 0, time.UTC), parseEventTime("2026-11-26T02:28:08+01:00"))
	assert.True(t, parseEventTime("yesterday").IsZero())
}
