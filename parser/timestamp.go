package parser

import (
	"bytes"
	"math"
	"strconv"
)

const (
	msPerDay = 86_400_000
	// maxMs is 9999-12-31T23:59:59.999Z; later instants are not taken as timestamps.
	maxMs = 253_402_300_799_999
	// minUnixSeconds: numbers below 1e9 seconds (before 2001-09-09) are more likely durations or counters than
	// Unix times and do not match.
	minUnixSeconds = 1_000_000_000
)

// daysFromCivil returns the number of days from 1970-01-01 to y-m-d (proleptic Gregorian).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// yearOf returns the UTC year of the Unix millisecond ms.
func yearOf(ms int64) int {
	days := ms / msPerDay
	if ms%msPerDay < 0 {
		days--
	}
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	if mp >= 10 { // January or February belong to the next civil year
		y++
	}
	return int(y)
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	if m == 2 && isLeap(y) {
		return d <= 29
	}
	return d <= monthDays[m]
}

// validTime accepts 23:59:60 (a leap second; it counts as the next second).
func validTime(h, mi, s int) bool {
	return h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 60
}

func toMs(y, mo, d, h, mi, s, ms int) int64 {
	return daysFromCivil(y, mo, d)*msPerDay + int64(h)*3_600_000 + int64(mi)*60_000 + int64(s)*1000 + int64(ms)
}

func digit(c byte) int {
	if c >= '0' && c <= '9' {
		return int(c - '0')
	}
	return -1000
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// num2 parses two digits at b[i:]; negative when they are not digits.
func num2(b []byte, i int) int { return digit(b[i])*10 + digit(b[i+1]) }

func num4(b []byte, i int) int {
	return digit(b[i])*1000 + digit(b[i+1])*100 + digit(b[i+2])*10 + digit(b[i+3])
}

// fraction parses `.ddd` (or `,ddd` when comma is true) at b[i:]: 1 to 9 digits. It returns the milliseconds
// (truncated), the index past the digits, and false when there is a separator without 1-9 digits after it.
func fraction(b []byte, i int, comma bool) (ms, end int, ok bool) {
	if i >= len(b) || !(b[i] == '.' || (comma && b[i] == ',')) {
		return 0, i, true
	}
	j := i + 1
	for j < len(b) && isDigit(b[j]) {
		if j-i <= 3 {
			ms = ms*10 + int(b[j]-'0')
		}
		j++
	}
	n := j - i - 1
	if n < 1 || n > 9 {
		return 0, i, false
	}
	for k := n; k < 3; k++ {
		ms *= 10
	}
	return ms, j, true
}

// parseISO parses an ISO-8601 / RFC 3339 date-time at the start of b: YYYY-MM-DD, then T, t or a space,
// hh:mm:ss, an optional fraction of 1-9 digits (`.` or `,`), and an optional zone: Z, z, ±hh:mm, ±hhmm or
// ±hh (no zone means UTC). It returns the Unix milliseconds and the length parsed.
func parseISO(b []byte) (int64, int, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return 0, 0, false
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return 0, 0, false
	}
	y, mo, d := num4(b, 0), num2(b, 5), num2(b, 8)
	h, mi, s := num2(b, 11), num2(b, 14), num2(b, 17)
	if y < 0 || !validDate(y, mo, d) || !validTime(h, mi, s) {
		return 0, 0, false
	}
	frac, i, ok := fraction(b, 19, true)
	if !ok {
		return 0, 0, false
	}
	ms := toMs(y, mo, d, h, mi, s, frac)
	if i < len(b) {
		switch c := b[i]; c {
		case 'Z', 'z':
			i++
		case '+', '-':
			off, n, ok := zoneOffset(b[i+1:])
			if !ok {
				return 0, 0, false
			}
			if c == '+' {
				ms -= off
			} else {
				ms += off
			}
			i += 1 + n
		}
	}
	return ms, i, true
}

// zoneOffset parses hh:mm, hhmm or hh and returns it in milliseconds.
func zoneOffset(b []byte) (int64, int, bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	h, m, n := num2(b, 0), 0, 2
	switch {
	case len(b) >= 5 && b[2] == ':':
		m, n = num2(b, 3), 5
	case len(b) >= 4 && isDigit(b[2]) && isDigit(b[3]):
		m, n = num2(b, 2), 4
	}
	if h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return int64(h)*3_600_000 + int64(m)*60_000, n, true
}

// parseUnix parses a whole non-negative decimal number (optionally with a fraction and exponent) as a Unix
// time whose unit is decided by magnitude: below 1e11 seconds, below 1e14 milliseconds, below 1e17
// microseconds, otherwise nanoseconds. Values before 2001-09-09 or after 9999 do not match.
func parseUnix(b []byte) (int64, bool) {
	var ip uint64
	i := 0
	for i < len(b) && isDigit(b[i]) {
		if i >= 19 {
			return 0, false
		}
		ip = ip*10 + uint64(b[i]-'0')
		i++
	}
	if i == 0 {
		return 0, false
	}
	fracMs, j, ok := fraction(b, i, false)
	if !ok {
		// more than 9 fraction digits, or an exponent: decide on the float value
		return parseUnixFloat(b)
	}
	if j != len(b) {
		if b[j] == 'e' || b[j] == 'E' {
			return parseUnixFloat(b)
		}
		return 0, false
	}
	var ms int64
	switch {
	case ip < minUnixSeconds:
		return 0, false
	case ip < 1e11:
		ms = int64(ip)*1000 + int64(fracMs)
	case ip < 1e14:
		ms = int64(ip)
	case ip < 1e17:
		ms = int64(ip / 1000)
	default:
		ms = int64(ip / 1_000_000)
	}
	if ms > maxMs {
		return 0, false
	}
	return ms, true
}

func parseUnixFloat(b []byte) (int64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || f < minUnixSeconds {
		return 0, false
	}
	var ms float64
	switch {
	case f < 1e11:
		ms = f * 1000
	case f < 1e14:
		ms = f
	case f < 1e17:
		ms = f / 1000
	default:
		ms = f / 1e6
	}
	if ms > maxMs {
		return 0, false
	}
	return int64(ms), true
}

// parseTimeValue parses a JSON value holding a time: a string with an RFC 3339/ISO-8601 date-time or a
// numeric Unix time, or a number.
func parseTimeValue(v []byte) (int64, bool) {
	if len(v) >= 2 && v[0] == '"' {
		s := v[1 : len(v)-1]
		if ms, n, ok := parseISO(s); ok && n == len(s) {
			return ms, true
		}
		return parseUnix(s)
	}
	return parseUnix(v)
}

// yearFor returns the Unix milliseconds of a month-day-time without a year (klog, syslog): the year of ref,
// or the previous year when that would put the instant more than a day after ref (a line written on Dec 31
// and collected on Jan 1).
func yearFor(ref int64, mo, d, h, mi, s, frac int) (int64, bool) {
	if !validTime(h, mi, s) {
		return 0, false
	}
	y := yearOf(ref)
	if !validDate(y, mo, d) {
		if !validDate(y-1, mo, d) {
			return 0, false
		}
		y--
	}
	ms := toMs(y, mo, d, h, mi, s, frac)
	if ms > ref+msPerDay {
		if !validDate(y-1, mo, d) {
			return 0, false
		}
		ms = toMs(y-1, mo, d, h, mi, s, frac)
	}
	return ms, true
}

// refTime is the reference instant of an event's message rules: the record's Vector timestamp when it parses,
// else the fallback. The Vector timestamp is parsed on first use (most messages carry a full date or none).
type refTime struct {
	vts      []byte // the Vector timestamp value; nil when the record has none
	fallback int64
	parsed   bool
	ms       int64
	ok       bool
}

// vector returns the Vector timestamp, parsed once; ok is false when there is none or it does not parse.
func (r *refTime) vector() (ms int64, ok bool) {
	if !r.parsed {
		r.parsed = true
		if r.vts != nil {
			r.ms, r.ok = parseTimeValue(r.vts)
		}
	}
	return r.ms, r.ok
}

// instant returns the Vector timestamp, or the fallback when there is none.
func (r *refTime) instant() int64 {
	if ms, ok := r.vector(); ok {
		return ms
	}
	return r.fallback
}

// endsToken reports whether a timestamp ending at b[i] is followed by the end of the text or a non-digit.
func endsToken(b []byte, i int) bool { return i >= len(b) || !isDigit(b[i]) }

// parseKlog parses a klog header: [IWEF]MMDD hh:mm:ss.uuuuuu.
func parseKlog(b []byte, ref *refTime) (int64, bool) {
	if len(b) < 14 || b[5] != ' ' || b[8] != ':' || b[11] != ':' {
		return 0, false
	}
	switch b[0] {
	case 'I', 'W', 'E', 'F':
	default:
		return 0, false
	}
	frac, i, ok := fraction(b, 14, false)
	if !ok || !endsToken(b, i) {
		return 0, false
	}
	return yearFor(ref.instant(), num2(b, 1), num2(b, 3), num2(b, 6), num2(b, 9), num2(b, 12), frac)
}

// parseGolog parses Go's log package prefix: YYYY/MM/DD hh:mm:ss with an optional .micro.
func parseGolog(b []byte) (int64, bool) {
	if len(b) < 19 || b[4] != '/' || b[7] != '/' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	y, mo, d := num4(b, 0), num2(b, 5), num2(b, 8)
	h, mi, s := num2(b, 11), num2(b, 14), num2(b, 17)
	if y < 0 || !validDate(y, mo, d) || !validTime(h, mi, s) {
		return 0, false
	}
	frac, i, ok := fraction(b, 19, false)
	if !ok || !endsToken(b, i) {
		return 0, false
	}
	return toMs(y, mo, d, h, mi, s, frac), true
}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseSyslog parses an RFC 3164 prefix: Mmm dd hh:mm:ss (dd may be space-padded).
func parseSyslog(b []byte, ref *refTime) (int64, bool) {
	if len(b) < 15 || b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' {
		return 0, false
	}
	mo := 0
	for k, m := range months {
		if string(b[:3]) == m {
			mo = k + 1
			break
		}
	}
	if mo == 0 {
		return 0, false
	}
	d := num2(b, 4)
	if b[4] == ' ' {
		d = digit(b[5])
	}
	frac, i, ok := fraction(b, 15, false)
	if !ok || !endsToken(b, i) {
		return 0, false
	}
	return yearFor(ref.instant(), mo, d, num2(b, 7), num2(b, 10), num2(b, 13), frac)
}

const maxLogfmtValue = 48

// parseLogfmt finds the first logfmt `time=` or `ts=` key (at the start or after a space or tab) whose value,
// quoted or bare, is an ISO-8601 date-time or a Unix time.
func parseLogfmt(b []byte) (int64, bool) {
	for _, key := range [...]string{"time=", "ts="} {
		from := 0
		for from < len(b) {
			k := bytes.Index(b[from:], []byte(key))
			if k < 0 {
				break
			}
			k += from
			from = k + len(key)
			if k > 0 && b[k-1] != ' ' && b[k-1] != '\t' {
				continue
			}
			v := b[from:]
			if len(v) > maxLogfmtValue {
				v = v[:maxLogfmtValue] // a timestamp is short; bounding the look keeps the search linear
			}
			if len(v) > 0 && v[0] == '"' {
				e := bytes.IndexByte(v[1:], '"')
				if e < 0 {
					continue
				}
				v = v[1 : 1+e]
			} else if e := bytes.IndexAny(v, " \t"); e >= 0 {
				v = v[:e]
			}
			if ms, n, ok := parseISO(v); ok && n == len(v) {
				return ms, true
			}
			if ms, ok := parseUnix(v); ok {
				return ms, true
			}
		}
	}
	return 0, false
}

// textTimestamp applies the text-message rules: the anchored prefixes first (ISO-8601, klog, Go log,
// syslog: a header at the start of the line is the writer's own timestamp), then logfmt keys anywhere.
// An optional single '[' before a leading ISO-8601 timestamp is allowed.
//
// ref gives the reference instant that year-less prefixes (klog, syslog) take their year from; it is only
// asked for when such a prefix is found.
func textTimestamp(msg []byte, ref *refTime) (int64, TimestampSource, bool) {
	if len(msg) == 0 {
		return 0, 0, false
	}
	c := msg[0]
	switch {
	case isDigit(c) || c == '[':
		s := msg
		if c == '[' {
			s = msg[1:]
		}
		if ms, n, ok := parseISO(s); ok && endsToken(s, n) {
			return ms, SourceMessageISO8601, true
		}
		if ms, ok := parseGolog(msg); ok {
			return ms, SourceMessageGolog, true
		}
	case c == 'I' || c == 'W' || c == 'E' || c == 'F':
		if ms, ok := parseKlog(msg, ref); ok {
			return ms, SourceMessageKlog, true
		}
	}
	if c >= 'A' && c <= 'S' {
		if ms, ok := parseSyslog(msg, ref); ok {
			return ms, SourceMessageSyslog, true
		}
	}
	if ms, ok := parseLogfmt(msg); ok {
		return ms, SourceMessageLogfmt, true
	}
	return 0, 0, false
}

// jsonTimeKeys are the message fields of rule a, in priority order.
var jsonTimeKeys = [...]string{"ts", "time", "timestamp", "@timestamp", "stageTimestamp", "requestReceivedTimestamp"}

func jsonTimeKey(k []byte) int {
	switch string(k) {
	case "ts":
		return 0
	case "time":
		return 1
	case "timestamp":
		return 2
	case "@timestamp":
		return 3
	case "stageTimestamp":
		return 4
	case "requestReceivedTimestamp":
		return 5
	}
	return -1
}

// jsonMessageTimestamp applies rule a to obj, a JSON object. isObject is false when obj's top level is not
// a well-formed object (the message is then treated as text).
func jsonMessageTimestamp(sc *scanner, obj []byte) (ms int64, found, isObject bool) {
	sc.reset(obj)
	var vals [len(jsonTimeKeys)][2]int
	seen := 0
	end := sc.forEachMember(0, func(m member) bool {
		if m.keyEscaped {
			return true
		}
		if k := jsonTimeKey(obj[m.k0:m.k1]); k >= 0 {
			vals[k] = [2]int{m.v0, m.v1}
			seen |= 1 << k
		}
		return true
	})
	if end < 0 || skipWS(obj, end) != len(obj) {
		return 0, false, false
	}
	for k := range jsonTimeKeys {
		if seen&(1<<k) == 0 {
			continue
		}
		if ms, ok := parseTimeValue(obj[vals[k][0]:vals[k][1]]); ok {
			return ms, true, true
		}
	}
	return 0, false, true
}
