package batcher

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// The batcher keeps every message in its wire form: the body of a JSON string (without the quotes) exactly as
// it goes into the PutLogEvents request. The wire form is canonical:
//
//   - valid UTF-8 only; an invalid byte becomes U+FFFD (written raw, 3 bytes), as the SDK's encoder would
//     send it;
//   - no raw control characters, quote or unmatched backslash;
//   - \u escapes of surrogates only as complete pairs (an unpaired one becomes U+FFFD).
//
// Alongside it the batcher knows the message's unescaped UTF-8 length, which is what CloudWatch counts.

const hexDigits = "0123456789abcdef"

// safe[b] is true for ASCII bytes that go on the wire unchanged and mean themselves.
var safe = func() (t [256]bool) {
	for b := 0x20; b < 0x80; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

var replacement = []byte("\uFFFD")

// simpleEscape[c] is true when `\c` is a complete JSON escape standing for one byte.
var simpleEscape = func() (t [256]bool) {
	for _, c := range `"\/bfnrt` {
		t[c] = true
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// badBytes has the high bit set in every byte of x that needs attention (a control character, quote,
// backslash or non-ASCII byte), and possibly in bytes above such a byte (borrows), never in a word without one.
func badBytes(x uint64) uint64 {
	q := x ^ (lsb * '"')
	bs := x ^ (lsb * '\\')
	less := (x - lsb*0x20) & ^x // high bit set in the lowest byte < 0x20 (borrows only cause more hits above it)
	quote := (q - lsb) & ^q     // ... in the lowest byte == '"'
	bslash := (bs - lsb) & ^bs  // ... in the lowest byte == '\\'
	return (less | quote | bslash | x) & msb
}

// plainWord reports whether none of the 8 bytes of x needs attention: no control character, quote,
// backslash or non-ASCII byte.
func plainWord(x uint64) bool { return badBytes(x) == 0 }

// appendWire appends the canonical wire form of msg to dst. escaped says whether msg is already the body of
// a JSON string (escape sequences intact). It returns the extended slice, the unescaped UTF-8 length of the
// message, and plain: whether the appended bytes are the unescaped text itself (no escape sequences).
func appendWire(dst, msg []byte, escaped bool) ([]byte, int, bool) {
	// Fast path: bytes that go on the wire unchanged — printable ASCII, valid multi-byte UTF-8 and, in
	// escaped input, the one-character escapes (two wire bytes for one text byte). Runs of plain bytes are
	// checked 8 bytes at a time, jumping to the first byte that needs attention; UTF-8 is validated once, from the first non-ASCII byte on.
	high := -1
	escapes := 0
	i := 0
	for i < len(msg) {
		if i+8 <= len(msg) {
			m := badBytes(binary.LittleEndian.Uint64(msg[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3 // the lowest flagged byte is always a real one
		}
		c := msg[i]
		switch {
		case safe[c]:
			i++
		case c >= utf8.RuneSelf:
			if high < 0 {
				high = i
			}
			i++
		case c == '\\' && escaped && i+1 < len(msg) && simpleEscape[msg[i+1]]:
			escapes++
			i += 2
		default:
			return appendWireSlow(dst, msg, escaped)
		}
	}
	if high >= 0 && !utf8.Valid(msg[high:]) {
		return appendWireSlow(dst, msg, escaped)
	}
	return append(dst, msg...), len(msg) - escapes, escapes == 0
}

func appendWireSlow(dst, msg []byte, escaped bool) ([]byte, int, bool) {
	ulen := 0
	plain := true
	start := 0 // msg[start:i] is pending verbatim output
	for i := 0; i < len(msg); {
		c := msg[i]
		if safe[c] {
			i++
			ulen++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(msg[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, msg[start:i]...)
				dst = append(dst, replacement...)
				ulen += len(replacement)
				i++
				start = i
				continue
			}
			i += size
			ulen += size
			continue
		}
		dst = append(dst, msg[start:i]...)
		plain = false
		switch {
		case c == '\\' && escaped:
			n, u, out := parseEscape(msg[i:])
			if n == 0 { // not a valid escape: the backslash stands for itself
				dst = append(dst, '\\', '\\')
				ulen++
				i++
			} else {
				if out != nil {
					dst = append(dst, out...)
				} else {
					dst = append(dst, msg[i:i+n]...)
				}
				ulen += u
				i += n
			}
		case c == '\\' || c == '"':
			dst = append(dst, '\\', c)
			ulen++
			i++
		case c == '\n':
			dst = append(dst, '\\', 'n')
			ulen++
			i++
		case c == '\r':
			dst = append(dst, '\\', 'r')
			ulen++
			i++
		case c == '\t':
			dst = append(dst, '\\', 't')
			ulen++
			i++
		default: // other control characters
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			ulen++
			i++
		}
		start = i
	}
	dst = append(dst, msg[start:]...)
	return dst, ulen, plain
}

// parseEscape parses the JSON escape sequence at the start of b (b[0] == '\\'). It returns its length n (0 when
// it is not a valid escape), the UTF-8 length u of what it stands for, and out: a replacement to write instead
// of b[:n] (nil = copy b[:n]).
func parseEscape(b []byte) (n, u int, out []byte) {
	if len(b) < 2 {
		return 0, 0, nil
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, 1, nil
	case 'u':
	default:
		return 0, 0, nil
	}
	r, ok := hex4(b[2:])
	if !ok {
		return 0, 0, nil
	}
	switch {
	case r < 0xD800 || r > 0xDFFF:
		return 6, utf8.RuneLen(r), nil
	case r <= 0xDBFF && len(b) >= 12 && b[6] == '\\' && b[7] == 'u':
		if lo, ok := hex4(b[8:]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
			return 12, 4, nil
		}
	}
	// An unpaired surrogate decodes to U+FFFD.
	return 6, len(replacement), replacement
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// cut returns the longest prefix of the canonical wire bytes w whose unescaped length is at most maxU and that
// ends on a character boundary (never inside a UTF-8 sequence, an escape, or a surrogate pair). It returns the
// prefix's length in w and its unescaped length; (0, 0) when even the first character is longer than maxU.
func cut(w []byte, plain bool, maxU int) (wn, un int) {
	if plain {
		if len(w) <= maxU {
			return len(w), len(w)
		}
		p := maxU
		for p > 0 && !utf8.RuneStart(w[p]) {
			p--
		}
		return p, p
	}
	for wn < len(w) {
		if wn+8 <= len(w) && un+8 <= maxU && plainWord(binary.LittleEndian.Uint64(w[wn:])) {
			wn += 8
			un += 8
			continue
		}
		var n, u int
		c := w[wn]
		switch {
		case c == '\\':
			n, u, _ = parseEscape(w[wn:])
			if n == 0 { // cannot happen on canonical input; treat as one byte
				n, u = 1, 1
			}
		case c < utf8.RuneSelf:
			n, u = 1, 1
		default:
			_, n = utf8.DecodeRune(w[wn:])
			u = n
		}
		if un+u > maxU {
			break
		}
		wn += n
		un += u
	}
	return wn, un
}

// unescapeWire appends the text that canonical wire bytes w stand for.
func unescapeWire(dst, w []byte) []byte {
	for i := 0; i < len(w); {
		c := w[i]
		if c != '\\' {
			j := i + 1
			for j < len(w) && w[j] != '\\' {
				j++
			}
			dst = append(dst, w[i:j]...)
			i = j
			continue
		}
		n, _, _ := parseEscape(w[i:])
		if n == 0 {
			dst = append(dst, c)
			i++
			continue
		}
		switch w[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(w[i+2:])
			if n == 12 {
				lo, _ := hex4(w[i+8:])
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
			} else if r >= 0xD800 && r <= 0xDFFF {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, w[i+1])
		}
		i += n
	}
	return dst
}
