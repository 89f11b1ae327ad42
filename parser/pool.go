package parser

import (
	"bufio"
	"bytes"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// A Reader's buffers and decompressor outlive it: once Next has returned its terminal error (io.EOF or a
// failure), no event of the Reader can be in use any more, so they go to a pool for the next Reader. An
// object's Reader then reuses, rather than allocates afresh, its chunk buffers, its gzip decompressor (tables
// and window) and its line and text buffers, which long lines otherwise grow by doubling in every object.

// poolKeepBytes bounds one pooled buffer: a longer one (from a rare very long line) is left to the GC, so that
// an idle pool holds little.
const poolKeepBytes = 4 << 20

// readerBuffers is what a Reader hands to the next one.
type readerBuffers struct {
	zr    *gzip.Reader  // set by open
	br    *bufio.Reader // set by open
	chunk []byte        // the syncSource's buffer
	pipe  [][]byte      // the pipeSource's ring

	carry, unesc, recBuf, tsBuf, msg []byte
	metaBuf                          [4][]byte
	skips                            [skipCacheEntries][]byte
}

var buffersPool = sync.Pool{New: func() any { return new(readerBuffers) }}

// keep returns b emptied, or nil when it is too large to keep.
func keep(b []byte) []byte {
	if cap(b) > poolKeepBytes {
		return nil
	}
	return b[:0]
}

// chunkBuffer returns a buffer of size bytes, reusing b when it has that size.
func chunkBuffer(b []byte, size int) []byte {
	if cap(b) == size {
		return b[:size]
	}
	return make([]byte, size)
}

// takeBuffers gives r pooled buffers; r has not read anything yet.
func (r *Reader) takeBuffers() {
	b := buffersPool.Get().(*readerBuffers)
	r.bufs = b
	r.carry, r.unesc, r.recBuf, r.tsBuf = b.carry, b.unesc, b.recBuf, b.tsBuf
	r.msgBuf = *bytes.NewBuffer(b.msg)
	r.metaBuf = b.metaBuf
	for i, v := range b.skips {
		r.skips.vals[i] = v[:0]
	}
}

// releaseBuffers returns r's buffers to the pool once Next has returned a terminal error. It gives up (the
// buffers are left to the GC) when a pipeline goroutine might still be using them.
func (r *Reader) releaseBuffers() {
	b := r.bufs
	if b == nil {
		return
	}
	r.bufs = nil
	switch s := r.src.(type) {
	case *syncSource:
		b.chunk = s.buf
		s.buf = nil
	case *pipeSource:
		if !s.finished {
			s.close()
			return
		}
		<-s.exited // the goroutine returns right after handing over its last chunk
		b.pipe = s.buffers(b.pipe[:0])
	}
	b.carry, b.unesc, b.recBuf, b.tsBuf = keep(r.carry), keep(r.unesc), keep(r.recBuf), keep(r.tsBuf)
	r.carry, r.unesc, r.recBuf, r.tsBuf = nil, nil, nil, nil
	r.msgBuf.Reset()
	b.msg = keep(r.msgBuf.Bytes())
	r.msgBuf = bytes.Buffer{}
	for i := range r.metaBuf {
		b.metaBuf[i] = keep(r.metaBuf[i])
		r.metaBuf[i] = nil
	}
	for i := range r.skips.vals {
		b.skips[i] = keep(r.skips.vals[i])
		r.skips.vals[i] = nil
	}
	r.line, r.ev = nil, Event{}
	buffersPool.Put(b)
}
