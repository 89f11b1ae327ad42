package parser

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// This file holds the hot-path JSON scanner: it walks the members of one top-level object, records where the
// values of the few keys the parser needs lie, and skips everything else without decoding it. It checks the
// top level's syntax (keys, colons, commas, string termination, balanced brackets, nothing after the object)
// but not the inside of the nested values it skips; the values the parser delivers are checked where they are
// used (see validateStringBody, and goccy/go-json's Compact for object and array messages).

func indexBackslash(b []byte) int { return bytes.IndexByte(b, '\\') }

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing the string whose body starts at b[i], or -1.
func stringEnd(b []byte, i int) int {
	start := i
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1
		}
		q += i
		n := 0
		for j := q - 1; j >= start && b[j] == '\\'; j-- {
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

// skipNested skips the object or array at b[i]. Where the value holds no backslash, every quote delimits a
// string, so the parity of the quotes before a bracket tells whether it is inside a string: the scan jumps
// from bracket to bracket (of the value's own kind only; in valid JSON the others nest inside them) and
// counts quotes in between, a few vectorised calls per bracket rather than a few per string. A backslash
// sends it to the exact, string-by-string skip.
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
		if s.nextBackslash(pos) < k {
			return skipNestedExact(b, i)
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

// body classification, see validateStringBody.
const (
	bodyPlain      = iota // no backslash: the body is the text
	bodyEscapes           // has valid escapes
	bodyInvalid           // raw control character or invalid escape: not JSON
	bodyInvalidUTF        // valid JSON escapes but the text is not valid UTF-8
)

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// validateStringBody classifies a JSON string body. Eight bytes at a time it looks for the bytes that need
// attention (control characters, backslash, non-ASCII); most bodies have none or few.
func validateStringBody(s []byte) int {
	res := bodyPlain
	i := 0
	for {
		for i+8 <= len(s) {
			x := binary.LittleEndian.Uint64(s[i:])
			// a byte < 0x20, a byte >= 0x80, or a backslash (0x5c)
			ctl := (x - 0x20*lo8) & ^x & hi8
			bs := x ^ (0x5c * lo8)
			bsz := (bs - lo8) & ^bs & hi8
			if ctl|bsz|(x&hi8) != 0 {
				break
			}
			i += 8
		}
		if i >= len(s) {
			return res
		}
		c := s[i]
		switch {
		case c < 0x20:
			return bodyInvalid
		case c == '\\':
			// A lone surrogate (\ud800) is valid JSON; it decodes to U+FFFD like encoding/json does.
			n, ok := escapeLen(s[i:])
			if !ok {
				return bodyInvalid
			}
			res = max(res, bodyEscapes)
			i += n
		case c >= 0x80:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size <= 1 {
				// keep checking escapes: an invalid escape later makes the whole body invalid JSON
				res = bodyInvalidUTF
			}
			i += size
		default:
			i++
		}
	}
}

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
