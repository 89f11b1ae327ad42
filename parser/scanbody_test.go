package parser

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanStringBodyRef is the straightforward version of scanStringBody (append per escape), kept as its oracle.
func scanStringBodyRef(b []byte, i int, dst []byte) (end, class int, text []byte) {
	start, flushed, dst0 := i, i, len(dst)
	class = bodyPlain
	slowUnescape := false
	for {
		for i+8 <= len(b) {
			m := special8(binary.LittleEndian.Uint64(b[i:]), true)
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1, bodyInvalid, nil
		}
		c := b[i]
		switch {
		case c == '"':
			if class == bodyPlain {
				return i, class, b[start:i]
			}
			if slowUnescape {
				// what was unescaped before the first \u is unescaped again with the rest
				dst, _ = appendUnescaped(reserve(dst[:dst0], i-start), b[start:i])
				return i, class, dst
			}
			return i, class, append(reserve(dst, i-flushed), b[flushed:i]...)
		case c == '\\':
			n := 2
			if i+1 >= len(b) || unescapeByte[b[i+1]] == 0 {
				var ok bool
				if n, ok = escapeLen(b[i:]); !ok {
					return -1, bodyInvalid, nil
				}
			}
			class = max(class, bodyEscapes)
			if !slowUnescape {
				if b[i+1] == 'u' {
					class = max(class, bodyUEscapes)
					slowUnescape = true // surrogate pairs: unescape the whole body at the end
				} else {
					dst = append(reserve(dst, i-flushed+1), b[flushed:i]...)
					dst = append(dst, unescapeByte[b[i+1]])
					flushed = i + 2
				}
			}
			i += n
		case c < 0x20:
			return -1, bodyInvalid, nil
		case c >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				class = bodyInvalidUTF
			}
			i += size
		default:
			i++ // a false positive of the word check
		}
	}
}

// checkScanBody compares scanStringBody with its oracle on the string body at b[i:], with an empty and a
// non-empty dst.
func checkScanBody(t *testing.T, b []byte, i int) {
	t.Helper()
	for _, prefix := range []string{"", "pre"} {
		dst := append(make([]byte, 0, 4), prefix...)
		wantEnd, wantClass, wantText := scanStringBodyRef(b, i, append([]byte(nil), dst...))
		end, class, text := scanStringBody(b, i, dst)
		if end != wantEnd || class != wantClass || (wantEnd >= 0 && wantClass != bodyInvalid && !bytes.Equal(text, wantText)) {
			t.Fatalf("scanStringBody(%q, %d, %q) = %d, %d, %q; want %d, %d, %q", b, i, prefix, end, class, text, wantEnd, wantClass, wantText)
		}
	}
}

func TestScanStringBodyMatchesOracle(t *testing.T) {
	bodies := []string{
		``, `plain`, `a\"b`, `\"`, `\\`, `ab\ncd\tef\"gh\\ij\/kl\bm\fn\ro`,
		strings.Repeat(`{\"ts\":1733,\"msg\":\"x\"}`, 9), strings.Repeat(`x`, 7) + `\"` + strings.Repeat(`y`, 17),
		`caf\u00e9`, `a\"b\u00e9c\"d`, `\ud83d\ude00 and \"q\"`, `\ud83d lone`, `x\"y\ud800`,
		"h\xc3\xa9llo\\\"w\xc3\xb6rld", "bad\xff\\n", "\\nbad\xffutf", "\xe2\x82\xac\\t\xe2\x82\xac",
		`bad\x`, `bad\u12`, `tab` + "\t" + `raw`, `a\"b` + "\x01", strings.Repeat(`\\`, 40),
		strings.Repeat("ab\\\"cd", 50) + "\\u0041" + strings.Repeat("é\\n", 30),
	}
	for _, body := range bodies {
		for _, tail := range []string{`"`, `"}`, `", "next": 1}` + strings.Repeat(" ", 20), ``} {
			for _, lead := range []string{`"`, `{"message":"`} {
				b := []byte(lead + body + tail)
				checkScanBody(t, b, len(lead))
			}
		}
	}
}

func FuzzScanStringBody(f *testing.F) {
	for _, s := range []string{`a\"b"`, `\u00e9\"x"`, "\\n\xff\"", `x\ud83d\ude00"`, `plain" , "k":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkScanBody(t, b, 0)
		if len(b) > 1 {
			checkScanBody(t, b, 1)
		}
	})
}
