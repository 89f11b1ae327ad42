package batcher

import (
	"errors"
	"fmt"
	"sync"
)

// AckState is a set of acknowledged input events, by input index: every index below Prefix, and each
// half-open range [lo, hi) of Ranges. An input event is acknowledged when CloudWatch accepted all its pieces,
// or when it was dropped or rejected by policy (empty, out of window, rejectedLogEventsInfo), or when
// Options.Resume said an earlier attempt had acknowledged it.
type AckState struct {
	Prefix int64
	// Ranges are sorted, disjoint and start above Prefix; AckState values the batcher returns also have no
	// two adjacent ranges.
	Ranges [][2]int64
}

// Contains reports whether input index i is acknowledged.
func (s AckState) Contains(i int64) bool {
	if i < s.Prefix {
		return true
	}
	lo, hi := 0, len(s.Ranges)
	for lo < hi {
		m := (lo + hi) / 2
		switch r := s.Ranges[m]; {
		case i < r[0]:
			hi = m
		case i >= r[1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

// Count is the number of acknowledged input events.
func (s AckState) Count() int64 {
	n := s.Prefix
	for _, r := range s.Ranges {
		n += r[1] - r[0]
	}
	return n
}

// Equal reports whether s and o hold the same ranges written the same way.
func (s AckState) Equal(o AckState) bool {
	if s.Prefix != o.Prefix || len(s.Ranges) != len(o.Ranges) {
		return false
	}
	for i := range s.Ranges {
		if s.Ranges[i] != o.Ranges[i] {
			return false
		}
	}
	return true
}

// Validate reports a malformed state: a negative prefix, an empty range, or ranges that are unsorted,
// overlap, or start below Prefix.
func (s AckState) Validate() error {
	if s.Prefix < 0 {
		return fmt.Errorf("ack state: negative prefix %d", s.Prefix)
	}
	prev := s.Prefix
	for i, r := range s.Ranges {
		if r[0] < prev || r[1] <= r[0] {
			return fmt.Errorf("ack state: range %d [%d, %d) is empty, unsorted, overlapping or below the prefix %d", i, r[0], r[1], s.Prefix)
		}
		prev = r[1]
	}
	return nil
}

var errAckState = errors.New("batcher: internal error: acknowledgement of an event never added")

// ackTracker counts, per input event from the acknowledged prefix on, the pieces not yet resolved; a count of
// zero is an acknowledged event. Its size is bounded by maxAckLag (see pickAnchor).
type ackTracker struct {
	mu     sync.Mutex
	base   int64 // input index of counts[head]: the acknowledged prefix
	head   int
	counts []int32
	resume [][2]int64 // Options.Resume.Ranges: acknowledged before, whether added yet or not
}

func (a *ackTracker) init(resume AckState) {
	a.base = resume.Prefix
	a.resume = resume.Ranges
}

func (a *ackTracker) push(seq int64) {
	a.mu.Lock()
	a.counts = append(a.counts, 1)
	a.mu.Unlock()
}

// add changes seq's count by d and returns how far the acknowledged prefix advanced and whether the set of
// acknowledged events changed.
func (a *ackTracker) add(seq int64, d int32) (advanced int64, changed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addLocked(seq, d)
}

// resolveAll resolves one piece of each of seqs.
func (a *ackTracker) resolveAll(seqs []int64) (advanced int64, changed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, seq := range seqs {
		n, c := a.addLocked(seq, -1)
		advanced += n
		changed = changed || c
	}
	return advanced, changed
}

func (a *ackTracker) addLocked(seq int64, d int32) (int64, bool) {
	i := a.head + int(seq-a.base)
	if seq < a.base || i >= len(a.counts) {
		// Cannot happen: every piece of a request belongs to an added, unacknowledged event.
		panic(errAckState)
	}
	a.counts[i] += d
	if a.counts[i] != 0 {
		return 0, false
	}
	var n int64
	for a.head < len(a.counts) && a.counts[a.head] == 0 {
		a.head++
		a.base++
		n++
	}
	if a.head > 4096 && a.head > len(a.counts)/2 {
		k := copy(a.counts, a.counts[a.head:])
		a.counts = a.counts[:k]
		a.head = 0
	}
	return n, true
}

func (a *ackTracker) acked() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.base
}

// oldestPending is the lowest unacknowledged seq.
func (a *ackTracker) oldestPending() int64 { return a.acked() }

// state returns the acknowledged set: the prefix, the acknowledged events beyond it, and the resumed ranges
// not added yet.
func (a *ackTracker) state() AckState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AckState{Prefix: a.base}
	appendRange := func(lo, hi int64) {
		if n := len(st.Ranges); n > 0 && st.Ranges[n-1][1] >= lo {
			st.Ranges[n-1][1] = max(st.Ranges[n-1][1], hi)
			return
		}
		if lo <= st.Prefix {
			st.Prefix = max(st.Prefix, hi)
			return
		}
		st.Ranges = append(st.Ranges, [2]int64{lo, hi})
	}
	for i := a.head; i < len(a.counts); i++ {
		if a.counts[i] != 0 {
			continue
		}
		j := i + 1
		for j < len(a.counts) && a.counts[j] == 0 {
			j++
		}
		appendRange(a.base+int64(i-a.head), a.base+int64(j-a.head))
		i = j
	}
	next := a.base + int64(len(a.counts)-a.head)
	for _, r := range a.resume {
		if r[1] > next {
			appendRange(max(r[0], next), r[1])
		}
	}
	return st
}
