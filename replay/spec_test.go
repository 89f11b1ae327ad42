package replay

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/tenant"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		in   string
		want time.Time
		err  bool
	}{
		"empty is unbounded": {in: "", want: time.Time{}},
		"RFC 3339 with zone": {in: "2026-12-01T10:00:00+01:00", want: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)},
		"hours before now":   {in: "48h", want: now.Add(-48 * time.Hour)},
		"minutes":            {in: "90m", want: now.Add(-90 * time.Minute)},
		"days":               {in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		"negative duration":  {in: "-1h", err: true},
		"date only":          {in: "2026-12-01", err: true},
		"words":              {in: "yesterday", err: true},
		"absurd days":        {in: "99999d", err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseTime(tc.in, now)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "got %s", got)
		})
	}
}

func TestSpecValidate(t *testing.T) {
	now := time.Now()
	good := func() Spec {
		return Spec{ID: "r-1", Tenant: "acme", Bucket: "central", Since: now.Add(-time.Hour), Until: now}
	}
	tests := map[string]struct {
		edit func(*Spec)
		msg  string
	}{
		"valid":                    {edit: func(*Spec) {}},
		"bucket not a source":      {edit: func(s *Spec) { s.Bucket = "elsewhere" }, msg: "not one of the configured source buckets"},
		"tenant not a label":       {edit: func(s *Spec) { s.Tenant = "Acme/x" }, msg: "tenant"},
		"since after until":        {edit: func(s *Spec) { s.Since = now.Add(time.Hour) }, msg: "is not before until"},
		"unknown type":             {edit: func(s *Spec) { s.Types = []tenant.Type{"kinesis"} }, msg: "unknown destination type"},
		"cluster with slash":       {edit: func(s *Spec) { s.Clusters = []string{"a/b"} }, msg: "cluster"},
		"bad id":                   {edit: func(s *Spec) { s.ID = "R!" }, msg: "replay id"},
		"start-after other tenant": {edit: func(s *Spec) { s.StartAfter = "c1/other/app/pod/f" }, msg: "start-after"},
		"start-after ok":           {edit: func(s *Spec) { s.StartAfter = "c1/acme/app/pod/f" }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := good()
			tc.edit(&s)
			err := s.Validate([]string{"central"})
			if tc.msg == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestMarkerDefaults(t *testing.T) {
	s := Spec{ID: "r-1"}
	m := s.Marker()
	assert.Equal(t, []tenant.Type{tenant.TypeCloudWatch, tenant.TypeS3}, m.Types)
	assert.Equal(t, "drop", m.OutOfWindow)
	s.Clamp, s.Types, s.Force = true, []tenant.Type{tenant.TypeS3}, true
	m = s.Marker()
	assert.Equal(t, "clamp", m.OutOfWindow)
	assert.True(t, m.Force)
	assert.Equal(t, []tenant.Type{tenant.TypeS3}, m.Types)
	require.NoError(t, m.Validate())
	assert.Regexp(t, `^r\d{8}t\d{6}-[0-9a-f]{6}$`, NewID(time.Now()))
}

func TestStartAfter(t *testing.T) {
	tests := map[string]struct {
		key, prefix string
		after       string
		skip        bool
	}{
		"no continuation":       {key: "", prefix: "c1/", after: ""},
		"prefix before the key": {key: "c2/t/a/p/f", prefix: "c1/", skip: true},
		"key inside":            {key: "c2/t/a/p/f", prefix: "c2/t/", after: "c2/t/a/p/f"},
		"prefix after the key":  {key: "c2/t/a/p/f", prefix: "c3/", after: ""},
		"dash sorts before /":   {key: "c2/t/a/p/f", prefix: "c2-x/", skip: true},
		"longer name after":     {key: "c2-x/t/a/p/f", prefix: "c2/", after: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			after, skip := startAfter(tc.key, tc.prefix)
			assert.Equal(t, tc.skip, skip)
			assert.Equal(t, tc.after, after)
		})
	}
}

func TestWatermark(t *testing.T) {
	w := newWatermark()
	for i, k := range []string{"a", "b", "c", "d"} {
		w.add(int64(i), k)
	}
	w.done(1)
	assert.Equal(t, "", w.key, "0 is not done")
	w.done(0)
	assert.Equal(t, "b", w.key)
	w.done(3)
	assert.Equal(t, "b", w.key)
	w.done(2)
	assert.Equal(t, "d", w.key)
	assert.Empty(t, w.pending)
}

func TestProgressLine(t *testing.T) {
	p := &Progress{}
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	p.start(start)
	p.List.Listed.Store(120)
	p.List.Matched.Store(100)
	p.Handled.Store(40)
	p.Bytes.Store(3 << 20)
	line := p.Line("enqueued", start.Add(10*time.Second))
	assert.Equal(t, "listed 120, in window 100; enqueued 40 (3.0 MiB), 4.0/s, failed 0, ETA listing", line)
	p.List.Done.Store(true)
	assert.True(t, strings.HasSuffix(p.Line("enqueued", start.Add(10*time.Second)), "ETA 15s"))
}
