package parser

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// This file holds the hot-path JSON scanner: it walks the members of one top-level object, records where the
// values of the few keys the parser needs lie, and skips everything else without decoding it. It checks the
// top level's syntax (keys, colons, commas, string termination, balanced brackets, nothing after the object)
// but not the inside of the nested values it skips; the values the parser delivers are checked where they are
// used (see scanStringBody, and goccy/go-json's Compact for object and array messages).

func indexBackslash(b []byte) int { return bytes.IndexByte(b, '\\') }

// reserve returns dst with room for n more bytes. When it has to grow, its capacity becomes the next power
// of two (at least minReserve) up to 1 MiB, then a whole number of MiB at least a quarter larger: a long line
// or message grows its buffer through a few sizes, which later lines reuse, instead of append's ~1.25x steps,
// each a differently sized allocation that the Go heap keeps resident once freed (peak RSS grew with the
// number of long lines in an object); whole MiB waste less than powers of two for multi-MiB lines.
func reserve(dst []byte, n int) []byte {
	if len(dst)+n <= cap(dst) {
		return dst
	}
	return grow(dst, len(dst)+n)
}

func grow(dst []byte, need int) []byte {
	size := max(minReserve, 1<<bits.Len(uint(need-1)))
	if size > growStep {
		size = (max(need, cap(dst)+cap(dst)/4) + growStep - 1) / growStep * growStep
	}
	grown := make([]byte, len(dst), size)
	copy(grown, dst)
	return grown
}

const (
	minReserve = 4 << 10
	growStep   = 1 << 20
)

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing the string whose body starts at b[i], or -1. It jumps
// from quote to quote, and a quote is escaped when an odd run of backslashes precedes it.
func stringEnd(b []byte, i int) int {
	start := i
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1
		}
		q += i
		if q == start || b[q-1] != '\\' {
			return q
		}
		n := 1
		for j := q - 2; j >= start && b[j] == '\\'; j-- {
			n++
		}
		if n&1 == 0 {
			return q
		}
		i = q + 1
	}
}

// scanner skips JSON values in one buffer. It remembers where the next backslash is so that the bracket
// jumping in skipNested knows, without rescanning, whether quote counting is exact.
type scanner struct {
	b  []byte
	bs int // index of the first backslash at or after bsFrom; len(b) if none
	// bsFrom is the position bs was computed from; bs is valid for any position in [bsFrom, bs].
	bsFrom int
}

func (s *scanner) reset(b []byte) {
	s.b = b
	s.bs = -1
	s.bsFrom = 0
}

// nextBackslash returns the index of the first backslash at or after pos (len(b) if none).
func (s *scanner) nextBackslash(pos int) int {
	if s.bs >= pos && s.bsFrom <= pos {
		return s.bs
	}
	i := bytes.IndexByte(s.b[pos:], '\\')
	if i < 0 {
		s.bs = len(s.b)
	} else {
		s.bs = pos + i
	}
	s.bsFrom = pos
	return s.bs
}

// skipValue returns the index just past the JSON value starting at b[i] (i is not whitespace), or -1.
func (s *scanner) skipValue(i int) int {
	b := s.b
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		e := stringEnd(b, i+1)
		if e < 0 {
			return -1
		}
		return e + 1
	case '{':
		return s.skipNested(i, '{', '}')
	case '[':
		return s.skipNested(i, '[', ']')
	}
	return skipLiteral(b, i)
}

// skipLiteral skips a number, true, false or null.
func skipLiteral(b []byte, i int) int {
	switch b[i] {
	case 't':
		if bytes.HasPrefix(b[i:], []byte("true")) {
			return i + 4
		}
		return -1
	case 'f':
		if bytes.HasPrefix(b[i:], []byte("false")) {
			return i + 5
		}
		return -1
	case 'n':
		if bytes.HasPrefix(b[i:], []byte("null")) {
			return i + 4
		}
		return -1
	}
	j := i
	if b[j] == '-' {
		j++
	}
	start := j
	for j < len(b) {
		c := b[j]
		if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			j++
			continue
		}
		break
	}
	if j == start || b[start] < '0' || b[start] > '9' {
		return -1
	}
	return j
}

// skipNested skips the object or array at b[i]. Where a stretch holds no backslash, every quote delimits a
// string, so the parity of the quotes before a bracket tells whether it is inside a string: the scan jumps
// from bracket to bracket (of the value's own kind only; in valid JSON the others nest inside them) and
// counts quotes in between, a few vectorised calls per bracket rather than a few per string. A string holding
// a backslash is skipped exactly, and the jumping resumes after it.
func (s *scanner) skipNested(i int, open, close byte) int {
	b := s.b
	pos, depth, inStr := i+1, 1, false
	nextOpen, nextClose := -1, -1
	for {
		if nextOpen < pos {
			if o := bytes.IndexByte(b[pos:], open); o >= 0 {
				nextOpen = pos + o
			} else {
				nextOpen = len(b)
			}
		}
		if nextClose < pos {
			c := bytes.IndexByte(b[pos:], close)
			if c < 0 {
				return -1
			}
			nextClose = pos + c
		}
		k := min(nextOpen, nextClose)
		if bs := s.nextBackslash(pos); bs < k {
			// no bracket of ours lies in b[pos:bs]; the backslash must be inside a string
			if bytes.Count(b[pos:bs], quote)&1 == 1 {
				inStr = !inStr
			}
			if !inStr {
				return skipNestedExact(b, i) // not valid JSON; let the exact skip decide
			}
			e := stringEnd(b, bs)
			if e < 0 {
				return -1
			}
			pos, inStr = e+1, false
			continue
		}
		if bytes.Count(b[pos:k], quote)&1 == 1 {
			inStr = !inStr
		}
		if !inStr {
			if k == nextOpen {
				depth++
			} else {
				depth--
				if depth == 0 {
					return k + 1
				}
			}
		}
		pos = k + 1
	}
}

var quote = []byte{'"'}

// skipNestedExact skips the object or array at b[i], string by string.
func skipNestedExact(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			e := stringEnd(b, j+1)
			if e < 0 {
				return -1
			}
			j = e
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}

// member is one member of a JSON object: b[k0:k1] is the key's body (without quotes), b[v0:v1] the value.
type member struct {
	k0, k1, v0, v1 int
	keyEscaped     bool
}

// forEachMember calls fn for each member of the object at b[i] (b[i] == '{') and returns the index just past
// the object, or -1 when the object's top level is not well formed. fn returning false stops the walk early
// (the result is then -2).
func (s *scanner) forEachMember(i int, fn func(m member) bool) int {
	b := s.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return -1
		}
		ke := stringEnd(b, i+1)
		if ke < 0 {
			return -1
		}
		m := member{k0: i + 1, k1: ke}
		m.keyEscaped = bytes.IndexByte(b[m.k0:m.k1], '\\') >= 0
		i = skipWS(b, ke+1)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		i = skipWS(b, i+1)
		e := s.skipValue(i)
		if e < 0 {
			return -1
		}
		m.v0, m.v1 = i, e
		if !fn(m) {
			return -2
		}
		i = skipWS(b, e)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1
		default:
			return -1
		}
	}
}

// How scanStringBody classifies a JSON string body.
const (
	bodyPlain      = iota // no backslash: the body is the text
	bodyEscapes           // has valid two-character escapes (\n, \", ...) and no \u escape
	bodyUEscapes          // has valid escapes, at least one of them \uXXXX
	bodyInvalid           // raw control character or invalid escape: not JSON
	bodyInvalidUTF        // valid JSON escapes but the text is not valid UTF-8
)

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// special8 flags, in each byte of x, a quote, a backslash and (when strict) a control character or a
// non-ASCII byte. The lowest flagged byte is always a real one (false positives only appear above it).
func special8(x uint64, strict bool) uint64 {
	q := x ^ (0x22 * lo8)
	bs := x ^ (0x5c * lo8)
	m := ((q - lo8) &^ q) | ((bs - lo8) &^ bs)
	if strict {
		m |= ((x - 0x20*lo8) &^ x) | x
	}
	return m & hi8
}

// scanStringBody finds the quote closing the string whose body starts at b[i] and classifies the body in
// the same pass. When the body has escapes, its unescaped text is appended to dst
// and returned as text; otherwise text is the body itself. end is -1 when the string is not terminated.
//
// A body without a backslash is only scanned. From the first two-character escape on, the scan copies as it
// goes: each 8-byte word is stored to the output whole and the output advances past its ordinary bytes, so
// the stretches between escapes cost no call (JSON messages carry an escaped quote every few bytes).
func scanStringBody(b []byte, i int, dst []byte) (end, class int, text []byte) {
	start, dst0 := i, len(dst)
	i, class = toQuoteOrEscape(b, i, bodyPlain)
	switch {
	case i < 0:
		return -1, bodyInvalid, nil
	case b[i] == '"':
		if class == bodyPlain {
			return i, class, b[start:i]
		}
		return i, class, append(reserve(dst, i-start), b[start:i]...) // invalid UTF-8: the caller owns text
	case i+1 < len(b) && unescapeByte[b[i+1]] != 0:
		// The text differs from the body from here on: copy what precedes and go on copying.
		out := reserve(dst, len(b)-start+8)
		w := len(out) + copy(out[len(out):cap(out)], b[start:i])
		return scanEscaped(b, i, start, out[:cap(out)], dst0, w, class)
	}
	// A \u escape first: surrogate pairs make the text's length unknown until the end.
	return scanSlow(b, i, start, dst, dst0, class)
}

// toQuoteOrEscape returns the index of the first quote or backslash at or after b[i], and class updated with
// what the bytes before it hold (bodyInvalidUTF for invalid UTF-8); the index is -1 when a raw control
// character or the end of b comes first.
func toQuoteOrEscape(b []byte, i, class int) (int, int) {
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
			return -1, class
		}
		switch c := b[i]; {
		case c == '"' || c == '\\':
			return i, class
		case c < 0x20:
			return -1, class
		case c >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				class = bodyInvalidUTF
			}
			i += size
		default:
			i++ // the last bytes, fewer than a word
		}
	}
}

// scanEscaped goes on with scanStringBody from the two-character escape at b[i], writing the text to
// out[w:] (out spans its whole capacity, at least 8 bytes more than the rest of b). out[:dst0] is the
// caller's dst.
func scanEscaped(b []byte, i, start int, out []byte, dst0, w, class int) (int, int, []byte) {
	class = max(class, bodyEscapes)
	for {
		// b[i] is special; w is where its text goes.
		c := b[i]
		switch {
		case c == '"':
			return i, class, out[:w]
		case c == '\\':
			if i+1 < len(b) && unescapeByte[b[i+1]] != 0 {
				out[w] = unescapeByte[b[i+1]]
				w++
				i += 2
			} else {
				return scanSlow(b, i, start, out[:dst0], dst0, class)
			}
		case c < 0x20:
			return -1, bodyInvalid, nil
		case c >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				class = bodyInvalidUTF
			}
			w += copy(out[w:], b[i:i+size])
			i += size
		default:
			out[w] = c // a false positive of the word check
			w++
			i++
		}
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			binary.LittleEndian.PutUint64(out[w:], x)
			m := special8(x, true)
			if m != 0 {
				k := bits.TrailingZeros64(m) >> 3
				i += k
				w += k
				break
			}
			i += 8
			w += 8
		}
		if i+8 > len(b) {
			// Fewer than 8 bytes left: go byte by byte to the next special one.
			for i < len(b) && !specialByte(b[i]) {
				out[w] = b[i]
				w++
				i++
			}
			if i >= len(b) {
				return -1, bodyInvalid, nil
			}
		}
	}
}

// specialByte is special8 for one byte.
func specialByte(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }

// scanSlow finishes scanStringBody from a backslash at b[i] that is not a two-character escape (a \u escape,
// or not valid): it validates the rest of the body and then unescapes the whole body b[start:end] into
// dst[:dst0], surrogate pairs included.
func scanSlow(b []byte, i, start int, dst []byte, dst0, class int) (int, int, []byte) {
	for ; i >= 0; i, class = toQuoteOrEscape(b, i, class) {
		if b[i] == '"' {
			dst, _ = appendUnescaped(reserve(dst[:dst0], i-start), b[start:i])
			return i, class, dst
		}
		n, ok := escapeLen(b[i:])
		if !ok {
			return -1, bodyInvalid, nil
		}
		if b[i+1] == 'u' {
			class = max(class, bodyUEscapes)
		} else {
			class = max(class, bodyEscapes)
		}
		i += n
	}
	return -1, bodyInvalid, nil
}

// unescapeByte maps the character after a backslash to the byte it stands for (escapes other than \u).
var unescapeByte = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escapeLen returns the length of the escape sequence at s[0] == '\\'.
func escapeLen(s []byte) (int, bool) {
	if len(s) < 2 {
		return 0, false
	}
	switch s[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		if _, ok := hex4(s[2:]); ok {
			return 6, true
		}
	}
	return 0, false
}

// The nested values a record skips are mostly the same from line to line: Vector repeats a container's
// `kubernetes` metadata, ~70% of a line, on every line it collects from that container, and an object holds a
// pod's few containers. skipCache remembers the last few distinct nested values skipped; a value whose bytes
// equal a remembered one ends where that one did (skipping reads nothing past the value's closing bracket),
// so one memory comparison replaces the walk over its strings.
const (
	skipCacheEntries = 4
	// defaultSkipCacheMin is the shortest value worth remembering: shorter ones are cheap to walk.
	defaultSkipCacheMin = 128
	// skipCacheMax bounds the memory the cache holds: longer values are walked every time.
	skipCacheMax = 64 << 10
)

type skipCache struct {
	vals [skipCacheEntries][]byte // most recently used first
	min  int                      // values shorter than min are not remembered; 0 disables the cache
}

// lookup returns the index just past the remembered value that b[i:] starts with, or -1.
func (c *skipCache) lookup(b []byte, i int) int {
	rest := b[i:]
	for k := range c.vals {
		v := c.vals[k]
		if len(v) == 0 {
			break
		}
		if len(v) <= len(rest) && rest[len(v)-1] == v[len(v)-1] && bytes.Equal(rest[:len(v)], v) {
			if k > 0 {
				copy(c.vals[1:k+1], c.vals[:k])
				c.vals[0] = v
			}
			return i + len(v)
		}
	}
	return -1
}

// add remembers v, forgetting the least recently used value.
func (c *skipCache) add(v []byte) {
	if len(v) < c.min || len(v) > skipCacheMax {
		return
	}
	last := c.vals[skipCacheEntries-1]
	copy(c.vals[1:], c.vals[:skipCacheEntries-1])
	c.vals[0] = append(last[:0], v...)
}
