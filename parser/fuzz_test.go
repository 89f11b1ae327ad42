package parser

import (
	"bytes"
	stdjson "encoding/json"
	"io"
	"testing"
	"unicode/utf8"
)

// FuzzReader checks that the Reader never panics, never loses a non-blank line, delivers what encoding/json
// reads as the message, keeps its Escaped guarantee, and yields the same events however the input is chunked,
// pipelined or compressed.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		`{"message":"hello","timestamp":"2025-08-30T10:00:00Z"}` + "\n",
		`{"kubernetes":{"a":"}{","b":[1,{"c":"]"}]},"message":"x\"y\\u00e9"}` + "\n",
		`{"kubernetes":{"a":"}"},"message":"1"}` + "\n" + `{"kubernetes":{"a":"}"}},"message":"2"}` + "\n" +
			`{"kubernetes":{"a":"}"},"message":"3","x":{"a":"}"}}` + "\n" + `{"x":{"a":"}"`,
		`[{"message":"a"},"b",3,[]]` + "\n[]\n",
		"plain text\r\n\n  \nI0830 10:00:01.000000 1 x.go:1] klog\n",
		`{"message":{"ts":1756548001}}` + "\n" + `{"level":"info","timestamp":"x"}`,
		`{"message":"{\"time\":\"2025-08-30T10:00:01+05:30\"}"}`,
		"{\"message\":\"a\xffb\"}\n{\"message\":\"\x01\"}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := func(o *Options) { o.MaxLineBytes = 1 << 20 }
		r := NewReader(bytes.NewReader(data), fallback, opts)
		recs, err := readAll(t, r)
		r.Close()
		isGzip := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
		if isGzip {
			return // a random gzip stream: not panicking is all that is asked
		}
		if err != nil {
			t.Fatalf("uncompressed input: %v", err)
		}
		st := r.Stats()
		if st.Events != int64(len(recs)) {
			t.Fatalf("Stats.Events %d, got %d events", st.Events, len(recs))
		}

		// every non-blank line yields events, in order
		lines := bytes.Split(data, []byte("\n"))
		if len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		if st.Lines != int64(len(lines)) {
			t.Fatalf("Stats.Lines %d, want %d", st.Lines, len(lines))
		}
		byLine := map[int64][]record{}
		var prev int64
		for _, rec := range recs {
			if rec.Line < prev {
				t.Fatalf("line %d after line %d", rec.Line, prev)
			}
			prev = rec.Line
			byLine[rec.Line] = append(byLine[rec.Line], rec)
		}
		for i, line := range lines {
			line = bytes.TrimSuffix(line, []byte("\r"))
			got := byLine[int64(i+1)]
			if isBlank(line) {
				if len(got) != 0 {
					t.Fatalf("blank line %d yielded events", i+1)
				}
				continue
			}
			trimmed := line[skipWS(line, 0):]
			if len(got) == 0 {
				if !(len(trimmed) > 0 && trimmed[0] == '[' && stdjson.Valid(line) && isEmptyArray(line)) {
					t.Fatalf("line %d %q lost", i+1, line)
				}
				continue
			}
			if !stdjson.Valid(line) && (trimmed[0] != '{' || len(got) != 1 || got[0].Message != string(line)) {
				// an object line is scanned leniently inside nested values it skips; any other invalid
				// line must be its raw text
				if trimmed[0] != '{' && (len(got) != 1 || got[0].Message != string(line) || got[0].Escaped) {
					t.Fatalf("invalid line %d %q: got %+v", i+1, line, got)
				}
			}
			if stdjson.Valid(line) && utf8.Valid(line) && trimmed[0] == '{' {
				var m map[string]stdjson.RawMessage
				if stdjson.Unmarshal(line, &m) == nil {
					var s string
					if raw, ok := m["message"]; ok && stdjson.Unmarshal(raw, &s) == nil {
						if len(got) != 1 || got[0].Message != s {
							t.Fatalf("line %d %q: message %q, got %+v", i+1, line, s, got)
						}
					}
				}
			}
		}

		// Escaped bodies can be spliced into JSON as they are
		r = NewReader(bytes.NewReader(data), fallback, opts)
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Escaped {
				q := append(append([]byte{'"'}, ev.Message...), '"')
				if !stdjson.Valid(q) || !utf8.Valid(ev.Message) {
					t.Fatalf("escaped message %q is not a valid JSON string body", ev.Message)
				}
				text, err := ev.AppendMessage(nil)
				if err != nil || ev.TextLen != len(text) {
					t.Fatalf("escaped message %q: TextLen %d, text %q (%v)", ev.Message, ev.TextLen, text, err)
				}
				if ev.UnicodeEscapes != bytes.Contains(ev.Message, []byte(`\u`)) && !bytes.Contains(ev.Message, []byte(`\\`)) {
					t.Fatalf("escaped message %q: UnicodeEscapes %v", ev.Message, ev.UnicodeEscapes)
				}
			} else if ev.TextLen != 0 || ev.UnicodeEscapes {
				t.Fatalf("unescaped message %q: TextLen %d, UnicodeEscapes %v", ev.Message, ev.TextLen, ev.UnicodeEscapes)
			}
		}

		// the same events, however the input arrives
		variants := map[string]func() *Reader{
			"pipelined, 5-byte chunks": func() *Reader {
				return NewReader(bytes.NewReader(data), fallback, opts, func(o *Options) { o.Pipeline, o.ChunkBytes = true, 5 })
			},
			"gzip, 3-byte chunks": func() *Reader {
				return NewReader(bytes.NewReader(gz(t, data)), fallback, opts, func(o *Options) { o.ChunkBytes = 3 })
			},
			"no skip cache": func() *Reader {
				r := NewReader(bytes.NewReader(data), fallback, opts)
				r.skips.min = 0
				return r
			},
			"skip cache for every nested value": func() *Reader {
				r := NewReader(bytes.NewReader(data), fallback, opts)
				r.skips.min = 1
				return r
			},
		}
		for name, mk := range variants {
			r := mk()
			other, err := readAll(t, r)
			r.Close()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(other) != len(recs) {
				t.Fatalf("%s: %d events, want %d", name, len(other), len(recs))
			}
			for i := range recs {
				if other[i] != recs[i] {
					t.Fatalf("%s: event %d = %+v, want %+v", name, i, other[i], recs[i])
				}
			}
		}
	})
}

func isEmptyArray(line []byte) bool {
	var a []stdjson.RawMessage
	return stdjson.Unmarshal(line, &a) == nil && len(a) == 0
}
