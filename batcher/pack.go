package batcher

import (
	"slices"
	"sync"
)

// request is one PutLogEvents request under construction or in flight.
type request struct {
	body  *[]byte // JSON body (nil with StockSerializer)
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

// mergeFresh sorts the events added since the last build and merges them into the window.
func (b *Batcher) mergeFresh() {
	if len(b.fresh) == 0 {
		return
	}
	cmp := func(x, y item) int { return less(&x, &y) }
	if !slices.IsSortedFunc(b.fresh, cmp) {
		slices.SortFunc(b.fresh, cmp)
	}
	if len(b.win) == 0 || cmp(b.win[len(b.win)-1], b.fresh[0]) <= 0 {
		b.win = append(b.win, b.fresh...)
	} else {
		out := b.spare[:0]
		i, j := 0, 0
		for i < len(b.win) && j < len(b.fresh) {
			if cmp(b.win[i], b.fresh[j]) <= 0 {
				out = append(out, b.win[i])
				i++
			} else {
				out = append(out, b.fresh[j])
				j++
			}
		}
		out = append(out, b.win[i:]...)
		out = append(out, b.fresh[j:]...)
		clear(b.win) // drop references to message bytes
		b.spare = b.win[:0]
		b.win = out
	}
	clear(b.fresh)
	b.fresh = b.fresh[:0]
}

// flushOne builds one request from the window and hands it to a sender (blocking while MaxInFlight
// requests are busy). Called with addMu held and a non-empty window.
func (b *Batcher) flushOne() error {
	b.mergeFresh()
	req := b.build()
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

// build takes events for one request out of the sorted window: starting at the oldest pending event (or at
// the event holding back acknowledgements, when the input ran too far ahead of it), every event within 24
// hours of it that still fits, in time order. Messages too large for one event are cut to fill the
// remaining room.
func (b *Batcher) build() *request {
	req := &request{done: make(chan struct{})}
	req.seqs = (*seqPool.Get().(*[]int64))[:0]
	if !b.opts.StockSerializer {
		req.body = bodyPool.Get().(*[]byte)
		*req.body = append((*req.body)[:0], b.prefix...)
	}
	anchor := 0
	if oldest := b.acks.oldestPending(); b.nextSeq-oldest > maxAckLag {
		for i := range b.win {
			if b.win[i].seq == oldest {
				anchor = i
				break
			}
		}
	}
	limitTS := b.win[anchor].ts + MaxSpan.Milliseconds()
	room := MaxRequestBytes
	removed := 0
	for i := anchor; i < len(b.win) && req.n < MaxRequestEvents && room > EventOverhead; i++ {
		it := &b.win[i]
		if it.ts > limitTS {
			break
		}
		wn, un := len(it.wire), it.ulen
		if un+EventOverhead > room || (it.split && un > b.maxU) {
			if !it.split {
				continue
			}
			wn, un = cut(it.wire, it.plain, min(room-EventOverhead, b.maxU))
			if wn == 0 {
				continue
			}
		}
		b.addToRequest(req, it, wn, un)
		room -= un + EventOverhead
		if wn == len(it.wire) { // the whole (rest of the) message
			b.winU -= int64(un + EventOverhead)
			b.winWire -= int64(wn)
			b.winN--
			it.ulen = 0
			it.wire = nil
			removed++
			continue
		}
		if it.prev == nil {
			b.count("split", &b.stats.Split, 1)
		}
		b.acks.add(it.seq, 1) // the piece in this request, besides the rest still pending
		it.wire = it.wire[wn:]
		it.ulen -= un
		it.prev = req
		b.winU -= int64(un)
		b.winWire -= int64(wn)
	}
	if removed > 0 {
		b.win = slices.DeleteFunc(b.win, func(it item) bool { return it.ulen == 0 })
	}
	if req.body != nil {
		*req.body = append(*req.body, ']', '}')
	}
	return req
}

func (b *Batcher) addToRequest(req *request, it *item, wn, un int) {
	if it.prev != nil && (len(req.deps) == 0 || req.deps[len(req.deps)-1] != it.prev) {
		req.deps = append(req.deps, it.prev)
	}
	if req.body != nil {
		*req.body = appendEventJSON(*req.body, req.n == 0, it.ts, it.wire[:wn])
	} else {
		req.ts = append(req.ts, it.ts)
		req.wires = append(req.wires, it.wire[:wn])
	}
	req.seqs = append(req.seqs, it.seq)
	req.n++
	req.bytes += un + EventOverhead
}
