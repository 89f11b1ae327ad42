package parser

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

// vectorTs is the Vector timestamp of the records in TestTimestampRules.
const vectorTs = "2025-08-30T10:33:21.245871233Z"

func TestTimestampRules(t *testing.T) {
	tests := map[string]struct {
		message string // the JSON value of "message" as it appears in the line; "" = no message field
		vector  string // the JSON value of "timestamp"; "" = no field
		want    string // RFC 3339 of the expected timestamp
		source  TimestampSource
	}{
		// a. JSON message fields
		"json ts RFC3339 Z":                 {message: `"{\"ts\":\"2025-08-30T10:00:01Z\"}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json time lowercase z":             {message: `"{\"time\":\"2025-08-30t10:00:01.5z\"}"`, want: "2025-08-30T10:00:01.5Z", source: SourceMessageJSON},
		"json timestamp with offset":        {message: `"{\"timestamp\":\"2025-08-30T15:30:01+05:30\"}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json negative offset":              {message: `"{\"timestamp\":\"2025-08-30T05:00:01-05:00\"}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json offset without colon":         {message: `"{\"timestamp\":\"2025-08-30T12:00:01+0200\"}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json @timestamp space separator":   {message: `"{\"@timestamp\":\"2025-08-30 10:00:01.123Z\"}"`, want: "2025-08-30T10:00:01.123Z", source: SourceMessageJSON},
		"json nanosecond fraction":          {message: `"{\"ts\":\"2025-08-30T10:00:01.123456789Z\"}"`, want: "2025-08-30T10:00:01.123Z", source: SourceMessageJSON},
		"json one-digit fraction":           {message: `"{\"ts\":\"2025-08-30T10:00:01.1Z\"}"`, want: "2025-08-30T10:00:01.1Z", source: SourceMessageJSON},
		"json no zone is UTC":               {message: `"{\"ts\":\"2025-08-30T10:00:01\"}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json ten fraction digits no match": {message: `"{\"ts\":\"2025-08-30T10:00:01.1234567891Z\"}"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"json stageTimestamp":               {message: `"{\"stageTimestamp\":\"2025-08-30T10:00:02.5Z\",\"requestReceivedTimestamp\":\"2025-08-30T10:00:01Z\"}"`, want: "2025-08-30T10:00:02.5Z", source: SourceMessageJSON},
		"json requestReceivedTimestamp":     {message: `"{\"requestReceivedTimestamp\":\"2025-08-30T10:00:01Z\"}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json priority ts over time":        {message: `"{\"time\":\"2025-08-30T10:00:09Z\",\"ts\":\"2025-08-30T10:00:01Z\"}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json unparseable ts falls to time": {message: `"{\"ts\":\"soon\",\"time\":\"2025-08-30T10:00:01Z\"}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json unix seconds":                 {message: `"{\"ts\":1756548001}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json unix seconds fraction":        {message: `"{\"ts\":1756548001.25}"`, want: "2025-08-30T10:00:01.25Z", source: SourceMessageJSON},
		"json unix seconds exponent":        {message: `"{\"ts\":1.756548001e9}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json unix milliseconds":            {message: `"{\"ts\":1756548001250}"`, want: "2025-08-30T10:00:01.25Z", source: SourceMessageJSON},
		"json unix microseconds":            {message: `"{\"ts\":1756548001250123}"`, want: "2025-08-30T10:00:01.25Z", source: SourceMessageJSON},
		"json unix nanoseconds":             {message: `"{\"ts\":1756548001250123456}"`, want: "2025-08-30T10:00:01.25Z", source: SourceMessageJSON},
		"json unix numeric string":          {message: `"{\"time\":\"1756548001\"}"`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json small number is no time":      {message: `"{\"time\":35}"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"json negative number is no time":   {message: `"{\"ts\":-1756548001}"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"json nested ts ignored":            {message: `"{\"a\":{\"ts\":\"2025-08-30T10:00:01Z\"}}"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"json object message":               {message: `{"ts":"2025-08-30T10:00:01Z"}`, want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json record without message":       {message: "", want: "2025-08-30T10:00:01Z", source: SourceMessageJSON},
		"json invalid date 2025-02-30":      {message: `"{\"ts\":\"2025-02-30T10:00:01Z\"}"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"json hour 25":                      {message: `"{\"ts\":\"2025-08-30T25:00:01Z\"}"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"json leap day":                     {message: `"{\"ts\":\"2024-02-29T10:00:01Z\"}"`, want: "2024-02-29T10:00:01Z", source: SourceMessageJSON},
		"json not leap 2100":                {message: `"{\"ts\":\"2100-02-29T10:00:01Z\"}"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"json broken object is text":        {message: `"{\"ts\":\"x\" ts=2025-08-30T10:00:01Z"`, want: "2025-08-30T10:00:01Z", source: SourceMessageLogfmt},

		// b. text messages
		"iso leading":                {message: `"2025-08-30T10:00:01.123Z INFO started"`, want: "2025-08-30T10:00:01.123Z", source: SourceMessageISO8601},
		"iso leading space sep":      {message: `"2025-08-30 10:00:01,123 INFO python"`, want: "2025-08-30T10:00:01.123Z", source: SourceMessageISO8601},
		"iso leading bracket":        {message: `"[2025-08-30 10:00:01] boot"`, want: "2025-08-30T10:00:01Z", source: SourceMessageISO8601},
		"iso offset":                 {message: `"2025-08-30T12:00:01+02:00 x"`, want: "2025-08-30T10:00:01Z", source: SourceMessageISO8601},
		"iso invalid month":          {message: `"2025-13-30T10:00:01Z x"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"iso not leading":            {message: `"at 2025-08-30T10:00:01Z x"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"logfmt time quoted":         {message: `"level=info time=\"2025-08-30T10:00:01Z\" msg=hi"`, want: "2025-08-30T10:00:01Z", source: SourceMessageLogfmt},
		"logfmt ts bare":             {message: `"level=info ts=2025-08-30T10:00:01.5Z caller=x.go:1"`, want: "2025-08-30T10:00:01.5Z", source: SourceMessageLogfmt},
		"logfmt ts unix":             {message: `"ts=1756548001.5 level=debug"`, want: "2025-08-30T10:00:01.5Z", source: SourceMessageLogfmt},
		"logfmt key needs boundary":  {message: `"GET /x?ts=1756548001 200"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"logfmt second key wins":     {message: `"ts=bad time=\"2025-08-30T10:00:01Z\""`, want: "2025-08-30T10:00:01Z", source: SourceMessageLogfmt},
		"klog":                       {message: `"I0830 10:00:01.564974       1 main.go:1] hi"`, want: "2025-08-30T10:00:01.564Z", source: SourceMessageKlog},
		"klog error level":           {message: `"E0830 10:00:01.000001 1 x.go:1] boom"`, want: "2025-08-30T10:00:01Z", source: SourceMessageKlog},
		"klog year boundary":         {message: `"I1231 23:59:59.900000 1 x.go:1] late"`, vector: `"2026-01-01T00:00:05Z"`, want: "2025-12-31T23:59:59.9Z", source: SourceMessageKlog},
		"klog within a day ahead":    {message: `"I0830 12:00:00.000000 1 x.go:1] skew"`, vector: `"2025-08-30T10:00:00Z"`, want: "2025-08-30T12:00:00Z", source: SourceMessageKlog},
		"klog invalid date":          {message: `"I0230 10:00:01.000000 1 x.go:1] x"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"klog year from fallback":    {message: `"I0101 00:00:01.000000 1 x.go:1] x"`, want: "2025-01-01T00:00:01Z", source: SourceMessageKlog},
		"golog":                      {message: `"2025/08/30 10:00:01 listening"`, want: "2025-08-30T10:00:01Z", source: SourceMessageGolog},
		"golog micro":                {message: `"2025/08/30 10:00:01.250000 listening"`, want: "2025-08-30T10:00:01.25Z", source: SourceMessageGolog},
		"golog hour 25":              {message: `"2025/08/30 25:00:01 x"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"syslog":                     {message: `"Aug 30 10:00:01 host app[1]: x"`, want: "2025-08-30T10:00:01Z", source: SourceMessageSyslog},
		"syslog padded day":          {message: `"Aug  3 10:00:01 host x"`, want: "2025-08-03T10:00:01Z", source: SourceMessageSyslog},
		"syslog year boundary":       {message: `"Dec 31 23:59:59 host x"`, vector: `"2026-01-01T00:00:05Z"`, want: "2025-12-31T23:59:59Z", source: SourceMessageSyslog},
		"syslog bad month":           {message: `"Foo 30 10:00:01 host x"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"escaped text is unescaped":  {message: `"time=\"2025-08-30T10:00:01Z\""`, want: "2025-08-30T10:00:01Z", source: SourceMessageLogfmt},
		"no rule: vector":            {message: `"hello"`, vector: `"` + vectorTs + `"`, want: vectorTs, source: SourceVector},
		"vector unix number":         {message: `"hello"`, vector: `1756548001250`, want: "2025-08-30T10:00:01.25Z", source: SourceVector},
		"no rule, no vector":         {message: `"hello"`, want: fallback.Format(time.RFC3339), source: SourceFallback},
		"invalid vector is fallback": {message: `"hello"`, vector: `"2025-02-30T10:00:00Z"`, want: fallback.Format(time.RFC3339), source: SourceFallback},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var fields []string
			switch tc.message {
			case "":
				fields = append(fields, `"level":"info"`, `"ts":"2025-08-30T10:00:01Z"`)
			default:
				fields = append(fields, `"message":`+tc.message)
			}
			if tc.vector != "" {
				fields = append(fields, `"timestamp":`+tc.vector)
			}
			line := "{" + strings.Join(fields, ",") + "}\n"
			recs, st, err := parseString(t, line)
			require.NoError(t, err)
			require.Len(t, recs, 1, line)
			assert.Zero(t, st.MalformedLines, line)
			assert.Equal(t, tc.source.String(), recs[0].Source, line)
			assert.Equal(t, time.UnixMilli(ms(tc.want)).UTC().Format(time.RFC3339Nano), recs[0].Time, line)
			assert.Equal(t, int64(1), st.BySource[tc.source])
		})
	}
}

func TestRawLineTimestamps(t *testing.T) {
	// a line that is not JSON is a text message too
	recs, _, err := parseString(t, "I0830 10:00:01.000000 1 x.go:1] not json\n")
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "message_klog", recs[0].Source)
}

func TestParseISO(t *testing.T) {
	tests := map[string]struct {
		in   string
		want string // "" = no match
		n    int
	}{
		"basic":              {"2025-08-30T10:00:01Z", "2025-08-30T10:00:01Z", 20},
		"prefix":             {"2025-08-30T10:00:01Z rest", "2025-08-30T10:00:01Z", 20},
		"leap second":        {"2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z", 20},
		"offset hh":          {"2025-08-30T12:00:01+02", "2025-08-30T10:00:01Z", 22},
		"bad offset":         {"2025-08-30T12:00:01+2x", "", 0},
		"offset minutes 60":  {"2025-08-30T12:00:01+02:60", "", 0},
		"dot without digits": {"2025-08-30T10:00:01.Z", "", 0},
		"minute 60":          {"2025-08-30T10:60:01Z", "", 0},
		"day 0":              {"2025-08-00T10:00:01Z", "", 0},
		"short":              {"2025-08-30T10:00", "", 0},
		"letters":            {"abcd-08-30T10:00:01Z", "", 0},
		"year 1":             {"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z", 20},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, n, ok := parseISO([]byte(tc.in))
			if tc.want == "" {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			assert.Equal(t, ms(tc.want), got)
			assert.Equal(t, tc.n, n)
		})
	}
}

func TestYearOf(t *testing.T) {
	for _, s := range []string{"1970-01-01T00:00:00Z", "2024-12-31T23:59:59.999Z", "2025-01-01T00:00:00Z", "2000-02-29T12:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z"} {
		tm, _ := time.Parse(time.RFC3339Nano, s)
		assert.Equal(t, tm.Year(), yearOf(tm.UnixMilli()), s)
		assert.Equal(t, tm.UnixMilli()/msPerDay*msPerDay, daysFromCivil(tm.Year(), int(tm.Month()), tm.Day())*msPerDay+(func() int64 {
			if tm.UnixMilli() < 0 && tm.UnixMilli()%msPerDay != 0 {
				return msPerDay
			}
			return 0
		})(), s)
	}
}

func TestSourceNames(t *testing.T) {
	seen := map[string]bool{}
	for s := range NumSources {
		name := s.String()
		assert.NotEqual(t, "unknown", name)
		assert.False(t, seen[name], name)
		seen[name] = true
	}
	assert.Equal(t, "unknown", NumSources.String())
}
