package parser

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fallback is the object's LastModified in the tests.
var fallback = time.Date(2025, 8, 30, 10, 40, 0, 0, time.UTC)

// record is an Event in a form that survives the next call to Next and compares well.
type record struct {
	Line        int64  `json:"line"`
	Time        string `json:"time"`
	Source      string `json:"source"`
	Message     string `json:"message"`
	Escaped     bool   `json:"escaped"`
	ClusterID   string `json:"cluster_id,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Application string `json:"application,omitempty"`
	PodName     string `json:"pod_name,omitempty"`
}

func toRecord(t testing.TB, ev *Event) record {
	t.Helper()
	msg, err := ev.AppendMessage(nil)
	require.NoError(t, err)
	return record{
		Line: ev.Line, Time: time.UnixMilli(ev.Timestamp).UTC().Format(time.RFC3339Nano), Source: ev.Source.String(),
		Message: string(msg), Escaped: ev.Escaped, ClusterID: string(ev.ClusterID), Namespace: string(ev.Namespace),
		Application: string(ev.Application), PodName: string(ev.PodName),
	}
}

// readAll reads every event of r; err is the error that ended the stream (nil for io.EOF).
func readAll(t testing.TB, r *Reader) (recs []record, err error) {
	t.Helper()
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, toRecord(t, ev))
	}
}

func parseString(t testing.TB, s string, optFns ...func(*Options)) ([]record, Stats, error) {
	t.Helper()
	r := NewReader(strings.NewReader(s), fallback, optFns...)
	defer r.Close()
	recs, err := readAll(t, r)
	return recs, r.Stats(), err
}

func gz(t testing.TB, members ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range members {
		w := gzip.NewWriter(&buf)
		_, err := w.Write(m)
		require.NoError(t, err)
		require.NoError(t, w.Close())
	}
	return buf.Bytes()
}

func pipelined(o *Options) { o.Pipeline = true }

func TestFixtureGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/vector-kubernetes-logs.ndjson")
	require.NoError(t, err)
	half := bytes.IndexByte(raw[len(raw)/2:], '\n') + len(raw)/2 + 1
	inputs := map[string]struct {
		body []byte
		opts []func(*Options)
	}{
		"plain":                    {body: raw},
		"gzip":                     {body: gz(t, raw)},
		"multi-member gzip":        {body: gz(t, raw[:half], raw[half:])},
		"member boundary mid-line": {body: gz(t, raw[:half+100], raw[half+100:])},
		"pipelined gzip":           {body: gz(t, raw), opts: []func(*Options){pipelined}},
		"small chunks":             {body: gz(t, raw), opts: []func(*Options){func(o *Options) { o.ChunkBytes = 7 }}},
		"small chunks pipelined":   {body: gz(t, raw), opts: []func(*Options){pipelined, func(o *Options) { o.ChunkBytes = 13 }}},
		"CRLF":                     {body: bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))},
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(in.body), fallback, in.opts...)
			defer r.Close()
			recs, err := readAll(t, r)
			require.NoError(t, err)
			var out bytes.Buffer
			for _, rec := range recs {
				b, err := jsonMarshal(rec)
				require.NoError(t, err)
				out.Write(b)
				out.WriteByte('\n')
			}
			const path = "testdata/vector-kubernetes-logs.golden.ndjson"
			if *update && name == "plain" {
				require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, string(want), out.String())
			st := r.Stats()
			assert.Equal(t, int64(13), st.Lines)
			assert.Equal(t, int64(13), st.Events)
			assert.Equal(t, int64(len(raw)), st.BytesOut-int64(bytes.Count(in.body, []byte("\r"))*boolInt(name == "CRLF")))
			assert.Equal(t, int64(len(in.body)), st.BytesIn)
			assert.Equal(t, name != "plain" && name != "CRLF", st.Gzip)
			assert.Zero(t, st.MalformedLines)
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestLines(t *testing.T) {
	const vec = `"timestamp":"2025-08-30T10:00:00Z"`
	tests := map[string]struct {
		in    string
		want  []string // messages (unescaped)
		lines []int64
		check func(t *testing.T, st Stats)
	}{
		"string message byte for byte": {
			in:   `{"message":"a \"quoted\" \u00e9 \\ tab\t","timestamp":"2025-08-30T10:00:00Z"}` + "\n",
			want: []string{"a \"quoted\" é \\ tab\t"},
		},
		"object message compacted": {
			in:   `{"message": { "a" : [1, 2 ], "b":"x" },` + vec + "}\n",
			want: []string{`{"a":[1,2],"b":"x"}`},
		},
		"array message compacted": {
			in:   `{"message":[ 1 , "two" ],` + vec + "}\n",
			want: []string{`[1,"two"]`},
		},
		"number message": {
			in:   `{"message":42,` + vec + "}\n",
			want: []string{`42`},
		},
		"record without message minus Vector fields": {
			in:   `{"application":"a","cluster_id":"c","file":"f","ingest_timestamp":"x","kubernetes":{"pod_name":"p"},"level":"info","msg":"hi","namespace":"n","pod_name":"p","source_type":"kubernetes_logs","stream":"stdout","timestamp":"2025-08-30T10:00:00Z"}` + "\n",
			want: []string{`{"level":"info","msg":"hi"}`},
		},
		"not JSON is the raw text": {
			in:    "plain text line\n{broken json\n",
			want:  []string{"plain text line", "{broken json"},
			lines: []int64{1, 2},
			check: func(t *testing.T, st Stats) { assert.Equal(t, int64(2), st.MalformedLines) },
		},
		"trailing garbage after the object": {
			in:   `{"message":"x"} y` + "\n",
			want: []string{`{"message":"x"} y`},
		},
		"invalid escape in message makes the line raw": {
			in:   `{"message":"bad \q escape"}` + "\n",
			want: []string{`{"message":"bad \q escape"}`},
		},
		"raw control character in message makes the line raw": {
			in:   "{\"message\":\"a\x01b\"}\n",
			want: []string{"{\"message\":\"a\x01b\"}"},
		},
		"array line yields one event per element": {
			in:    `[{"message":"one"},{"message":"two"},"three",4]` + "\n" + `{"message":"five"}` + "\n",
			want:  []string{"one", "two", "three", "4", "five"},
			lines: []int64{1, 1, 1, 1, 2},
		},
		"empty array is counted": {
			in:    "[]\n[ ]\n" + `{"message":"x"}` + "\n",
			want:  []string{"x"},
			lines: []int64{3},
			check: func(t *testing.T, st Stats) { assert.Equal(t, int64(2), st.EmptyArrayLines) },
		},
		"invalid array is raw text": {
			in:   `[{"message":"one"},` + "\n",
			want: []string{`[{"message":"one"},`},
		},
		"blank lines skipped": {
			in:    "\n  \n\t\r\n" + `{"message":"x"}` + "\n\n",
			want:  []string{"x"},
			lines: []int64{4},
			check: func(t *testing.T, st Stats) {
				assert.Equal(t, int64(4), st.BlankLines)
				assert.Equal(t, int64(5), st.Lines)
			},
		},
		"CRLF": {
			in:   "{\"message\":\"x\"}\r\nraw\r\n",
			want: []string{"x", "raw"},
		},
		"last line without newline": {
			in:   `{"message":"x"}` + "\n" + `{"message":"y"}`,
			want: []string{"x", "y"},
		},
		"JSON string line": {
			in:   `"just a string"` + "\n",
			want: []string{"just a string"},
		},
		"metadata fields": {
			in:   `{"application":"app","cluster_id":"c1","message":"m","namespace":"n\u0031","pod_name":"p"}` + "\n",
			want: []string{"m"},
		},
		"escaped key": {
			in:   `{"mess\u0061ge":"m"}` + "\n",
			want: []string{"m"},
		},
		"duplicate key: last wins": {
			in:   `{"message":"a","message":"b"}` + "\n",
			want: []string{"b"},
		},
		"invalid UTF-8 delivered unescaped": {
			in:   "{\"message\":\"a\xffb\\n\"}\n",
			want: []string{"a\xffb\n"},
		},
		"braces and quotes inside strings of nested objects": {
			in:   `{"kubernetes":{"a":"}{][","b":{"c":"\"}"},"d":["]"]},"message":"ok"}` + "\n",
			want: []string{"ok"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, pipe := range []bool{false, true} {
				recs, st, err := parseString(t, tc.in, func(o *Options) { o.Pipeline = pipe })
				require.NoError(t, err)
				var got []string
				var lines []int64
				for _, r := range recs {
					got = append(got, r.Message)
					lines = append(lines, r.Line)
				}
				assert.Equal(t, tc.want, got)
				if tc.lines != nil {
					assert.Equal(t, tc.lines, lines)
				}
				assert.Equal(t, int64(len(recs)), st.Events)
				if tc.check != nil {
					tc.check(t, st)
				}
			}
		})
	}
}

func TestMetadataAndEscaped(t *testing.T) {
	recs, _, err := parseString(t, `{"application":"app","cluster_id":"c1","message":"a\"b","namespace":"n\u0031","pod_name":"p"}`+"\n"+`{"message":{"x":1}}`)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, record{Line: 1, Time: "2025-08-30T10:40:00Z", Source: "fallback", Message: `a"b`, Escaped: true,
		ClusterID: "c1", Namespace: "n1", Application: "app", PodName: "p"}, recs[0])
	assert.False(t, recs[1].Escaped)
	assert.Empty(t, recs[1].Application)

	// the escaped body is exactly the input's bytes
	r := NewReader(strings.NewReader(`{"message":"a\"b\u00e9"}`), fallback)
	ev, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, `a\"b\u00e9`, string(ev.Message))
	assert.True(t, ev.Escaped)
}

func TestTextLenAndUnicodeEscapes(t *testing.T) {
	tests := map[string]struct {
		line     string
		escaped  bool
		textLen  int
		unicodes bool
	}{
		"plain":                  {`{"message":"héllo"}`, true, 6, false},
		"two-byte escapes":       {`{"message":"a\"b\\c\/d\n"}`, true, 8, false},
		"unicode escape":         {`{"message":"caf\u00e9"}`, true, 5, true},
		"surrogate pair":         {`{"message":"\ud83d\ude00!"}`, true, 5, true},
		"lone surrogate":         {`{"message":"\ud83d"}`, true, 3, true},
		"escaped u, not unicode": {`{"message":"\\u00e9"}`, true, 6, false},
		"array element string":   {`["a\tb"]`, true, 3, false},
		"object message":         {`{"message":{"a":1}}`, false, 0, false},
		"invalid UTF-8":          {"{\"message\":\"a\xffb\"}", false, 0, false},
		"not JSON":               {`plain text`, false, 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.line+"\n"), fallback)
			defer r.Close()
			ev, err := r.Next()
			require.NoError(t, err)
			assert.Equal(t, tc.escaped, ev.Escaped)
			assert.Equal(t, tc.textLen, ev.TextLen)
			assert.Equal(t, tc.unicodes, ev.UnicodeEscapes)
			if ev.Escaped {
				text, err := ev.AppendMessage(nil)
				require.NoError(t, err)
				assert.Len(t, text, ev.TextLen)
			}
		})
	}
}

// A JSON message whose escaped form has a two-byte escape (every \" of the inner JSON) before a \u escape
// (as Go's encoder writes <, > and &) is unescaped once, so that its timestamp is found.
func TestJSONMessageWithUnicodeEscapeAfterOtherEscapes(t *testing.T) {
	line := `{"message":"{\"level\":\"info\",\"msg\":\"a \u003c b\",\"ts\":\"2025-08-30T10:00:01Z\"}","timestamp":"2025-08-30T10:05:00Z"}`
	recs, _, err := parseString(t, line)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "message_json", recs[0].Source)
	assert.Equal(t, "2025-08-30T10:00:01Z", recs[0].Time)
	assert.Equal(t, `{"level":"info","msg":"a < b","ts":"2025-08-30T10:00:01Z"}`, recs[0].Message)
}

func TestOversizedLines(t *testing.T) {
	long := `{"message":"` + strings.Repeat("x", 100) + `"}`
	in := `{"message":"a"}` + "\n" + long + "\n" + `{"message":"b"}` + "\n" + long
	for _, chunk := range []int{7, 64, 1000} {
		for _, pipe := range []bool{false, true} {
			t.Run(fmt.Sprintf("chunk %d pipelined %v", chunk, pipe), func(t *testing.T) {
				recs, st, err := parseString(t, in, func(o *Options) {
					o.MaxLineBytes, o.ChunkBytes, o.Pipeline = 50, chunk, pipe
				})
				require.NoError(t, err)
				require.Len(t, recs, 2)
				assert.Equal(t, "a", recs[0].Message)
				assert.Equal(t, "b", recs[1].Message)
				assert.Equal(t, int64(3), recs[1].Line)
				assert.Equal(t, int64(2), st.OversizedLines)
				assert.Equal(t, int64(4), st.Lines)
			})
		}
	}
	// exactly at the cap is fine
	recs, st, err := parseString(t, long+"\n", func(o *Options) { o.MaxLineBytes = len(long); o.ChunkBytes = 16 })
	require.NoError(t, err)
	assert.Len(t, recs, 1)
	assert.Zero(t, st.OversizedLines)
}

func TestLongLinesAcrossChunks(t *testing.T) {
	msg := strings.Repeat("0123456789", 100_000) // 1 MB, far beyond a 64 KiB scanner limit
	in := `{"message":"` + msg + `"}` + "\n" + `{"message":"after"}` + "\n"
	for _, pipe := range []bool{false, true} {
		recs, _, err := parseString(t, in, func(o *Options) { o.ChunkBytes = 4096; o.Pipeline = pipe })
		require.NoError(t, err)
		require.Len(t, recs, 2)
		assert.Equal(t, msg, recs[0].Message)
		assert.Equal(t, "after", recs[1].Message)
	}
}

func TestCorruptGzip(t *testing.T) {
	var lines []byte
	for i := range 2000 {
		lines = fmt.Appendf(lines, `{"message":"line %d","timestamp":"2025-08-30T10:00:00Z"}`+"\n", i)
	}
	full := gz(t, lines)
	tests := map[string][]byte{
		"truncated":          full[:len(full)/2],
		"truncated trailer":  full[:len(full)-4],
		"bad checksum":       flip(full, len(full)-6),
		"garbage after data": append(append([]byte{}, full...), "not gzip"...),
	}
	for name, body := range tests {
		for _, pipe := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s pipelined %v", name, pipe), func(t *testing.T) {
				r := NewReader(bytes.NewReader(body), fallback, func(o *Options) { o.Pipeline = pipe; o.ChunkBytes = 1024 })
				defer r.Close()
				recs, err := readAll(t, r)
				var ce *CorruptError
				require.ErrorAs(t, err, &ce)
				assert.Contains(t, err.Error(), "corrupt gzip stream after")
				// every event returned is intact and in order
				for i, rec := range recs {
					assert.Equal(t, fmt.Sprintf("line %d", i), rec.Message)
				}
				assert.Equal(t, int64(len(recs)), ce.Line)
				assert.LessOrEqual(t, ce.Offset, int64(len(lines)))
				if name == "truncated" {
					assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
					assert.Greater(t, len(recs), 100)
				}
				// sticky
				_, err2 := r.Next()
				assert.Equal(t, err, err2)
			})
		}
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0xff
	return c
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadErrorIsNotCorruption(t *testing.T) {
	boom := errors.New("connection reset")
	body := gz(t, []byte(strings.Repeat(`{"message":"x"}`+"\n", 1000)))
	for _, pipe := range []bool{false, true} {
		r := NewReader(&failingReader{data: body[:len(body)/2], err: boom}, fallback, func(o *Options) { o.Pipeline = pipe })
		_, err := readAll(t, r)
		assert.ErrorIs(t, err, boom)
		var ce *CorruptError
		assert.False(t, errors.As(err, &ce))
		r.Close()
	}
}

func TestEmptyAndClose(t *testing.T) {
	recs, st, err := parseString(t, "")
	require.NoError(t, err)
	assert.Empty(t, recs)
	assert.Zero(t, st.Lines)

	r := NewReader(strings.NewReader(`{"message":"x"}`), fallback, pipelined)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	_, err = r.Next()
	assert.ErrorIs(t, err, ErrClosed)
}

func TestCloseReleasesPipeline(t *testing.T) {
	body := gz(t, []byte(strings.Repeat(`{"message":"x"}`+"\n", 100_000)))
	r := NewReader(bytes.NewReader(body), fallback, func(o *Options) { o.Pipeline = true; o.ChunkBytes = 4096 })
	_, err := r.Next()
	require.NoError(t, err)
	p := r.src.(*pipeSource)
	select {
	case <-p.exited:
		t.Fatal("pipeline goroutine ended before the object was read")
	default:
	}
	require.NoError(t, r.Close())
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not release the pipeline goroutine")
	}
	_, err = r.Next()
	assert.ErrorIs(t, err, ErrClosed)
}

func TestPipelineGoroutineEndsAtEOF(t *testing.T) {
	r := NewReader(strings.NewReader(`{"message":"x"}`), fallback, pipelined)
	_, err := readAll(t, r)
	require.NoError(t, err)
	select {
	case <-r.src.(*pipeSource).exited:
	case <-time.After(10 * time.Second):
		t.Fatal("pipeline goroutine still running after EOF")
	}
}

func TestDeterministic(t *testing.T) {
	raw, err := os.ReadFile("testdata/vector-kubernetes-logs.ndjson")
	require.NoError(t, err)
	body := gz(t, bytes.Repeat(raw, 50))
	var first []record
	for i := range 3 {
		r := NewReader(bytes.NewReader(body), fallback, func(o *Options) { o.Pipeline = i%2 == 1; o.ChunkBytes = 1000 + i*777 })
		recs, err := readAll(t, r)
		r.Close()
		require.NoError(t, err)
		if i == 0 {
			first = recs
			continue
		}
		require.Equal(t, first, recs)
	}
}

// TestSkipCache checks that remembering skipped nested values changes nothing: a line whose nested value
// starts like a remembered one but differs, is longer, is cut short or is followed by something invalid
// is judged exactly as without the cache.
func TestSkipCache(t *testing.T) {
	k := `{"container_id":"cri-o://0123456789abcdef","labels":{"app":"x","note":"a } \" ] { ["},"ips":["10.0.0.1"]}`
	lines := []string{
		`{"kubernetes":` + k + `,"message":"one"}`,
		`{"kubernetes":` + k + `,"message":"two"}`,                                       // a hit
		`{"kubernetes":` + k[:len(k)-1] + `,"x":1},"message":"longer"}`,                  // same prefix, longer
		`{"kubernetes":` + k + `},"message":"extra bracket"}`,                            // a hit, then invalid
		`{"kubernetes":` + k[:40],                                                        // cut short
		`{"kubernetes":` + strings.Replace(k, "0123", "0124", 1) + `,"message":"3"}`,     // differs inside
		`{"kubernetes":` + strings.Replace(k, `a } \"`, `a"} \"`, 1) + `,"message":"4"}`, // same length, ends early
		`{"message":"five","kubernetes":` + k + `}`,
		`{"message":"six","kubernetes":` + k + `  }`,
		`{"message":"seven","kubernetes":` + k + `x}`,
		`{"message":"eight","file":` + k + `,"kubernetes":` + k + `}`,
	}
	for i := 0; i < 6; i++ { // more distinct values than the cache holds
		lines = append(lines, `{"kubernetes":`+strings.Replace(k, "0123", fmt.Sprint(i), 1)+`,"message":"m"}`)
	}
	lines = append(lines, lines...)
	in := []byte(strings.Join(lines, "\n") + "\n")
	read := func(min int) ([]record, Stats) {
		r := NewReader(bytes.NewReader(in), fallback)
		r.skips.min = min
		recs, err := readAll(t, r)
		require.NoError(t, err)
		return recs, r.Stats()
	}
	want, wantStats := read(0)
	require.Equal(t, int64(8), wantStats.MalformedLines) // the invalid lines above, twice
	for _, min := range []int{1, defaultSkipCacheMin} {
		got, st := read(min)
		require.Equal(t, want, got, "cache min %d", min)
		require.Equal(t, wantStats, st, "cache min %d", min)
	}
}

// TestBuffersReused reads objects one after another, so that each Reader takes the buffers (line, text and
// chunk buffers, decompressor, skip cache) a finished one left: every reading yields what the first did,
// whatever was read before, including after a corrupt stream and a Reader abandoned half-way.
func TestBuffersReused(t *testing.T) {
	raw, err := os.ReadFile("testdata/vector-kubernetes-logs.ndjson")
	require.NoError(t, err)
	long := `{"message":"` + strings.Repeat("x\\\"y", 70_000) + `","timestamp":"2025-08-30T10:00:00Z"}` + "\n"
	plain := append(bytes.Repeat(raw, 3), long...)
	zipped := gz(t, append([]byte(long), bytes.Repeat(raw, 20)...))
	inputs := map[string][]byte{
		"plain":     plain,
		"gzip":      zipped,
		"corrupt":   zipped[:len(zipped)*2/3],
		"multi":     append(gz(t, raw), gz(t, []byte("second member\n"))...),
		"not json":  []byte("I0830 11:27:01.564974 1 x.go:1] klog\n{\"kubernetes\":{\"a\":1}\n"),
		"no output": nil,
	}
	type result struct {
		recs []record
		err  string
	}
	read := func(in []byte, pipe bool, chunk int) result {
		r := NewReader(bytes.NewReader(in), fallback, func(o *Options) { o.Pipeline = pipe; o.ChunkBytes = chunk })
		defer r.Close()
		recs, err := readAll(t, r)
		res := result{recs: recs}
		if err != nil {
			res.err = err.Error()
		}
		return res
	}
	names := []string{"plain", "gzip", "corrupt", "multi", "not json", "no output"}
	want := map[string]result{}
	for _, name := range names {
		want[name] = read(inputs[name], false, 0)
	}
	require.NotEmpty(t, want["corrupt"].err)
	for round := range 2 {
		for i := range names {
			name := names[(i+round)%len(names)]
			for _, pipe := range []bool{false, true} {
				for _, chunk := range []int{0, 1000} {
					require.Equal(t, want[name], read(inputs[name], pipe, chunk), "%s pipelined %v chunk %d round %d", name, pipe, chunk, round)
				}
			}
			// closed half-way: its last event stays valid, its buffers are not reused
			r := NewReader(bytes.NewReader(inputs[name]), fallback, func(o *Options) { o.Pipeline = round%2 == 0 })
			ev, err := r.Next()
			r.Close()
			if err == nil {
				first := toRecord(t, ev)
				require.Equal(t, want[name].recs[0], first)
				other := names[(i+round+1)%len(names)]
				require.Equal(t, want[other], read(inputs[other], false, 0))
				require.Equal(t, first, toRecord(t, ev))
			}
		}
	}
}

func TestReserveSizes(t *testing.T) {
	tests := map[string]struct{ have, add, want int }{
		"room left":             {100, 10, 4 << 10},
		"small":                 {0, 10, 4 << 10},
		"power of two":          {5000, 1000, 8 << 10},
		"up to 1 MiB":           {600 << 10, 300 << 10, 1 << 20},
		"whole MiB above 1 MiB": {1 << 20, 256 << 10, 2 << 20},
		"a quarter more":        {3 << 20, 1, 4 << 20},
		"need decides":          {2 << 20, 3 << 20, 5 << 20},
	}
	for name, tc := range tests {
		dst := make([]byte, tc.have, max(tc.have, 4<<10))
		for i := range dst {
			dst[i] = byte(i)
		}
		got := reserve(dst, tc.add)
		if cap(got)-len(got) < tc.add || len(got) != tc.have || cap(got) != max(tc.want, cap(dst)) {
			t.Errorf("%s: len %d cap %d, want len %d cap %d", name, len(got), cap(got), tc.have, tc.want)
		}
		for i := range got {
			if got[i] != byte(i) {
				t.Fatalf("%s: byte %d not kept", name, i)
			}
		}
	}
}
