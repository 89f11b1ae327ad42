package parser

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// TimestampSource names the rule that produced an event's timestamp.
type TimestampSource uint8

// The timestamp rules, in the order they are tried (see the package documentation).
const (
	SourceFallback       TimestampSource = iota // the fallback passed to NewReader (the object's LastModified)
	SourceVector                                // Vector's own `timestamp` field
	SourceMessageJSON                           // a field of a JSON message (ts, time, timestamp, ...)
	SourceMessageISO8601                        // a leading ISO-8601 / RFC 3339 timestamp in a text message
	SourceMessageLogfmt                         // logfmt time="..." or ts=... in a text message
	SourceMessageKlog                           // a klog header (I0830 11:27:01.564974)
	SourceMessageGolog                          // Go's log package prefix (2025/08/30 10:33:20)
	SourceMessageSyslog                         // a syslog (RFC 3164) prefix (Aug 30 10:33:20)
	// NumSources is the number of rules; Stats.BySource is indexed by TimestampSource.
	NumSources
)

var sourceNames = [NumSources]string{
	SourceFallback:       "fallback",
	SourceVector:         "vector",
	SourceMessageJSON:    "message_json",
	SourceMessageISO8601: "message_iso8601",
	SourceMessageLogfmt:  "message_logfmt",
	SourceMessageKlog:    "message_klog",
	SourceMessageGolog:   "message_golog",
	SourceMessageSyslog:  "message_syslog",
}

// String returns the rule's stable snake_case name, e.g. "message_json"; these names are used in metrics
// labels and in `logrouter inspect` output.
func (s TimestampSource) String() string {
	if s < NumSources {
		return sourceNames[s]
	}
	return "unknown"
}

// Event is one log event read from a Vector object.
type Event struct {
	Timestamp int64           // Unix milliseconds
	Source    TimestampSource // which rule produced Timestamp
	// Message: when Escaped is true, the JSON string body exactly as it appeared in the input line (escape
	// sequences intact, without the surrounding quotes); otherwise the message's raw bytes.
	//
	// When the Reader sets Escaped, the body is guaranteed to be valid JSON string content (valid escapes, no
	// raw control characters) encoding valid UTF-8, so it can be written between two quotes into a JSON
	// document as is. A message whose text is not valid UTF-8 is delivered unescaped (Escaped false).
	Message []byte
	Escaped bool
	// TextLen is, when Escaped is true, the length in bytes of the message's text (escape sequences
	// resolved, lone surrogates as U+FFFD), which the Reader has counted while validating it; 0 otherwise.
	// Without escape sequences it equals len(Message).
	TextLen int
	// UnicodeEscapes tells that an Escaped message holds at least one \uXXXX escape sequence; when it is
	// false, every escape sequence in Message is one of the two-byte ones (\", \\, \/, \b, \f, \n, \r, \t).
	UnicodeEscapes bool
	// Vector metadata fields (unescaped); nil when the record does not have them.
	ClusterID, Namespace, Application, PodName []byte
	// Line is the 1-based number of the line of the uncompressed stream this event came from (every line
	// counts, blank ones included). A line holding a JSON array yields several events with the same Line.
	Line int64
}

// ErrInvalidEscape is returned by AppendMessage when an escaped message is not valid JSON string content.
var ErrInvalidEscape = errors.New("parser: invalid JSON string escape")

// AppendMessage appends the message's text (unescaped when Escaped) to dst.
func (e *Event) AppendMessage(dst []byte) ([]byte, error) {
	if !e.Escaped {
		return append(dst, e.Message...), nil
	}
	return appendUnescaped(dst, e.Message)
}

// appendUnescaped appends the text of the JSON string body s to dst. Lone surrogates become U+FFFD, as
// encoding/json does.
func appendUnescaped(dst, s []byte) ([]byte, error) {
	for {
		i := indexBackslash(s)
		if i < 0 {
			return append(dst, s...), nil
		}
		dst = append(dst, s[:i]...)
		s = s[i:]
		if len(s) < 2 {
			return dst, ErrInvalidEscape
		}
		switch s[1] {
		case '"', '\\', '/':
			dst = append(dst, s[1])
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
			r, ok := hex4(s[2:])
			if !ok {
				return dst, ErrInvalidEscape
			}
			n := 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
					r2, _ = hex4(s[8:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r, n = d, 12
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			s = s[n:]
			continue
		default:
			return dst, ErrInvalidEscape
		}
		s = s[2:]
	}
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
