package parser

import (
	"bytes"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/logrouter/logrouter/bench/corpus"
)

// benchObject is a realistic Vector object (bench/corpus) of 32 MiB uncompressed, gzip-compressed.
var benchObject = sync.OnceValues(func() ([]byte, corpus.Summary) {
	var buf bytes.Buffer
	sum, err := corpus.Generate(&buf, corpus.Options{Seed: 42, TargetBytes: 32 << 20,
		Start: time.Date(2025, 8, 30, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		panic(err)
	}
	return buf.Bytes(), sum
})

// cpuMeter reports, beside the wall-clock MB/s, the MB per CPU-second the process used (user + system, all
// threads, GC included): on a shared machine wall time mostly measures the neighbours.
type cpuMeter struct {
	b     *testing.B
	start time.Duration
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) *cpuMeter { return &cpuMeter{b: b, start: cpuTime()} }

func (m *cpuMeter) stop(bytesPerOp int64) {
	if d := cpuTime() - m.start; d > 0 {
		m.b.ReportMetric(float64(bytesPerOp)*float64(m.b.N)/d.Seconds()/1e6, "cpuMB/s")
	}
}

// BenchmarkFloor is the floor the parser is measured against: gunzip and split into lines, nothing else.
func BenchmarkFloor(b *testing.B) {
	obj, sum := benchObject()
	b.SetBytes(sum.UncompressedBytes)
	b.ReportAllocs()
	buf := make([]byte, defaultChunkBytes)
	cpu := startCPU(b)
	defer cpu.stop(sum.UncompressedBytes)
	for b.Loop() {
		zr, err := gzip.NewReader(bytes.NewReader(obj))
		if err != nil {
			b.Fatal(err)
		}
		lines := 0
		for {
			n, err := fill(zr, buf)
			for c := buf[:n]; ; {
				i := bytes.IndexByte(c, '\n')
				if i < 0 {
					break
				}
				lines++
				c = c[i+1:]
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if int64(lines) != sum.Lines {
			b.Fatalf("%d lines, want %d", lines, sum.Lines)
		}
	}
}

func benchmarkParse(b *testing.B, pipeline bool) {
	obj, sum := benchObject()
	b.SetBytes(sum.UncompressedBytes)
	b.ReportAllocs()
	cpu := startCPU(b)
	defer cpu.stop(sum.UncompressedBytes)
	for b.Loop() {
		r := NewReader(bytes.NewReader(obj), time.Unix(0, 0), func(o *Options) { o.Pipeline = pipeline })
		n := int64(0)
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		r.Close()
		if n != sum.Lines {
			b.Fatalf("%d events, want %d", n, sum.Lines)
		}
	}
}

// BenchmarkParse is the whole parse (gunzip, scan, timestamp extraction) on one goroutine.
func BenchmarkParse(b *testing.B) { benchmarkParse(b, false) }

// BenchmarkParsePipelined decompresses on a second goroutine; run it with -cpu 2.
func BenchmarkParsePipelined(b *testing.B) { benchmarkParse(b, true) }

// benchObjectPlain is benchObject's content, uncompressed.
var benchObjectPlain = sync.OnceValues(func() ([]byte, corpus.Summary) {
	var buf bytes.Buffer
	sum, err := corpus.Generate(&buf, corpus.Options{Seed: 42, TargetBytes: 32 << 20,
		Start: time.Date(2025, 8, 30, 10, 0, 0, 0, time.UTC), Uncompressed: true})
	if err != nil {
		panic(err)
	}
	return buf.Bytes(), sum
})

// BenchmarkScan is the parse without gunzip, on the uncompressed object: where the scanner's time goes.
func BenchmarkScan(b *testing.B) {
	raw, sum := benchObjectPlain()
	b.SetBytes(sum.UncompressedBytes)
	b.ReportAllocs()
	cpu := startCPU(b)
	defer cpu.stop(sum.UncompressedBytes)
	for b.Loop() {
		r := NewReader(bytes.NewReader(raw), time.Unix(0, 0))
		n := int64(0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
			n++
		}
		if n != sum.Lines {
			b.Fatalf("%d events, want %d", n, sum.Lines)
		}
	}
}
