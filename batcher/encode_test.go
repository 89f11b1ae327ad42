package batcher

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkWire asserts the invariants of appendWire's output for msg: a strictly valid JSON string body whose
// decoded text is want, with the unescaped length CloudWatch counts.
func checkWire(t *testing.T, msg []byte, escaped bool, want string) {
	t.Helper()
	wire, ulen, plain := appendWire(nil, msg, escaped)
	quoted := `"` + string(wire) + `"`
	if !utf8.ValidString(quoted) || !json.Valid([]byte(quoted)) {
		t.Fatalf("wire %q is not a valid JSON string", wire)
	}
	var got string
	if err := json.Unmarshal([]byte(quoted), &got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("decoded %q, want %q", got, want)
	}
	if ulen != len(want) {
		t.Fatalf("ulen %d, want %d", ulen, len(want))
	}
	if plain && string(wire) != want {
		t.Fatalf("plain wire %q differs from text %q", wire, want)
	}
	if u := string(unescapeWire(nil, wire)); u != want {
		t.Fatalf("unescapeWire %q, want %q", u, want)
	}
	// Every cut is on a character boundary and the pieces reassemble exactly.
	for maxU := 1; maxU <= len(want)+1; maxU++ {
		var sb strings.Builder
		rest := wire
		for len(rest) > 0 {
			wn, un := cut(rest, plain, maxU)
			if wn == 0 {
				if maxU >= 4 {
					t.Fatalf("cut made no progress with maxU %d on %q", maxU, rest)
				}
				break
			}
			piece := `"` + string(rest[:wn]) + `"`
			var p string
			if !json.Valid([]byte(piece)) || json.Unmarshal([]byte(piece), &p) != nil || !utf8.ValidString(p) {
				t.Fatalf("piece %q is not valid", piece)
			}
			if len(p) != un || un > maxU {
				t.Fatalf("piece %q: unescaped length %d, reported %d, max %d", piece, len(p), un, maxU)
			}
			sb.WriteString(p)
			rest = rest[wn:]
		}
		if len(rest) == 0 && sb.String() != want {
			t.Fatalf("maxU %d: pieces reassemble to %q, want %q", maxU, sb.String(), want)
		}
	}
}

func TestAppendWire(t *testing.T) {
	tests := map[string]struct {
		msg     string
		escaped bool
		want    string
	}{
		"ascii":                          {"hello world", false, "hello world"},
		"multi-byte":                     {"héllo 世界 🎉", false, "héllo 世界 🎉"},
		"invalid byte counts as U+FFFD":  {"a\xffb", false, "a\uFFFDb"},
		"truncated sequence":             {"a\xe4\xb8", false, "a\uFFFD\uFFFD"},
		"raw quote and backslash":        {`a"b\c`, false, `a"b\c`},
		"raw control characters":         {"a\nb\tc\x01\x7f", false, "a\nb\tc\x01\x7f"},
		"escaped simple escapes":         {`a\"b\\c\/d\n\t\r\b\f`, true, "a\"b\\c/d\n\t\r\b\f"},
		"escaped unicode":                {`caf\u00e9 \u4e16`, true, "café 世"},
		"escaped surrogate pair":         {`\ud83c\udf89!`, true, "🎉!"},
		"escaped lone high surrogate":    {`a\ud83cb`, true, "a\uFFFDb"},
		"escaped lone low surrogate":     {`a\udf89b`, true, "a\uFFFDb"},
		"escaped high then non-low":      {`\ud83c\u0041`, true, "\uFFFDA"},
		"invalid escape is a backslash":  {`a\qb`, true, `a\qb`},
		"dangling backslash":             {`ab\`, true, `ab\`},
		"short unicode escape":           {`a\u12`, true, `a\u12`},
		"escaped with raw invalid UTF-8": {"x\\n\xc3", true, "x\n\uFFFD"},
		"escaped with raw control":       {"x\x00y", true, "x\x00y"},
		"escaped with raw quote":         {`x"y`, true, `x"y`},
		"empty":                          {"", false, ""},
		"escaped NUL":                    {`\u0000`, true, "\x00"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checkWire(t, []byte(tc.msg), tc.escaped, tc.want)
		})
	}
}

func FuzzAppendWire(f *testing.F) {
	for _, s := range []string{"", "abc", "é世🎉", "\xff\xfe", `\ud83c\udf89`, `\ud83c`, `a\"b\\`, "\x00\n", `\u00zz`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, msg []byte, escaped bool) {
		if len(msg) > 256 {
			return
		}
		wire, _, _ := appendWire(nil, msg, escaped)
		var want string
		if err := json.Unmarshal([]byte(`"`+string(wire)+`"`), &want); err != nil {
			t.Fatalf("wire %q of %q is not valid JSON: %v", wire, msg, err)
		}
		if !escaped && want != string([]rune(string(msg))) {
			t.Fatalf("raw %q decoded to %q", msg, want)
		}
		checkWire(t, msg, escaped, want)
	})
}

func BenchmarkAppendWire(b *testing.B) {
	msg := []byte(strings.Repeat(`2026-03-01T12:00:00Z INFO request served path=/api/v1/items status=200 dur=3ms `, 4))
	esc := []byte(strings.Repeat(`level=info msg=\"served\" path=/api/v1/items\tstatus=200 `, 4))
	var dst []byte
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			dst, _, _ = appendWire(dst[:0], msg, true)
		}
	})
	b.Run("escaped", func(b *testing.B) {
		b.SetBytes(int64(len(esc)))
		for b.Loop() {
			dst, _, _ = appendWire(dst[:0], esc, true)
		}
	})
}

func TestPlainWord(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	interesting := []byte{0, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7f, 0x80, 0xff, 'a'}
	for range 200000 {
		var w [8]byte
		for i := range w {
			if rng.IntN(2) == 0 {
				w[i] = interesting[rng.IntN(len(interesting))]
			} else {
				w[i] = byte(rng.IntN(256))
			}
		}
		want := true
		for _, c := range w {
			want = want && safe[c]
		}
		if got := plainWord(binary.LittleEndian.Uint64(w[:])); got != want {
			t.Fatalf("plainWord(%q) = %v, want %v", w, got, want)
		}
	}
}

// TestBadBytesLowest checks what appendWire relies on: the lowest byte badBytes flags is the first byte of
// the word that is not safe.
func TestBadBytesLowest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	interesting := []byte{0, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7f, 0x80, 0xff, 'a'}
	for range 200000 {
		var w [8]byte
		for i := range w {
			if rng.IntN(3) == 0 {
				w[i] = interesting[rng.IntN(len(interesting))]
			} else {
				w[i] = byte(0x20 + rng.IntN(0x60))
			}
		}
		first := 8
		for i, c := range w {
			if !safe[c] {
				first = i
				break
			}
		}
		m := badBytes(binary.LittleEndian.Uint64(w[:]))
		if got := bits.TrailingZeros64(m) >> 3; got != first {
			t.Fatalf("badBytes(%q): lowest flagged byte %d, want %d", w, got, first)
		}
	}
}
