package bench

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// The CPU and memory goals of issue 17 ("Performance, round two"), judged on the 64 MiB object.
const (
	targetSizeMiB       = 64
	goalParseCPU        = 0.75 // parse on one core, × floor (CPU time)
	goalParsePipeWall   = 0.90 // parse pipelined on two cores, × floor (wall time)
	goalDeliverCPU      = 0.62 // deliver on one core, × floor (CPU time)
	goalDeliverPerParse = 0.85 // deliver / parse on one core, same run (CPU time)
	goalDeliverPipeWall = 0.80 // deliver pipelined on two cores, × floor (wall time); round one's goal
	goalRSSMiB          = 48   // peak RSS of deliver and deliver/pipeline on the 64 MiB object
	goalRSSFlat         = 1.10 // largest / smallest peak RSS of the same scenario from 1 MiB to 256 MiB objects
)

// targetSize is the object size the speed and memory goals are judged on: 64 MiB when measured, else the
// largest size of the run.
func (rep *Report) targetSize() int {
	if slices.Contains(rep.sizes(), targetSizeMiB) {
		return targetSizeMiB
	}
	return rep.largestSize()
}

// speedTargets relates parse and deliver to the floor. One-core targets are judged on CPU time: on an idle
// machine it equals wall time for one core, and on a busy one it is what the scenario cost rather than how
// long it waited. Multi-core targets need wall time.
func (rep *Report) speedTargets() []Target {
	size := rep.targetSize()
	procs := min(2, runtime.NumCPU())
	var ts []Target
	ratio := func(name string, s Spec, goal float64) {
		s.SizeMiB = size
		onCPU := s.Procs == 1
		t := Target{Name: name, Goal: fmt.Sprintf("≥ %.2f× floor (wall time)", goal), Status: "not measured"}
		if onCPU {
			t.Goal = fmt.Sprintf("≥ %.2f× floor (CPU time)", goal)
		}
		if r, ok := rep.find(s); ok && r.RatioToFloor > 0 {
			t.Value = r.RatioToFloor
			if onCPU && r.CPURatioToFloor > 0 {
				t.Value = r.CPURatioToFloor
			}
			t.Measured = fmt.Sprintf("%.2f× CPU, %.2f× wall (%s)", r.CPURatioToFloor, r.RatioToFloor, r.Name())
			t.Status = metOrMissed(t.Value >= goal)
		}
		ts = append(ts, t)
	}
	ratio("parse, one core", Spec{Scenario: Parse, Procs: 1}, goalParseCPU)
	ratio("parse, one object pipelined on two cores", Spec{Scenario: Parse, Procs: procs, Pipeline: true}, goalParsePipeWall)
	ratio("deliver, one core", Spec{Scenario: Deliver, Procs: 1}, goalDeliverCPU)

	// What batching and sending add to parsing, both on one core in the same run.
	dp := Target{Name: "deliver / parse, one core", Goal: fmt.Sprintf("≥ %.2f (CPU time, same run)", goalDeliverPerParse), Status: "not measured"}
	d, okD := rep.find(Spec{Scenario: Deliver, Procs: 1, SizeMiB: size})
	p, okP := rep.find(Spec{Scenario: Parse, Procs: 1, SizeMiB: size})
	if okD && okP && d.CPURatioToFloor > 0 && p.CPURatioToFloor > 0 {
		dp.Value = d.CPURatioToFloor / p.CPURatioToFloor
		dp.Measured = fmt.Sprintf("%.2f (deliver %.2f× / parse %.2f× floor CPU, %d MiB)", dp.Value, d.CPURatioToFloor, p.CPURatioToFloor, size)
		dp.Status = metOrMissed(dp.Value >= goalDeliverPerParse)
	}
	ts = append(ts, dp)
	ratio("deliver, two cores (round one)", Spec{Scenario: Deliver, Procs: procs, Pipeline: true}, goalDeliverPipeWall)
	if r, ok := rep.find(Spec{Scenario: Deliver, Procs: procs, Pipeline: true, SizeMiB: size}); ok {
		if c, ok := sharedCeiling(r, runtime.NumCPU()); ok {
			t := &ts[len(ts)-1]
			t.Measured += fmt.Sprintf("; at most %.2f× on this machine, whose %d cores the endpoint shares "+
				"(logrouter %.0f + endpoint %.0f MB/CPU-s)", c, runtime.NumCPU(), r.MBPerCPUSecond, r.EndpointMBPerCPUSecond)
		}
	}
	return ts
}

// sharedCeiling is the best wall-time ratio to the floor a deliver measurement r could reach on a machine of
// cpus cores that also runs the endpoint: every MB costs 1/L CPU-seconds in logrouter and 1/E in the
// endpoint, so no more than cpus / (1/L + 1/E) MB/s get through, nor more than logrouter's own cores allow;
// the floor is one core's wall-time throughput in the same run.
func sharedCeiling(r Result, cpus int) (float64, bool) {
	l, e, f := r.MBPerCPUSecond, r.EndpointMBPerCPUSecond, r.PairedFloorMBPerSec
	if l <= 0 || e <= 0 || f <= 0 || cpus < 1 {
		return 0, false
	}
	w := min(float64(cpus)/(1/l+1/e), float64(min(r.Procs, cpus))*l)
	return w / f, true
}

// memoryTargets are the peak-RSS goals of deliver and deliver/pipeline (below goalRSSMiB on the 64 MiB
// object, flat within goalRSSFlat across object sizes) and the end-to-end memory per worker, reported for
// sizing pods.
func (rep *Report) memoryTargets() []Target {
	size := rep.targetSize()
	procs := min(2, runtime.NumCPU())
	variants := []Spec{{Scenario: Deliver, Procs: 1}, {Scenario: Deliver, Procs: procs, Pipeline: true}}

	peak := Target{Name: "peak RSS, deliver", Goal: fmt.Sprintf("< %d MiB on a %d MiB object (deliver, deliver/pipeline)", goalRSSMiB, targetSizeMiB), Status: "not measured"}
	var parts []string
	ok := true
	for _, v := range variants {
		v.SizeMiB = size
		if r, found := rep.find(v); found && r.MaxRSSBytes > 0 {
			peak.Value = max(peak.Value, float64(r.MaxRSSBytes))
			parts = append(parts, fmt.Sprintf("%s %s", r.Name(), mib(r.MaxRSSBytes)))
			ok = ok && r.MaxRSSBytes < goalRSSMiB<<20
		}
	}
	if len(parts) > 0 {
		peak.Measured = strings.Join(parts, ", ")
		peak.Status = metOrMissed(ok && size >= targetSizeMiB)
		if size < targetSizeMiB {
			peak.Status = "not measured"
			peak.Measured += fmt.Sprintf(" (no %d MiB object in this run)", targetSizeMiB)
		}
	}

	flat := Target{Name: "peak RSS flat across object sizes", Goal: fmt.Sprintf("largest ≤ %.2f× smallest from 1 MiB to 256 MiB objects (deliver, deliver/pipeline)", goalRSSFlat), Status: "not measured"}
	parts, ok = nil, true
	for _, v := range variants {
		var lo, hi int64
		var steps []string
		for _, s := range rep.sizes() {
			v.SizeMiB = s
			r, found := rep.find(v)
			if !found || r.MaxRSSBytes == 0 {
				continue
			}
			if lo == 0 || r.MaxRSSBytes < lo {
				lo = r.MaxRSSBytes
			}
			hi = max(hi, r.MaxRSSBytes)
			steps = append(steps, fmt.Sprintf("%s @%d", mib(r.MaxRSSBytes), s))
		}
		if len(steps) < 2 {
			continue
		}
		g := float64(hi) / float64(lo)
		flat.Value = max(flat.Value, g)
		ok = ok && g <= goalRSSFlat
		parts = append(parts, fmt.Sprintf("%s %s (%.2f×)", v.Variant(), strings.Join(steps, " → "), g))
	}
	if len(parts) > 0 {
		flat.Measured = strings.Join(parts, "; ")
		flat.Status = metOrMissed(ok)
	}

	// End to end: each worker holds one object in flight; what it costs is what an operator sizes pods by.
	perWorker := Target{Name: "end-to-end RSS per worker", Goal: "reported at 1 and 4 workers (to size pods)", Status: "not measured"}
	e2eSize := 0
	for _, r := range rep.Results {
		if r.Status == StatusOK && r.Scenario == EndToEnd && r.MaxRSSBytes > 0 {
			e2eSize = max(e2eSize, r.SizeMiB)
		}
	}
	var w1, wMax Result
	for _, r := range rep.Results {
		if r.Status != StatusOK || r.Scenario != EndToEnd || r.SizeMiB != e2eSize || r.MaxRSSBytes == 0 {
			continue
		}
		if r.Workers == 1 {
			w1 = r
		}
		if r.Workers > wMax.Workers {
			wMax = r
		}
	}
	if w1.Workers == 1 && wMax.Workers > 1 {
		per := float64(wMax.MaxRSSBytes-w1.MaxRSSBytes) / float64(wMax.Workers-1)
		perWorker.Value = per
		perWorker.Measured = fmt.Sprintf("w1 %s, w%d %s: %s + %.1f MiB a worker beyond the first (%d MiB objects)",
			mib(w1.MaxRSSBytes), wMax.Workers, mib(wMax.MaxRSSBytes), mib(w1.MaxRSSBytes), per/(1<<20), e2eSize)
		perWorker.Status = "reported"
	}
	return []Target{peak, flat, perWorker}
}
