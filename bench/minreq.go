package bench

import (
	"slices"
)

// CloudWatch Logs PutLogEvents limits.
const (
	MaxBatchBytes  = 1_048_576 // Σ(UTF-8 message bytes + EventOverhead) per request
	MaxBatchEvents = 10_000
	EventOverhead  = 26
	MaxBatchSpanMs = 24 * 60 * 60 * 1000 // a request's events span at most 24 hours
)

// EventShape is what the minimum number of requests depends on: an event's timestamp (Unix ms) and the UTF-8
// length of its (unescaped) message.
type EventShape struct {
	Timestamp int64
	Bytes     int
}

// MinRequests is a lower bound on the PutLogEvents requests that can carry events: no sender can do with fewer.
// It is the largest of three bounds: total bytes / MaxBatchBytes, events / MaxBatchEvents, and the number of
// 24-hour windows the timestamps need. Messages longer than maxEventBytes-EventOverhead count as the pieces a
// splitting sender makes of them; empty messages are not sent. maxEventBytes ≤ 0 means MaxBatchBytes.
func MinRequests(events []EventShape, maxEventBytes int) int64 {
	if maxEventBytes <= 0 {
		maxEventBytes = MaxBatchBytes
	}
	piece := int64(maxEventBytes - EventOverhead)
	var bytes, count int64
	ts := make([]int64, 0, len(events))
	for _, e := range events {
		if e.Bytes <= 0 {
			continue
		}
		n := (int64(e.Bytes) + piece - 1) / piece
		count += n
		bytes += int64(e.Bytes) + n*EventOverhead
		ts = append(ts, e.Timestamp)
	}
	if count == 0 {
		return 0
	}
	slices.Sort(ts)
	windows := int64(1)
	start := ts[0]
	for _, t := range ts[1:] {
		if t-start > MaxBatchSpanMs {
			windows++
			start = t
		}
	}
	return max(ceilDiv(bytes, MaxBatchBytes), ceilDiv(count, MaxBatchEvents), windows)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
