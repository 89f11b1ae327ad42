package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
)

// NotAvailableError reports a scenario this build cannot run.
type NotAvailableError struct {
	Scenario Scenario
	Reason   string
}

func (e *NotAvailableError) Error() string { return NotDonePrefix + e.Reason }

// iteration processes one pass over the spec's objects and reports what it did.
type iteration func(ctx context.Context) (iterStats, error)

type iterStats struct {
	events, bytes, requests int64
	fillSum                 float64
}

// RunChild runs one Spec in the current process: an untimed warm-up pass, then Reps timed repetitions of
// Iterations passes each. GOMAXPROCS is the caller's business (the parent sets it in the child's environment).
func RunChild(ctx context.Context, cs ChildSpec) (ChildResult, error) {
	if cs.Reps < 1 || cs.Iterations < 1 {
		return ChildResult{}, fmt.Errorf("bench: reps %d and iterations %d must be positive", cs.Reps, cs.Iterations)
	}
	if len(cs.Objects) == 0 {
		return ChildResult{}, errors.New("bench: no objects")
	}
	setup, ok := scenarioSetups[cs.Scenario]
	if !ok {
		return ChildResult{}, &NotAvailableError{Scenario: cs.Scenario, Reason: "this build has no " + string(cs.Scenario) + " scenario"}
	}
	var res ChildResult
	run, cleanup, err := setup(ctx, cs, &res)
	if err != nil {
		return ChildResult{}, fmt.Errorf("bench: set up %s: %w", cs.Name(), err)
	}
	defer cleanup()
	if _, err := run(ctx); err != nil { // warm-up: page cache, pools, log group creation
		return ChildResult{}, fmt.Errorf("bench: %s warm-up: %w", cs.Name(), err)
	}
	var floor iteration
	if cs.PairedFloor {
		if floor, _, err = setupFloor(true)(ctx, cs, nil); err != nil {
			return ChildResult{}, err
		}
	}
	for range cs.Reps {
		var floorSeconds, floorCPU float64
		var floorBytes int64
		if floor != nil {
			// The floor right before each repetition, in the same process: the ratio of the two is far less
			// sensitive to what else the machine is doing than either number alone.
			start, cpu0 := time.Now(), cpuTime()
			for range cs.Iterations {
				st, err := floor(ctx)
				if err != nil {
					return ChildResult{}, fmt.Errorf("bench: %s paired floor: %w", cs.Name(), err)
				}
				floorBytes += st.bytes
			}
			floorSeconds, floorCPU = time.Since(start).Seconds(), cpuTime()-cpu0
		}
		runtime.GC()
		hs := startHeapSampler()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start, cpu0 := time.Now(), cpuTime()
		var rep Rep
		for range cs.Iterations {
			st, err := run(ctx)
			if err != nil {
				hs.stop()
				return ChildResult{}, fmt.Errorf("bench: %s: %w", cs.Name(), err)
			}
			rep.Events += st.events
			rep.UncompressedBytes += st.bytes
			rep.Requests += st.requests
			rep.FillSum += st.fillSum
		}
		rep.Seconds, rep.CPUSeconds = time.Since(start).Seconds(), cpuTime()-cpu0
		runtime.ReadMemStats(&after)
		rep.Mallocs = after.Mallocs - before.Mallocs
		rep.PeakHeapBytes = hs.stop()
		rep.FloorSeconds, rep.FloorCPUSeconds, rep.FloorBytes = floorSeconds, floorCPU, floorBytes
		res.Reps = append(res.Reps, rep)
	}
	res.PeakRSSBytes = peakRSS()
	if cs.CPUProfile != "" {
		if err := profile(ctx, cs, run); err != nil {
			return ChildResult{}, fmt.Errorf("bench: %s profile: %w", cs.Name(), err)
		}
	}
	return res, nil
}

// profileFor is how long profile keeps running iterations: long enough for a useful sample count.
const profileFor = 3 * time.Second

// profile writes a CPU profile of further (untimed) iterations: at least one repetition's worth, and at least
// profileFor.
func profile(ctx context.Context, cs ChildSpec, run iteration) error {
	f, err := os.Create(cs.CPUProfile)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	start := time.Now()
	for i := 0; i < cs.Iterations || time.Since(start) < profileFor; i++ {
		if _, err := run(ctx); err != nil {
			return err
		}
	}
	return nil
}

// cpuTime is the user + system CPU time this process has used, in seconds (0 where rusage is unavailable).
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSS is this process's resident-set high-water mark since it started (VmHWM), or 0 where /proc has none.
// Unlike rusage's maxrss, it is not inherited from the parent across fork and exec.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	v := procField(string(b), "VmHWM")
	kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}

// heapSampler records the peak of live heap objects by sampling runtime/metrics (which does not stop the world).
type heapSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak atomic.Uint64
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func readHeap(s []metrics.Sample) uint64 {
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		return s[0].Value.Uint64()
	}
	return 0
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	s := []metrics.Sample{{Name: heapMetric}}
	h.peak.Store(readHeap(s))
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		s := []metrics.Sample{{Name: heapMetric}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-t.C:
				if v := readHeap(s); v > h.peak.Load() {
					h.peak.Store(v)
				}
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	if v := readHeap([]metrics.Sample{{Name: heapMetric}}); v > h.peak.Load() {
		h.peak.Store(v)
	}
	return h.peak.Load()
}

// scenarioSetups maps a scenario to its set-up; files providing scenarios register here in init.
type scenarioSetup func(ctx context.Context, cs ChildSpec, info *ChildResult) (iteration, func(), error)

var scenarioSetups = map[Scenario]scenarioSetup{
	FloorGunzip: setupFloor(false),
	FloorSplit:  setupFloor(true),
}

// setupFloor measures klauspost gunzip alone, or gunzip plus splitting lines (a bytes.IndexByte per line, no
// copying): nothing that reads these objects can be faster.
func setupFloor(split bool) scenarioSetup {
	return func(_ context.Context, cs ChildSpec, _ *ChildResult) (iteration, func(), error) {
		buf := make([]byte, 256<<10)
		var zr gzip.Reader
		var st iterStats
		one := func(path string) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := zr.Reset(f); err != nil {
				return err
			}
			partial := false
			for {
				n, err := zr.Read(buf)
				st.bytes += int64(n)
				if split {
					b := buf[:n]
					for len(b) > 0 {
						i := bytes.IndexByte(b, '\n')
						if i < 0 {
							partial = true
							break
						}
						st.events++
						partial = false
						b = b[i+1:]
					}
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
			}
			if partial {
				st.events++
			}
			return nil
		}
		// One iteration reads every object once.
		run := func(context.Context) (iterStats, error) {
			st = iterStats{}
			for _, path := range cs.Objects {
				if err := one(path); err != nil {
					return st, err
				}
			}
			if !split {
				st.events = 0
			}
			return st, nil
		}
		return run, func() {}, nil
	}
}
