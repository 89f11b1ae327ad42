package batcher

import (
	"slices"
	"sync"
)

// request is one PutLogEvents request under construction or in flight.
type request struct {
	body  *[]byte // JSON body (nil with StockSerializer)
	hash  string  // hex SHA-256 of body, set by the first attempt
	seqs  []int64 // input index of each event, in request order
	ts    []int64 // only with StockSerializer
	wires [][]byte
	n     int
	bytes int // Σ(ulen + 26)
	deps  []*request
	done  chan struct{}
	err   error
}

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, MaxRequestBytes+MaxRequestBytes/4); return &b }}
var seqPool = sync.Pool{New: func() any { s := make([]int64, 0, 1024); return &s }}

func (r *request) release() {
	if r.body != nil {
		*r.body = (*r.body)[:0]
		bodyPool.Put(r.body)
		r.body = nil
	}
	if r.seqs != nil {
		s := r.seqs[:0]
		seqPool.Put(&s)
		r.seqs = nil
	}
	r.wires = nil
}

func cmpItems(x, y item) int { return less(&x, &y) }

// mergeItems appends the merge of the sorted x and y to dst (x first among equals).
func mergeItems(dst, x, y []item) []item {
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		if less(&x[i], &y[j]) <= 0 {
			dst = append(dst, x[i])
			i++
		} else {
			dst = append(dst, y[j])
			j++
		}
	}
	dst = append(dst, x[i:]...)
	return append(dst, y[j:]...)
}

// mergeFresh merges the events added since the last build into the window: late ones are sorted and
// merged into fresh, and fresh into the window. spare, fresh and win never share an array.
func (b *Batcher) mergeFresh() {
	if len(b.late) > 0 {
		slices.SortFunc(b.late, cmpItems)
		merged := mergeItems(b.spare[:0], b.fresh, b.late)
		clear(b.fresh)
		clear(b.late)
		b.spare, b.fresh = b.fresh[:0], merged
		b.late = b.late[:0]
	}
	if len(b.fresh) == 0 {
		return
	}
	if len(b.win) == 0 || less(&b.win[len(b.win)-1], &b.fresh[0]) <= 0 {
		b.win = append(b.win, b.fresh...)
	} else {
		// Only the window's events after the first fresh one move: merge that tail with fresh in place.
		p, _ := slices.BinarySearchFunc(b.win, b.fresh[0], cmpItems)
		tail := append(b.spare[:0], b.win[p:]...)
		b.win = mergeItems(b.win[:p], tail, b.fresh)
		clear(tail) // drop references to message bytes
		b.spare = tail[:0]
	}
	clear(b.fresh)
	b.fresh = b.fresh[:0]
}

// flushOne builds one request from the window and hands it to a sender (blocking while MaxInFlight
// requests are busy). Called with addMu held and a non-empty window.
func (b *Batcher) flushOne() error {
	b.mergeFresh()
	req := b.build()
	b.winLeft = 0 // refresh the time window bounds at the next Add
	select {
	case b.queue <- req:
		return nil
	case <-b.failed:
		req.release()
		return b.err
	case <-b.ctx.Done():
		req.release()
		b.fail(&Error{Op: "PutLogEvents", Dest: b.dest, Retryable: true, Err: b.ctx.Err()})
		return b.err
	}
}

// piece is a part of window item idx planned for a request: wire bytes [off, off+wn), un unescaped bytes.
type piece struct{ idx, off, wn, un int }

// build takes events for one request out of the sorted window. The candidates are the pending events within
// 24 hours from the anchor (see pickAnchor). First fit in time order is tried first; when it fills less than
// 98% of the request, first fit by decreasing size (oversized messages last, cut to fill the room) is tried
// as well and the fuller plan wins. Messages too large for one event are cut on character boundaries.
func (b *Batcher) build() *request {
	req := &request{done: make(chan struct{})}
	req.seqs = (*seqPool.Get().(*[]int64))[:0]
	if !b.opts.StockSerializer {
		req.body = bodyPool.Get().(*[]byte)
		*req.body = append((*req.body)[:0], b.prefix...)
	}
	anchor, forced := b.pickAnchor()
	limitTS := b.win[anchor].ts + MaxSpan.Milliseconds()
	order := b.order[:0]
	for i := anchor; i < len(b.win) && b.win[i].ts <= limitTS; i++ {
		order = append(order, i)
	}
	pieces, room := b.plan(order, b.pieces[:0])
	if !forced && room > MaxRequestBytes/50 {
		slices.SortStableFunc(order, func(x, y int) int {
			a, c := &b.win[x], &b.win[y]
			switch {
			case a.split != c.split:
				if a.split {
					return 1
				}
				return -1
			case a.split:
				return 0
			}
			return c.ulen - a.ulen
		})
		alt, altRoom := b.plan(order, b.altPieces[:0])
		if altRoom < room {
			pieces, b.altPieces = alt, pieces
			slices.SortFunc(pieces, func(x, y piece) int {
				if x.idx != y.idx {
					return x.idx - y.idx
				}
				return x.off - y.off
			})
		} else {
			b.altPieces = alt
		}
	}
	b.order = order
	b.commit(req, pieces)
	b.pieces = pieces[:0]
	if req.body != nil {
		*req.body = append(*req.body, ']', '}')
	}
	return req
}

// plan simulates filling one request with the window items in order; it returns the planned pieces and the
// room left.
func (b *Batcher) plan(order []int, out []piece) ([]piece, int) {
	room, n := MaxRequestBytes, 0
	for _, i := range order {
		if n >= MaxRequestEvents || room <= EventOverhead {
			break
		}
		it := &b.win[i]
		if !it.split {
			if it.ulen+EventOverhead <= room {
				out = append(out, piece{i, 0, len(it.wire), it.ulen})
				room -= it.ulen + EventOverhead
				n++
			}
			continue
		}
		off, rest := 0, it.ulen
		for rest > 0 && n < MaxRequestEvents && room > EventOverhead {
			maxU := min(room-EventOverhead, b.maxU)
			wn, un := len(it.wire)-off, rest
			if rest > maxU {
				wn, un = cut(it.wire[off:], it.plain, maxU)
				if wn == 0 {
					break
				}
			}
			out = append(out, piece{i, off, wn, un})
			off += wn
			rest -= un
			room -= un + EventOverhead
			n++
		}
	}
	return out, room
}

// commit moves the planned pieces (sorted by window index, then offset) into req.
func (b *Batcher) commit(req *request, pieces []piece) {
	removed := 0
	for k := 0; k < len(pieces); {
		idx := pieces[k].idx
		it := &b.win[idx]
		taken, takenU, count := 0, 0, 0
		for ; k < len(pieces) && pieces[k].idx == idx; k++ {
			p := pieces[k]
			b.addToRequest(req, it, it.wire[p.off:p.off+p.wn], p.un)
			taken = p.off + p.wn
			takenU += p.un
			count++
		}
		if taken == len(it.wire) { // the whole (rest of the) message
			if count > 1 && it.prev == nil {
				b.count("split", &b.stats.Split, 1)
			}
			if count > 1 {
				b.acks.add(it.seq, int32(count-1))
			}
			b.winU -= int64(takenU + EventOverhead)
			b.winWire -= int64(taken)
			b.winN--
			it.ulen = 0
			it.wire = nil
			if req.body != nil {
				b.committed(it)
			}
			removed++
			continue
		}
		if it.prev == nil {
			b.count("split", &b.stats.Split, 1)
		}
		b.acks.add(it.seq, int32(count)) // the pieces in this request, besides the rest still pending
		it.wire = it.wire[taken:]
		it.ulen -= takenU
		it.prev = req
		b.winU -= int64(takenU)
		b.winWire -= int64(taken)
	}
	if removed > 0 {
		b.win = slices.DeleteFunc(b.win, func(it item) bool { return it.ulen == 0 })
	}
}

func (b *Batcher) addToRequest(req *request, it *item, wire []byte, un int) {
	if it.prev != nil && it.prev != req && !slices.Contains(req.deps, it.prev) {
		req.deps = append(req.deps, it.prev)
	}
	if req.body != nil {
		*req.body = appendEventJSON(*req.body, req.n == 0, it.ts, wire)
	} else {
		req.ts = append(req.ts, it.ts)
		req.wires = append(req.wires, wire)
	}
	req.seqs = append(req.seqs, it.seq)
	req.n++
	req.bytes += un + EventOverhead
}

// pickAnchor chooses where the next request starts in the sorted window: the oldest event whose 24-hour
// range holds at least a full request's worth of pending events; failing that, the event whose 24-hour range
// holds the most; when draining at Close, the oldest event. When the input has run more than maxAckLag events ahead of the oldest unacknowledged event,
// that event is the anchor, so acknowledgements (and their bookkeeping) cannot stall behind it.
func (b *Batcher) pickAnchor() (anchor int, forced bool) {
	if oldest := b.acks.oldestPending(); b.nextSeq-oldest > maxAckLag {
		for i := range b.win {
			if b.win[i].seq == oldest {
				return i, true
			}
		}
	}
	if b.closed {
		// Draining: no more input will arrive, and covering the sorted timestamps from the oldest on
		// needs the fewest 24-hour ranges.
		return 0, false
	}
	span := MaxSpan.Milliseconds()
	best, bestSum := 0, 0
	sum, n, j := 0, 0, 0
	for i := range b.win {
		if i > 0 {
			sum -= b.win[i-1].ulen + EventOverhead
			n--
		}
		if j < i {
			j, sum, n = i, 0, 0
		}
		for j < len(b.win) && b.win[j].ts <= b.win[i].ts+span && sum < MaxRequestBytes && n < MaxRequestEvents {
			sum += b.win[j].ulen + EventOverhead
			n++
			j++
		}
		if sum >= MaxRequestBytes || n >= MaxRequestEvents {
			return i, false
		}
		if sum > bestSum {
			best, bestSum = i, sum
		}
	}
	return best, false
}
