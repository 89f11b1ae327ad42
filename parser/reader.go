package parser

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goccy/go-json"
	"github.com/klauspost/compress/gzip"
)

// Options tune a Reader.
type Options struct {
	// MaxLineBytes caps the length of one line (without its newline). A longer line is skipped and counted in
	// Stats.OversizedLines; memory stays bounded by this cap. Default 16 MiB.
	MaxLineBytes int
	// Pipeline decompresses on a goroutine of its own that hands filled buffers to Next, so that gunzip and
	// parsing use two cores. Close releases the goroutine.
	Pipeline bool
	// ChunkBytes is the size of the buffers uncompressed input is read into (and handed over in, when
	// pipelined). Default 256 KiB.
	ChunkBytes int
}

// DefaultMaxLineBytes is the default Options.MaxLineBytes.
const DefaultMaxLineBytes = 16 << 20

const (
	defaultChunkBytes = 256 << 10
	pipelineBuffers   = 3
)

// Stats counts what a Reader has done so far.
type Stats struct {
	Lines           int64 // lines read, including blank and oversized ones
	Events          int64 // events returned by Next
	BytesIn         int64 // bytes read from the input (compressed size for gzip; may run ahead of parsing)
	BytesOut        int64 // uncompressed bytes handed to the line splitter
	MalformedLines  int64 // lines (or array elements) that are not valid JSON; each became one raw-text event
	OversizedLines  int64 // lines longer than Options.MaxLineBytes, skipped
	BlankLines      int64 // empty or whitespace-only lines, skipped
	EmptyArrayLines int64 // lines holding an empty JSON array: nothing to deliver
	// BySource counts the events whose timestamp each rule produced, indexed by TimestampSource.
	BySource [NumSources]int64
	Gzip     bool // the input was gzip (known after the first call to Next)
}

// CorruptError reports a truncated or corrupt gzip stream. The events of every complete line before the
// damage have been returned by Next before it. DEFLATE cannot always tell damage where it happens: bytes
// altered inside a block may decode to other bytes, caught only by the member's CRC-32 at its end, so the
// lines decoded before a checksum error are as the stream had them, not necessarily as they were written.
type CorruptError struct {
	Offset           int64 // uncompressed bytes decoded intact before the damage
	Line             int64 // complete lines before the damage
	PartialLineBytes int   // bytes of an incomplete line at the damage, discarded
	CompressedOffset int64 // compressed bytes read when the damage was found (read-ahead included)
	Err              error // the decompressor's error, e.g. io.ErrUnexpectedEOF for a truncated stream
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("parser: corrupt gzip stream after %d uncompressed bytes (line %d; %d bytes of an incomplete line discarded; %d compressed bytes read): %v",
		e.Offset, e.Line, e.PartialLineBytes, e.CompressedOffset, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("parser: reader closed")

// Reader streams the events of one Vector object. It is not safe for concurrent use.
type Reader struct {
	opts       Options
	fallbackMs int64

	in     *countingReader
	src    source
	opened bool
	closed bool
	gzip   bool
	err    error // sticky terminal error

	chunk    []byte
	pos      int
	carry    []byte
	skipping bool // discarding the rest of an oversized line

	lines, events, bytesOut, malformed, oversized, blank, emptyArrays int64
	bySource                                                          [NumSources]int64

	// the line being turned into events (several when it holds an array)
	line   []byte
	lineNo int64
	arr    scanner
	arrPos int // next element of an array line; 0 when no array is pending

	bufs    *readerBuffers // pooled buffers, returned at the terminal error (pool.go)
	ev      Event
	sc      scanner
	skips   skipCache
	msgBuf  bytes.Buffer // compacted object/array messages and records without message
	recBuf  []byte       // a record without message before compaction; text of an invalid-UTF-8 message
	unesc   []byte       // unescaped message text for the timestamp rules
	metaBuf [4][]byte    // unescaped metadata values
	tsBuf   []byte       // an unescaped key
}

// NewReader returns a Reader of the Vector object in r: gzip (single or multi-member) or uncompressed NDJSON,
// recognised by content. fallback is the timestamp of events for which no rule finds one; it is normally the
// object's LastModified. Nothing is read before the first call to Next. The same input and options always
// yield the same sequence of events, whatever the chunking or pipelining, so a caller may resume by skipping
// the events it has already handled.
func NewReader(r io.Reader, fallback time.Time, optFns ...func(*Options)) *Reader {
	o := Options{MaxLineBytes: DefaultMaxLineBytes, ChunkBytes: defaultChunkBytes}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = defaultChunkBytes
	}
	return &Reader{opts: o, fallbackMs: fallback.UnixMilli(), in: &countingReader{r: r},
		skips: skipCache{min: defaultSkipCacheMin}}
}

// Stats returns the counters so far. Call it from the goroutine that calls Next.
func (r *Reader) Stats() Stats {
	return Stats{
		Lines: r.lines, Events: r.events, BytesIn: r.in.n.Load(), BytesOut: r.bytesOut,
		MalformedLines: r.malformed, OversizedLines: r.oversized, BlankLines: r.blank,
		EmptyArrayLines: r.emptyArrays, BySource: r.bySource, Gzip: r.gzip,
	}
}

// Close releases the pipeline goroutine, if any; it is safe to call twice. It does not wait for a Read in
// progress on the input: closing the input afterwards ends it. It does not close the input.
func (r *Reader) Close() error {
	if r.src != nil {
		r.src.close()
	}
	r.closed = true
	return nil
}

// Next returns the next event; io.EOF at the end. The *Event and every slice in it are valid only until the
// next call to Next. A corrupt or truncated gzip stream yields the events before the damage, then a
// *CorruptError; an error reading the input is returned wrapped. Errors are sticky.
func (r *Reader) Next() (*Event, error) {
	if r.closed {
		return nil, ErrClosed
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.arrPos > 0 {
		if ev := r.nextArrayElement(); ev != nil {
			return r.emit(ev), nil
		}
	}
	for {
		line, err := r.readLine()
		if err != nil {
			r.err = err
			r.releaseBuffers()
			return nil, err
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if isBlank(line) {
			r.blank++
			continue
		}
		r.line = line
		if ev := r.parseLine(); ev != nil {
			return r.emit(ev), nil
		}
	}
}

func (r *Reader) emit(ev *Event) *Event {
	r.events++
	r.bySource[ev.Source]++
	return ev
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// readLine returns the next line without its '\n'. It counts every line it returns or skips.
func (r *Reader) readLine() ([]byte, error) {
	max := r.opts.MaxLineBytes
	for {
		if r.pos < len(r.chunk) {
			rest := r.chunk[r.pos:]
			i := bytes.IndexByte(rest, '\n')
			if i >= 0 {
				r.pos += i + 1
				r.lines++
				r.lineNo = r.lines
				switch {
				case r.skipping:
					r.skipping = false
					r.oversized++
				case len(r.carry) > 0:
					if len(r.carry)+i > max {
						r.carry = r.carry[:0]
						r.oversized++
						continue
					}
					line := append(reserve(r.carry, i), rest[:i]...)
					r.carry = line[:0]
					return line, nil
				case i > max:
					r.oversized++
				default:
					return rest[:i], nil
				}
				continue
			}
			if !r.skipping {
				if len(r.carry)+len(rest) > max {
					r.skipping = true
					r.carry = r.carry[:0]
				} else {
					r.carry = append(reserve(r.carry, len(rest)), rest...)
				}
			}
			r.pos = len(r.chunk)
		}
		c, err := r.nextChunk()
		if err == io.EOF {
			if r.skipping {
				r.skipping = false
				r.lines++
				r.oversized++
			}
			if len(r.carry) > 0 {
				r.lines++
				r.lineNo = r.lines
				line := r.carry
				r.carry = r.carry[:0]
				return line, nil
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, r.classify(err)
		}
		r.chunk, r.pos = c, 0
		r.bytesOut += int64(len(c))
	}
}

func (r *Reader) nextChunk() ([]byte, error) {
	if !r.opened {
		r.opened = true
		r.takeBuffers()
		if r.opts.Pipeline {
			r.src = newPipeSource(r, r.opts.ChunkBytes)
		} else {
			s := &syncSource{buf: chunkBuffer(r.bufs.chunk, r.opts.ChunkBytes)}
			s.r, r.gzip, s.err = r.open()
			r.src = s
		}
	}
	return r.src.next()
}

// open detects the input's format and returns the reader of its uncompressed bytes. When pipelined it runs
// on the pipeline goroutine, so it touches no field of r but r.in and the decompressor's in r.bufs.
func (r *Reader) open() (io.Reader, bool, error) {
	b := r.bufs
	if b.br == nil {
		b.br = bufio.NewReaderSize(r.in, 32<<10)
	} else {
		b.br.Reset(r.in)
	}
	br := b.br
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if b.zr == nil {
			b.zr = new(gzip.Reader)
		}
		if err := b.zr.Reset(br); err != nil {
			return nil, true, err
		}
		return b.zr, true, nil
	}
	return br, false, nil
}

// classify turns an error of the uncompressed stream into the Reader's error.
func (r *Reader) classify(err error) error {
	if src := r.in.err; src != nil && src != io.EOF && errors.Is(err, src) {
		return fmt.Errorf("parser: read object: %w", err)
	}
	if !r.gzip {
		return fmt.Errorf("parser: read object: %w", err)
	}
	partial := len(r.carry)
	r.carry = r.carry[:0]
	return &CorruptError{Offset: r.bytesOut, Line: r.lines, PartialLineBytes: partial,
		CompressedOffset: r.in.n.Load(), Err: err}
}

type countingReader struct {
	r   io.Reader
	n   atomic.Int64
	err error // the last error from r; written and read on the goroutine that reads (see classify)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err != nil {
		c.err = err
	}
	return n, err
}

// source yields chunks of uncompressed input. A chunk is valid until the next call to next.
type source interface {
	next() ([]byte, error)
	close()
}

// fill reads into buf until it is full or r fails.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

type syncSource struct {
	r   io.Reader
	buf []byte
	err error
}

func (s *syncSource) next() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	n, err := fill(s.r, s.buf)
	s.err = err
	if n > 0 {
		return s.buf[:n], nil
	}
	return nil, err
}

func (s *syncSource) close() {}

type chunk struct {
	b    []byte
	err  error
	gzip bool // the input is gzip
}

// pipeSource decompresses on its own goroutine into a small ring of buffers.
type pipeSource struct {
	full chan chunk
	free chan []byte
	done chan struct{}
	once sync.Once
	cur  []byte
	err  error
	size int
	// finished tells that the goroutine has handed over its last chunk and returns.
	finished bool
	gzip     *bool // the Reader's flag, set on Next's goroutine from what the pipeline goroutine found
	// exited is closed when the pipeline goroutine returns.
	exited chan struct{}
}

func newPipeSource(r *Reader, size int) *pipeSource {
	p := &pipeSource{
		full:   make(chan chunk, pipelineBuffers),
		free:   make(chan []byte, pipelineBuffers),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		size:   size,
	}
	pooled := r.bufs.pipe
	for i := range pipelineBuffers {
		var b []byte
		if i < len(pooled) {
			b = pooled[i]
		}
		p.free <- chunkBuffer(b, size)
	}
	p.gzip = &r.gzip
	go p.run(r)
	return p
}

func (p *pipeSource) run(r *Reader) {
	defer close(p.exited)
	in, gz, err := r.open()
	if err != nil {
		select {
		case p.full <- chunk{err: err, gzip: gz}:
		case <-p.done:
		}
		return
	}
	for {
		var buf []byte
		select {
		case buf = <-p.free:
		case <-p.done:
			return
		}
		n, err := fill(in, buf)
		select {
		case p.full <- chunk{b: buf[:n], err: err, gzip: gz}:
		case <-p.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *pipeSource) next() ([]byte, error) {
	if p.cur != nil {
		p.free <- p.cur[:cap(p.cur)] // never blocks: the ring has room for every buffer
		p.cur = nil
	}
	if p.err != nil {
		return nil, p.err
	}
	c := <-p.full
	p.err = c.err
	p.finished = c.err != nil
	*p.gzip = c.gzip
	if len(c.b) == 0 {
		if c.b != nil {
			p.free <- c.b[:cap(c.b)]
		}
		if p.err == nil {
			p.err = io.ErrNoProgress
		}
		return nil, p.err
	}
	p.cur = c.b
	return c.b, nil
}

func (p *pipeSource) close() { p.once.Do(func() { close(p.done) }) }

// buffers appends the ring's buffers to dst; the goroutine must have exited.
func (p *pipeSource) buffers(dst [][]byte) [][]byte {
	if p.cur != nil {
		dst = append(dst, p.cur[:cap(p.cur)])
		p.cur = nil
	}
	for {
		select {
		case b := <-p.free:
			dst = append(dst, b[:cap(b)])
		case c := <-p.full:
			if c.b != nil {
				dst = append(dst, c.b[:cap(c.b)])
			}
		default:
			return dst
		}
	}
}

// ---- turning a line into events ----

// parseLine returns the first event of r.line, or nil when the line yields none (an empty array).
func (r *Reader) parseLine() *Event {
	line := r.line
	i := skipWS(line, 0)
	switch line[i] {
	case '{':
		ev := r.newEvent()
		if r.parseRecord(line, i, ev) {
			return ev
		}
	case '[':
		if json.Valid(line) {
			r.arr.reset(line)
			r.arrPos = skipWS(line, i+1)
			if line[r.arrPos] == ']' {
				r.arrPos = 0
				r.emptyArrays++
				return nil
			}
			return r.nextArrayElement()
		}
	default:
		if json.Valid(line) {
			ev := r.newEvent()
			r.scalarMessage(line[i:skipValueEnd(line, i)], ev)
			return ev
		}
	}
	// not valid JSON: the raw text is the message
	r.malformed++
	ev := r.newEvent()
	ev.Message = line
	r.timestamps(ev, line, false, nil)
	return ev
}

// skipValueEnd returns the end of the (valid) value at line[i:] without trailing whitespace.
func skipValueEnd(line []byte, i int) int {
	e := len(line)
	for e > i && isWS(line[e-1]) {
		e--
	}
	return e
}

func (r *Reader) newEvent() *Event {
	r.ev = Event{Line: r.lineNo}
	return &r.ev
}

// nextArrayElement returns the event of the next element of a pending array line (validated by goccy/go-json
// when the line was read), or nil when the array is exhausted.
func (r *Reader) nextArrayElement() *Event {
	line := r.line
	i := r.arrPos
	if i == 0 {
		return nil
	}
	e := r.arr.skipValue(i)
	if e < 0 { // cannot happen on a validated line; end the array rather than loop
		r.arrPos = 0
		return nil
	}
	next := skipWS(line, e)
	if next < len(line) && line[next] == ',' {
		r.arrPos = skipWS(line, next+1)
	} else {
		r.arrPos = 0
	}
	ev := r.newEvent()
	if line[i] == '{' && r.parseRecord(line[:e], i, ev) {
		return ev
	}
	r.scalarMessage(line[i:e], ev)
	return ev
}

// scalarMessage sets the message of a JSON value that is not a Vector record (a string's body, or the text
// of any other value) and its timestamp.
func (r *Reader) scalarMessage(v []byte, ev *Event) {
	text := v
	if len(v) >= 2 && v[0] == '"' {
		end, class, t := scanStringBody(v, 1, r.unesc[:0])
		if end != len(v)-1 || class == bodyInvalid {
			// cannot happen: v was validated as JSON; deliver the raw text rather than nothing
			ev.Message = v
		} else {
			if class != bodyPlain {
				r.unesc = t
			}
			r.setMessage(v[1:end], class, t, ev)
			text = t
		}
	} else {
		ev.Message = v
	}
	r.timestamps(ev, text, false, nil)
}

// setMessage sets ev's message from a JSON string body classified by scanStringBody; text is its
// unescaped text.
func (r *Reader) setMessage(body []byte, class int, text []byte, ev *Event) {
	if class == bodyInvalidUTF {
		r.recBuf = append(r.recBuf[:0], text...)
		ev.Message = r.recBuf
		return
	}
	ev.Message, ev.Escaped = body, true
	ev.TextLen, ev.UnicodeEscapes = len(text), class == bodyUEscapes
}

// The record keys the parser reads.
const (
	keyOther = iota
	keyMessage
	keyTimestamp
	keyClusterID
	keyNamespace
	keyApplication
	keyPodName
	keyVectorOther // Vector's other fields, dropped from a record without message
)

func recordKey(k []byte) int {
	switch string(k) {
	case "message":
		return keyMessage
	case "timestamp":
		return keyTimestamp
	case "cluster_id":
		return keyClusterID
	case "namespace":
		return keyNamespace
	case "application":
		return keyApplication
	case "pod_name":
		return keyPodName
	case "ingest_timestamp", "kubernetes", "file", "source_type", "stream":
		return keyVectorOther
	}
	return keyOther
}

// parseRecord fills ev from the Vector record at b[i:] (b[i] == '{', nothing but whitespace after the
// record). It returns false when the record is not valid JSON.
func (r *Reader) parseRecord(b []byte, i int, ev *Event) bool {
	sc := &r.sc
	sc.reset(b)
	var spans [keyVectorOther][2]int
	var msgText []byte // the unescaped text of a string message
	msgClass := -1
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == '}' {
		j++
	} else {
		for {
			if j >= len(b) || b[j] != '"' {
				return false
			}
			ke := stringEnd(b, j+1)
			if ke < 0 {
				return false
			}
			key := b[j+1 : ke]
			id := recordKey(key)
			if id == keyOther && bytes.IndexByte(key, '\\') >= 0 {
				u, err := appendUnescaped(r.tsBuf[:0], key)
				if err != nil {
					return false
				}
				r.tsBuf = u
				id = recordKey(u)
			}
			j = skipWS(b, ke+1)
			if j >= len(b) || b[j] != ':' {
				return false
			}
			j = skipWS(b, j+1)
			var e int
			if id == keyMessage && j < len(b) && b[j] == '"' {
				end, class, text := scanStringBody(b, j+1, r.unesc[:0])
				if end < 0 || class == bodyInvalid {
					return false
				}
				if class != bodyPlain {
					r.unesc = text
				}
				msgText, msgClass = text, class
				e = end + 1
			} else if j < len(b) && b[j] == '{' && r.skips.min > 0 {
				if e = r.skips.lookup(b, j); e < 0 {
					if e = sc.skipValue(j); e < 0 {
						return false
					}
					r.skips.add(b[j:e])
				}
				if id == keyMessage {
					msgClass = -1
				}
			} else {
				if e = sc.skipValue(j); e < 0 {
					return false
				}
				if id == keyMessage {
					msgClass = -1
				}
			}
			if id != keyOther && id != keyVectorOther {
				spans[id] = [2]int{j, e}
			}
			j = skipWS(b, e)
			if j >= len(b) {
				return false
			}
			if b[j] == ',' {
				j = skipWS(b, j+1)
				continue
			}
			if b[j] != '}' {
				return false
			}
			j++
			break
		}
	}
	if skipWS(b, j) != len(b) {
		return false
	}
	for id := keyClusterID; id <= keyPodName; id++ {
		s := spans[id]
		if s[1] == 0 {
			continue
		}
		v := b[s[0]:s[1]]
		if v[0] != '"' {
			continue // not a string: ignore
		}
		v = v[1 : len(v)-1]
		if indexBackslash(v) >= 0 {
			u, err := appendUnescaped(r.metaBuf[id-keyClusterID][:0], v)
			if err != nil {
				return false
			}
			r.metaBuf[id-keyClusterID] = u
			v = u
		}
		switch id {
		case keyClusterID:
			ev.ClusterID = v
		case keyNamespace:
			ev.Namespace = v
		case keyApplication:
			ev.Application = v
		case keyPodName:
			ev.PodName = v
		}
	}
	msgObject := false
	if s := spans[keyMessage]; s[1] != 0 {
		v := b[s[0]:s[1]]
		switch v[0] {
		case '"':
			r.setMessage(v[1:len(v)-1], msgClass, msgText, ev)
		case '{', '[':
			r.msgBuf.Reset()
			if err := json.Compact(&r.msgBuf, v); err != nil {
				return false
			}
			ev.Message = r.msgBuf.Bytes()
			msgText = ev.Message
			msgObject = v[0] == '{'
		default:
			if !json.Valid(v) {
				return false
			}
			ev.Message, msgText = v, v
		}
	} else {
		if !r.recordWithoutMessage(b, i) {
			return false
		}
		ev.Message = r.msgBuf.Bytes()
		msgText = ev.Message
		msgObject = true
	}
	var vts []byte
	if s := spans[keyTimestamp]; s[1] != 0 {
		vts = b[s[0]:s[1]]
	}
	r.timestamps(ev, msgText, msgObject, vts)
	return true
}

// recordWithoutMessage sets r.msgBuf to the compact JSON of the record at b[i:] minus Vector's fields.
func (r *Reader) recordWithoutMessage(b []byte, i int) bool {
	sc := &r.sc
	sc.reset(b)
	out := append(r.recBuf[:0], '{')
	n := 0
	ok := true
	sc.forEachMember(i, func(m member) bool {
		k := b[m.k0:m.k1]
		if m.keyEscaped {
			u, err := appendUnescaped(r.tsBuf[:0], k)
			if err != nil {
				ok = false
				return false
			}
			r.tsBuf = u
			k = u
		}
		if recordKey(k) != keyOther {
			return true
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = append(out, b[m.k0-1:m.k1+1]...)
		out = append(out, ':')
		out = append(out, b[m.v0:m.v1]...)
		return true
	})
	out = append(out, '}')
	r.recBuf = out
	if !ok {
		return false
	}
	r.msgBuf.Reset()
	return json.Compact(&r.msgBuf, out) == nil
}

// timestamps sets ev.Timestamp and ev.Source by the rules of the package documentation. text is the
// message's text (unescaped); msgObject tells that it is a compact JSON object; vts is the record's Vector
// timestamp value (nil when absent).
func (r *Reader) timestamps(ev *Event, text []byte, msgObject bool, vts []byte) {
	ref := refTime{vts: vts, fallback: r.fallbackMs}
	if ms, src, ok := r.messageTimestamp(text, msgObject, &ref); ok {
		ev.Timestamp, ev.Source = ms, src
		return
	}
	if ms, ok := ref.vector(); ok {
		ev.Timestamp, ev.Source = ms, SourceVector
		return
	}
	ev.Timestamp, ev.Source = r.fallbackMs, SourceFallback
}

func (r *Reader) messageTimestamp(text []byte, msgObject bool, ref *refTime) (int64, TimestampSource, bool) {
	if msgObject {
		ms, found, _ := jsonMessageTimestamp(&r.sc, text)
		return ms, SourceMessageJSON, found
	}
	if t := skipWS(text, 0); t < len(text) && text[t] == '{' {
		ms, found, isObject := jsonMessageTimestamp(&r.sc, text[t:skipValueEnd(text, t)])
		if isObject {
			return ms, SourceMessageJSON, found
		}
	}
	return textTimestamp(text, ref)
}
