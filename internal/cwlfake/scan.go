package cwlfake

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// putInput is a decoded PutLogEvents request.
type putInput struct {
	group, stream string
	ts            []int64
	msgs          []string
	hasGroup      bool
	hasStream     bool
	hasEvents     bool
}

// parsePut decodes a PutLogEvents body with a purpose-built scanner (encoding/json is the bottleneck of
// a loopback benchmark otherwise). It is strict: unknown keys other than sequenceToken and entity, missing
// fields, trailing data and any invalid JSON string are errors. body must be valid UTF-8.
func parsePut(body []byte) (*putInput, error) {
	s := &scanner{b: body}
	in := &putInput{}
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "logGroupName":
			v, err := s.str()
			in.group, in.hasGroup = v, true
			return err
		case "logStreamName":
			v, err := s.str()
			in.stream, in.hasStream = v, true
			return err
		case "logEvents":
			in.hasEvents = true
			return s.array(func() error {
				var ts int64
				var msg string
				var hasTS, hasMsg bool
				err := s.object(func(key []byte) error {
					var err error
					switch string(key) {
					case "timestamp":
						ts, err = s.int64()
						hasTS = true
					case "message":
						msg, err = s.str()
						hasMsg = true
					default:
						return fmt.Errorf("unknown field %q in a log event", key)
					}
					return err
				})
				if err != nil {
					return err
				}
				if !hasTS || !hasMsg {
					return errors.New("log event without timestamp or message")
				}
				in.ts = append(in.ts, ts)
				in.msgs = append(in.msgs, msg)
				return nil
			})
		case "sequenceToken", "entity":
			return s.skip()
		}
		return fmt.Errorf("unknown field %q", key)
	})
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, fmt.Errorf("trailing data at offset %d", s.i)
	}
	return in, nil
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", s.i, fmt.Sprintf(format, args...))
}

func (s *scanner) object(field func(key []byte) error) error {
	if !s.consume('{') {
		return s.errorf("expected an object")
	}
	if s.consume('}') {
		return nil
	}
	for {
		s.ws()
		raw, err := s.rawString()
		if err != nil {
			return err
		}
		if !s.consume(':') {
			return s.errorf("expected ':'")
		}
		s.ws()
		if err := field(raw); err != nil {
			return err
		}
		if s.consume('}') {
			return nil
		}
		if !s.consume(',') {
			return s.errorf("expected ',' or '}'")
		}
	}
}

func (s *scanner) array(elem func() error) error {
	if !s.consume('[') {
		return s.errorf("expected an array")
	}
	if s.consume(']') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if s.consume(']') {
			return nil
		}
		if !s.consume(',') {
			return s.errorf("expected ',' or ']'")
		}
	}
}

// rawString returns the body of the JSON string at the cursor after checking it strictly.
func (s *scanner) rawString() ([]byte, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, s.errorf("expected a string")
	}
	start := s.i
	j := s.i + 1
	for j < len(s.b) && s.b[j] != '"' {
		if s.b[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(s.b) {
		return nil, s.errorf("unterminated string")
	}
	raw := s.b[start : j+1]
	if err := checkJSONString(raw); err != nil {
		return nil, s.errorf("%v", err)
	}
	s.i = j + 1
	return raw[1 : len(raw)-1], nil
}

func (s *scanner) str() (string, error) {
	raw, err := s.rawString()
	if err != nil {
		return "", err
	}
	return unescape(raw), nil
}

func (s *scanner) int64() (int64, error) {
	j := s.i
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(string(s.b[s.i:j]), 10, 64)
	if err != nil {
		return 0, s.errorf("expected an integer")
	}
	s.i = j
	return v, nil
}

// skip skips any JSON value.
func (s *scanner) skip() error {
	s.ws()
	if s.i >= len(s.b) {
		return s.errorf("expected a value")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, err := s.rawString()
		return err
	case c == '{':
		return s.object(func([]byte) error { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '-' || (c >= '0' && c <= '9'):
		j := s.i
		for j < len(s.b) && (s.b[j] == '-' || s.b[j] == '+' || s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E' || (s.b[j] >= '0' && s.b[j] <= '9')) {
			j++
		}
		if _, err := strconv.ParseFloat(string(s.b[s.i:j]), 64); err != nil {
			return s.errorf("invalid number")
		}
		s.i = j
		return nil
	}
	for _, lit := range []string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return nil
		}
	}
	return s.errorf("invalid value")
}

// unescape decodes the body of a JSON string already validated by checkJSONString.
func unescape(raw []byte) string {
	k := 0
	for k < len(raw) && raw[k] != '\\' {
		k++
	}
	if k == len(raw) {
		return string(raw)
	}
	out := make([]byte, k, len(raw))
	copy(out, raw[:k])
	for i := k; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch e := raw[i+1]; e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw[i+2:])
			if r >= 0xD800 && r <= 0xDBFF {
				lo, _ := hex4(raw[i+8:])
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default:
			out = append(out, e)
		}
		i += 2
	}
	return string(out)
}
