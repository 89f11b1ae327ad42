package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logrouter/logrouter/bench/corpus"
	"github.com/logrouter/logrouter/bench/cost"
)

// The test binary doubles as a child process and as a fake endpoint, selected by this variable.
const roleEnv = "LOGROUTER_BENCH_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "child":
		var cs ChildSpec
		if err := json.NewDecoder(os.Stdin).Decode(&cs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		res, err := RunChild(context.Background(), cs)
		if err != nil {
			fmt.Fprintln(os.Stderr, "logrouter bench:", err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(res)
		os.Exit(0)
	case "endpoint":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		fmt.Println("http://127.0.0.1:4567")
		<-ctx.Done()
		os.Exit(0)
	case "bad-endpoint":
		fmt.Println("listening somewhere")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMinRequests(t *testing.T) {
	const day = 24 * 60 * 60 * 1000
	many := func(n, size int, ts int64) []EventShape {
		out := make([]EventShape, n)
		for i := range out {
			out[i] = EventShape{Timestamp: ts, Bytes: size}
		}
		return out
	}
	tests := map[string]struct {
		events   []EventShape
		maxEvent int
		want     int64
	}{
		"none":                     {nil, 0, 0},
		"only empty messages":      {many(5, 0, 0), 0, 0},
		"one small event":          {many(1, 10, 0), 0, 1},
		"exactly one request full": {many(1, MaxBatchBytes-EventOverhead, 0), 0, 1},
		"one byte over":            {append(many(1, MaxBatchBytes-EventOverhead, 0), EventShape{Bytes: 1}), 0, 2},
		"count bound":              {many(10_001, 1, 0), 0, 2},
		"count exactly":            {many(10_000, 1, 0), 0, 1},
		"bytes bound":              {many(4000, 1000, 0), 0, 4}, // 4000 × 1026 = 4.1 MB
		// A 3 MiB message split into 1,048,550-byte pieces: 3 pieces + overhead > 3 requests' worth.
		"oversized message split": {many(1, 3<<20, 0), 0, 4},
		"smaller event limit":     {many(1, 1<<20, 0), 262_144, 2}, // 5 pieces, 130 bytes of overhead
		"span within a day":       {[]EventShape{{0, 1}, {day, 1}}, 0, 1},
		"span over a day":         {[]EventShape{{0, 1}, {day + 1, 1}}, 0, 2},
		"three windows unsorted":  {[]EventShape{{3 * day, 1}, {0, 1}, {day + 5, 1}, {10, 1}}, 0, 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := MinRequests(tc.events, tc.maxEvent); got != tc.want {
				t.Errorf("MinRequests = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := map[string]struct {
		in   []float64
		want float64
	}{
		"empty": {nil, 0}, "one": {[]float64{3}, 3}, "odd unsorted": {[]float64{5, 1, 3}, 3},
		"even": {[]float64{4, 1, 2, 3}, 2.5},
	}
	for name, tc := range tests {
		if got := median(tc.in); got != tc.want {
			t.Errorf("%s: median(%v) = %v, want %v", name, tc.in, got, tc.want)
		}
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 {
		t.Error("median reordered its input")
	}
}

func TestPlan(t *testing.T) {
	specs := Plan(Config{Sizes: []int{1, 16}, Workers: []int{1, 4}, Scenarios: []Scenario{Parse, EndToEnd}})
	var names []string
	for _, s := range specs {
		names = append(names, s.Name())
	}
	p := runtime.NumCPU()
	want := []string{"floor-split p1 1MiB", "parse p1 1MiB"}
	if p > 1 {
		want = append(want, "parse/pipeline p2 1MiB")
	}
	want = append(want, fmt.Sprintf("e2e/pipeline w1 p%d 1MiB", p), fmt.Sprintf("e2e/pipeline w4 p%d 1MiB", p))
	if len(names) != 2*len(want) || strings.Join(names[:len(want)], ";") != strings.Join(want, ";") {
		t.Fatalf("plan:\n%s\nwant first half:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if specs[len(want)].SizeMiB != 16 {
		t.Errorf("second half is not the 16 MiB objects: %v", specs[len(want)])
	}
}

func TestPlanEndToEndSizes(t *testing.T) {
	var e2e, deliver256 int
	for _, s := range Plan(Config{Sizes: []int{64, 256}, Workers: []int{1, 4}, Scenarios: []Scenario{Deliver, EndToEnd}}) {
		switch {
		case s.Scenario == EndToEnd && s.SizeMiB != 64:
			t.Errorf("end to end on %d MiB objects", s.SizeMiB)
		case s.Scenario == EndToEnd:
			e2e++
		case s.Scenario == Deliver && s.SizeMiB == 256:
			deliver256++
		}
	}
	if e2e != 2 || deliver256 == 0 {
		t.Errorf("%d end-to-end specs on 64 MiB objects (want 2), %d deliver specs on 256 MiB ones", e2e, deliver256)
	}
	c := Config{}
	if err := c.Complete(); err != nil || !slices.Equal(c.Sizes, []int{1, 16, 64, 256}) {
		t.Errorf("default sizes %v (%v)", c.Sizes, err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]Config{
		"size zero":        {Sizes: []int{0}},
		"size huge":        {Sizes: []int{4096}},
		"workers zero":     {Workers: []int{0}},
		"reps too many":    {Reps: 1000},
		"unknown scenario": {Scenarios: []Scenario{"nope"}},
	}
	for name, c := range tests {
		if err := c.Complete(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Config{Quick: true}
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	if c.Reps != 3 || len(c.Sizes) != 2 || c.RepBytes != 16<<20 {
		t.Errorf("quick defaults: %+v", c)
	}
}

// tinyConfig runs the floors on a 1 MiB object, once per repetition.
func tinyConfig(t *testing.T, launch Launcher, scenarios ...Scenario) Config {
	return Config{Sizes: []int{1}, Workers: []int{1}, Scenarios: scenarios, Reps: 2, RepBytes: 1 << 20,
		E2EBytes: 1 << 20, Tenants: 2, WorkDir: t.TempDir(), Launch: launch}
}

func TestRunFloorsInProcess(t *testing.T) {
	var progress bytes.Buffer
	c := tinyConfig(t, InProcess, FloorGunzip, FloorSplit)
	c.Progress = &progress
	now := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	// The clock steps a second when the corpus is written and a minute per scenario, so the report's times
	// show which part of the run they cover.
	c.Now = func() time.Time { return now }
	c.Progress = &clockStepper{w: &progress, now: &now}
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	now = time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	if got, want := rep.ScenariosStarted.Sub(rep.Started), time.Second; got != want {
		t.Errorf("corpus generation took %s on the test clock, want %s", got, want)
	}
	if got, want := rep.Finished.Sub(rep.Started), time.Second+2*time.Minute; got != want {
		t.Errorf("the run took %s on the test clock, want %s (corpus and both scenarios)", got, want)
	}
	// The same object, regenerated, tells how many lines the floor must have split.
	var sink bytes.Buffer
	sum, err := corpus.Generate(&sink, corpus.Options{Seed: c.Seed, TargetBytes: 1 << 20, Start: now.Add(time.Second - 20*time.Minute).Truncate(time.Second),
		ClusterID: "bench-cluster", Namespace: "tenant-00", Application: "kube-apiserver", PodName: "kube-apiserver-0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results: %+v", len(rep.Results), rep.Results)
	}
	if rep.Machine.CPUs != runtime.NumCPU() || rep.Machine.GoVersion == "" || rep.Config.Reps != 2 {
		t.Errorf("report header: %+v %+v", rep.Machine, rep.Config)
	}
	for _, r := range rep.Results {
		if r.Status != StatusOK || r.Reps != 2 || r.MBPerSec <= 0 {
			t.Errorf("%s: %+v", r.Name(), r)
		}
		if r.UncompressedBytes != sum.UncompressedBytes {
			t.Errorf("%s read %d bytes, object has %d", r.Name(), r.UncompressedBytes, sum.UncompressedBytes)
		}
	}
	split := rep.Results[1]
	if split.Scenario != FloorSplit || split.Events != sum.Lines || split.RatioToFloor != 1 {
		t.Errorf("floor-split: events %d (want %d), ratio %v", split.Events, sum.Lines, split.RatioToFloor)
	}
	gz := rep.Results[0]
	if gz.Events != 0 || gz.RatioToFloor <= 0 || gz.PairedFloorMBPerSec <= 0 || len(gz.Raw) != 2 || gz.Raw[0].FloorBytes != sum.UncompressedBytes {
		t.Errorf("floor-gunzip is not paired with a floor: %+v", gz)
	}
	if !strings.Contains(progress.String(), "[ 2/2] floor-split p1 1MiB") {
		t.Errorf("progress:\n%s", progress.String())
	}
	if entries, _ := os.ReadDir(c.WorkDir); len(entries) != 1 {
		t.Errorf("work dir holds %d files, want the one object", len(entries))
	}
}

func TestRunWithoutEndpointReportsNotDone(t *testing.T) {
	rep, err := Run(context.Background(), tinyConfig(t, InProcess, Deliver))
	if err != nil {
		t.Fatal(err)
	}
	var saw bool
	for _, r := range rep.Results {
		if r.Scenario == Deliver {
			saw = true
			if r.Status != StatusNotDone || !strings.Contains(r.Note, "endpoint") {
				t.Errorf("%s: %s %q", r.Name(), r.Status, r.Note)
			}
		}
	}
	if !saw {
		t.Fatal("no deliver result")
	}
}

func TestRunReportsLauncherFailures(t *testing.T) {
	launch := func(_ context.Context, cs ChildSpec) (ChildResult, error) {
		if cs.Scenario == FloorGunzip {
			return ChildResult{}, errors.New("child crashed")
		}
		if cs.Scenario == Parse {
			return ChildResult{}, notDoneError{"no parser"}
		}
		return InProcess(context.Background(), cs)
	}
	rep, err := Run(context.Background(), tinyConfig(t, launch, FloorGunzip, Parse))
	if err != nil {
		t.Fatal(err)
	}
	got := map[Scenario]Result{}
	for _, r := range rep.Results {
		got[r.Scenario] = r
	}
	if r := got[FloorGunzip]; r.Status != StatusFailed || r.Note != "child crashed" {
		t.Errorf("floor-gunzip: %+v", r)
	}
	if r := got[FloorSplit]; r.Status != StatusOK {
		t.Errorf("floor-split: %+v", r)
	}
	if r := got[Parse]; r.Status != StatusNotDone || r.Note != "no parser" {
		t.Errorf("parse: %+v", r)
	}
}

func TestRunChildRejectsBadSpecs(t *testing.T) {
	tests := map[string]ChildSpec{
		"no reps":    {Spec: Spec{Scenario: FloorSplit}, Objects: []string{"x"}, Iterations: 1},
		"no objects": {Spec: Spec{Scenario: FloorSplit}, Reps: 1, Iterations: 1},
		"missing":    {Spec: Spec{Scenario: FloorSplit}, Objects: []string{filepath.Join(t.TempDir(), "nope")}, Reps: 1, Iterations: 1},
	}
	for name, cs := range tests {
		if _, err := RunChild(context.Background(), cs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := RunChild(context.Background(), ChildSpec{Spec: Spec{Scenario: "unknown"}, Objects: []string{"x"}, Reps: 1, Iterations: 1})
	var na *NotAvailableError
	if !errors.As(err, &na) {
		t.Errorf("unknown scenario: %v", err)
	}
}

func writeObject(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "obj.log.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := corpus.Generate(f, corpus.Options{Seed: 3, TargetBytes: size}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestProcessLauncher(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(roleEnv, "child")
	launch := ProcessLauncher(exe)
	obj := writeObject(t, 256<<10)
	res, err := launch(context.Background(), ChildSpec{Spec: Spec{Scenario: FloorSplit, Procs: 1, SizeMiB: 1},
		Objects: []string{obj}, Reps: 2, Iterations: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Reps) != 2 || res.Reps[0].Events == 0 || res.Reps[0].UncompressedBytes < 3*(256<<10-corpus.MinLineBytes) {
		t.Errorf("reps: %+v", res.Reps)
	}
	if runtime.GOOS == "linux" && (res.PeakRSSBytes <= 0 || res.MaxRSSBytes <= 0) {
		t.Errorf("RSS not measured: peak %d, rusage %d", res.PeakRSSBytes, res.MaxRSSBytes)
	}
	_, err = launch(context.Background(), ChildSpec{Spec: Spec{Scenario: "unknown", Procs: 1}, Objects: []string{obj}, Reps: 1, Iterations: 1})
	var nd notDoneError
	if !errors.As(err, &nd) || !strings.Contains(nd.reason, "unknown") {
		t.Errorf("unavailable scenario: %v", err)
	}
	_, err = launch(context.Background(), ChildSpec{Spec: Spec{Scenario: FloorSplit, Procs: 1}, Objects: []string{obj + ".missing"}, Reps: 1, Iterations: 1})
	if err == nil || !strings.Contains(err.Error(), "missing") || errors.As(err, &nd) {
		t.Errorf("failing child: %v", err)
	}
}

func TestProcessEndpoint(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(roleEnv, "endpoint")
	url, stop, err := ProcessEndpoint(exe)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if url != "http://127.0.0.1:4567" {
		t.Errorf("url %q", url)
	}
	if cpu, err := stop(); err != nil || cpu <= 0 {
		t.Errorf("stop: %v, CPU %v s", err, cpu)
	}
	t.Setenv(roleEnv, "bad-endpoint")
	if _, _, err := ProcessEndpoint(exe)(context.Background()); err == nil || !strings.Contains(err.Error(), "listening somewhere") {
		t.Errorf("endpoint printing no URL: %v", err)
	}
}

// sampleReport is a run with every kind of row: ok, not done, failed, with requests and workers.
func sampleReport() *Report {
	ok := func(s Spec, mbps, cpuRatio float64, rss int64) Result {
		return Result{Spec: s, Status: StatusOK, Reps: 3, Events: 1000, UncompressedBytes: 64 << 20,
			EventsPerSec: mbps * 400, MBPerSec: mbps, MBPerCPUSecond: mbps, CPURatioToFloor: cpuRatio,
			AllocsPerEvent: 0.5, PeakHeapBytes: 8 << 20, MaxRSSBytes: rss}
	}
	rep := &Report{Machine: Machine{CPU: "Test CPU <3>", CPUs: runtime.NumCPU(), OS: "linux/amd64", GoVersion: "go1.26"},
		Commit: "abc123", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	rep.ScenariosStarted = rep.Started.Add(20 * time.Second)
	rep.Finished = rep.Started.Add(90 * time.Second)
	rep.Config = ReportConfig{Sizes: []int{1, 64}, Workers: []int{1, 2}, Reps: 3}
	for _, size := range []int{1, 64} {
		rep.Results = append(rep.Results,
			ok(Spec{Scenario: FloorSplit, Procs: 1, SizeMiB: size}, 1000, 1, 20<<20),
			ok(Spec{Scenario: Parse, Procs: 1, SizeMiB: size}, 650, 0.65, 30<<20),
			ok(Spec{Scenario: Parse, Procs: 2, Pipeline: true, SizeMiB: size}, 800, 0.6, 30<<20),
		)
		d := ok(Spec{Scenario: Deliver, Procs: 1, SizeMiB: size}, 400, 0.4, int64(size)<<20+40<<20)
		d.Requests, d.MinRequests, d.RequestRatio, d.MeanFill = 103, 100, 1.03, 0.97
		rep.Results = append(rep.Results, d)
		for _, w := range []int{1, 2, 4} {
			rep.Results = append(rep.Results, ok(Spec{Scenario: EndToEnd, Procs: 2, Pipeline: true, Workers: w, SizeMiB: size},
				300*float64(min(w, 2)), 0.5, 50<<20))
		}
	}
	rep.Results = append(rep.Results,
		Result{Spec: Spec{Scenario: Deliver, Procs: 2, Pipeline: true, SizeMiB: 64}, Status: StatusNotDone, Note: "no endpoint | none"},
		Result{Spec: Spec{Scenario: FloorGunzip, Procs: 1, SizeMiB: 64}, Status: StatusFailed, Note: "boom"})
	rep.finish()
	return rep
}

func TestFinishRatiosAndTargets(t *testing.T) {
	rep := sampleReport()
	for _, r := range rep.Results {
		if r.Status == StatusOK && r.Scenario == Parse && r.Procs == 1 && r.RatioToFloor != 0.65 {
			t.Errorf("%s: ratio %v, want 650/1000", r.Name(), r.RatioToFloor)
		}
	}
	want := map[string]string{
		"parse, one core":                          "missed",       // 0.65 CPU < 0.75
		"parse, one object pipelined on two cores": "missed",       // 0.8 wall < 0.9
		"deliver, one core":                        "missed",       // 0.4 < 0.62
		"deliver / parse, one core":                "missed",       // 0.4 / 0.65 < 0.85
		"deliver, two cores (round one)":           "not measured", // not done
		"PutLogEvents requests":                    "missed",       // 1.03 > 1.02
		"peak RSS, deliver":                        "missed",       // 104 MiB on 64 MiB
		"peak RSS flat across object sizes":        "missed",       // 41 -> 104 MiB
		"end-to-end RSS per worker":                "reported",     // 50 MiB at every worker count
		"end-to-end scaling":                       "",             // depends on the CPU count
	}
	for _, tg := range rep.Targets {
		w, ok := want[tg.Name]
		if !ok {
			t.Errorf("unexpected target %q", tg.Name)
			continue
		}
		if w != "" && tg.Status != w {
			t.Errorf("%s: %s (%s), want %s", tg.Name, tg.Status, tg.Measured, w)
		}
		delete(want, tg.Name)
	}
	if len(want) != 0 {
		t.Errorf("targets missing: %v", want)
	}
	if runtime.NumCPU() == 2 {
		if tg := rep.Targets[len(rep.Targets)-1]; tg.Status != "met" || !strings.Contains(tg.Measured, "w2/w1 = 2.00×") {
			t.Errorf("scaling: %+v", tg)
		}
	}
	for _, tg := range rep.Targets {
		if tg.Name == "peak RSS flat across object sizes" && !strings.Contains(tg.Measured, "deliver p1 41.0 MiB @1 → 104.0 MiB @64 (2.54×)") {
			t.Errorf("peak RSS flatness measured %q", tg.Measured)
		}
		if tg.Name == "deliver / parse, one core" && tg.Value != 0.4/0.65 {
			t.Errorf("deliver / parse = %v, want 0.4/0.65", tg.Value)
		}
		if tg.Name == "end-to-end RSS per worker" && !strings.Contains(tg.Measured, "w1 50.0 MiB, w4 50.0 MiB: 50.0 MiB + 0.0 MiB a worker") {
			t.Errorf("per-worker RSS measured %q", tg.Measured)
		}
	}
}

// The two-core deliver target says how far the machine lets it go when the endpoint shares its cores.
func TestSharedCeiling(t *testing.T) {
	r := Result{Spec: Spec{Scenario: Deliver, Procs: 2, Pipeline: true}, MBPerCPUSecond: 600, EndpointMBPerCPUSecond: 300,
		PairedFloorMBPerSec: 1000}
	// 2 cores / (1/600 + 1/300) = 400 MB/s against a 1000 MB/s floor.
	if c, ok := sharedCeiling(r, 2); !ok || math.Abs(c-0.4) > 1e-9 {
		t.Errorf("ceiling %v %v, want 0.4", c, ok)
	}
	// With the endpoint almost free, logrouter's own two cores bound it: 2 × 600 MB/s.
	r.EndpointMBPerCPUSecond = 1e12
	if c, _ := sharedCeiling(r, 8); math.Abs(c-1.2) > 1e-6 {
		t.Errorf("ceiling %v, want 1.2", c)
	}
	r.EndpointMBPerCPUSecond = 0 // not measured (a profiled run)
	if _, ok := sharedCeiling(r, 2); ok {
		t.Error("a ceiling without the endpoint's cost")
	}
	rep := sampleReport()
	for i := range rep.Results {
		if r := &rep.Results[i]; r.Scenario == Deliver && r.Pipeline {
			*r = Result{Spec: r.Spec, Status: StatusOK, Reps: 3, MBPerSec: 300, MBPerCPUSecond: 600, EndpointMBPerCPUSecond: 300,
				PairedFloorMBPerSec: 1000, RatioToFloor: 0.3, CPURatioToFloor: 0.3}
		}
	}
	rep.Targets = nil
	rep.finish()
	cpus := runtime.NumCPU()
	want := fmt.Sprintf("at most %.2f× on this machine, whose %d cores the endpoint shares (logrouter 600 + endpoint 300 MB/CPU-s)",
		min(float64(cpus)/(1.0/600+1.0/300), float64(min(2, cpus))*600)/1000, cpus)
	found := false
	for _, tg := range rep.Targets {
		if tg.Name == "deliver, two cores (round one)" {
			found = true
			if !strings.Contains(tg.Measured, want) {
				t.Errorf("two-core deliver measured %q, want it to hold %q", tg.Measured, want)
			}
		}
	}
	if !found && cpus >= 2 {
		t.Error("no two-core deliver target")
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"floor-split", "parse/pipeline", "e2e/pipeline w4", "103/100", "97.0%", "not done: no endpoint | none",
		"failed: boom", "MISSED", "≥ 0.75× floor (CPU time)", "0.65"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if got := strings.Count(out, "\n"); got < 22 {
		t.Errorf("table has %d lines", got)
	}
}

// clockStepper passes progress through and advances *now as the run reports: a second when it starts
// generating objects, a minute when a scenario starts.
type clockStepper struct {
	w   io.Writer
	now *time.Time
}

func (c *clockStepper) Write(p []byte) (int, error) {
	switch {
	case bytes.Contains(p, []byte("generating")):
		*c.now = c.now.Add(time.Second)
	case bytes.HasPrefix(p, []byte("bench: [")):
		*c.now = c.now.Add(time.Minute)
	}
	return c.w.Write(p)
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Machine: Test CPU <3>", "Commit abc123", "| deliver | 64 MiB | 1 |", "no endpoint \\| none", "**missed**",
		"Run 2026-01-02T03:04:05Z: 1m30s in all (corpus 20s, scenarios 1m10s; full set: sizes 1/64 MiB, workers 1/2, 3 reps)"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	// Every table row has as many cells as the header.
	for _, line := range strings.Split(out, "\n") {
		if n := strings.Count(line, "|") - strings.Count(line, "\\|"); strings.HasPrefix(line, "| ") && n != 14 && n != 5 {
			t.Errorf("ragged row: %s", line)
		}
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != len(rep.Results) || back.Results[1].RatioToFloor != rep.Results[1].RatioToFloor ||
		back.Commit != "abc123" || len(back.Targets) != len(rep.Targets) || back.Results[3].MinRequests != 100 {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, with a line per single-object variant (floor, parse ×2, deliver) and per size in the
	// workers panel.
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	polylines, texts := 0, []string{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
		if cd, ok := tok.(xml.CharData); ok {
			texts = append(texts, string(cd))
		}
	}
	if polylines != 2*(4+2) {
		t.Errorf("%d polylines, want 12", polylines)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"Test CPU <3>", "64 MiB objects", "parse/pipeline p2", "Throughput vs object size", "workers",
		"MB per CPU-second, × floor", "0.6"} {
		if !strings.Contains(all, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

func TestWriteSVGEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := (&Report{}).WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "not measured in this run") != 4 {
		t.Errorf("empty chart:\n%s", b.String())
	}
}

func TestNiceMax(t *testing.T) {
	tests := map[float64]float64{0: 1, 0.7: 1, 1: 1, 1.1: 2, 230: 250, 999: 1000, 1001: 2000}
	for in, want := range tests {
		if got, step := niceMax(in); got != want || step != got/5 {
			t.Errorf("niceMax(%v) = %v, %v; want %v", in, got, step, want)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteFiles(dir, sampleReport()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"results.json", "results.md", "table.txt", "chart.svg"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestProcField(t *testing.T) {
	s := "Name:\tx\nVmHWM:\t  1234 kB\nmodel name\t: Some CPU\n"
	if procField(s, "VmHWM") != "1234 kB" || procField(s, "model name") != "Some CPU" || procField(s, "nope") != "" {
		t.Error("procField")
	}
}

func TestUpdateMarkdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	doc := "# Title\n\nprose before\n\n" + MarkdownBegin + "\nold table\n" + MarkdownEnd + "\n\nprose after\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := UpdateMarkdown(path, sampleReport()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	if strings.Contains(got, "old table") || !strings.Contains(got, "prose before") || !strings.Contains(got, "prose after") ||
		!strings.Contains(got, "| floor-split | 64 MiB |") || strings.Count(got, MarkdownBegin) != 1 || strings.Count(got, MarkdownEnd) != 1 {
		t.Errorf("updated document:\n%s", got)
	}
	if err := os.WriteFile(path, []byte("no markers"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := UpdateMarkdown(path, sampleReport()); err == nil {
		t.Error("document without markers accepted")
	}
}

// End-to-end scaling is judged on the largest objects end to end ran on, even when single-object scenarios
// ran on larger ones.
func TestScalingTargetWithLargerSingleObjects(t *testing.T) {
	rep := sampleReport()
	rep.Results = append(rep.Results, Result{Spec: Spec{Scenario: Deliver, Procs: 1, SizeMiB: 256}, Status: StatusOK,
		MBPerSec: 400, MaxRSSBytes: 50 << 20})
	rep.finish()
	for _, tg := range rep.Targets {
		if tg.Name == "end-to-end scaling" && (tg.Status == "not measured" || !strings.Contains(tg.Measured, "w1")) {
			t.Errorf("scaling %s: %q", tg.Status, tg.Measured)
		}
	}
}

// A cost-only run rewrites the cost block and leaves the per-size results alone; a full run rewrites both.
func TestUpdateMarkdownCostBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	doc := "# T\n\n" + MarkdownBegin + "\nold results\n" + MarkdownEnd + "\n\n" + CostMarkdownBegin + "\nold cost\n" + CostMarkdownEnd + "\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	costOnly := &Report{Results: []Result{}, Cost: []*cost.Result{sampleCost()}}
	costOnly.finish()
	if err := UpdateMarkdown(path, costOnly); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	if !strings.Contains(got, "old results") || strings.Contains(got, "old cost") || !strings.Contains(got, "| SQS ReceiveMessage | 10 |") ||
		!strings.Contains(got, "upstream US$ / million objects") {
		t.Errorf("cost-only update:\n%s", got)
	}
	for _, tg := range costOnly.Targets {
		if !strings.HasPrefix(tg.Name, "cost: ") {
			t.Errorf("a cost-only run judges %q", tg.Name)
		}
	}

	full := sampleReport()
	full.Cost = []*cost.Result{sampleCost()}
	full.finish()
	if err := UpdateMarkdown(path, full); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	got = string(b)
	results := got[strings.Index(got, MarkdownBegin):strings.Index(got, MarkdownEnd)]
	if strings.Contains(got, "old results") || !strings.Contains(results, "| floor-split | 64 MiB |") || strings.Contains(results, "cost: ") {
		t.Errorf("full update (the results block must not repeat the cost targets):\n%s", got)
	}

	// A run without cost leaves the cost block alone; a document without the cost block is refused only
	// when there is cost to write.
	if err := os.WriteFile(path, []byte(MarkdownBegin+"\n"+MarkdownEnd+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := UpdateMarkdown(path, sampleReport()); err != nil {
		t.Errorf("no cost, no cost block: %v", err)
	}
	if err := UpdateMarkdown(path, full); err == nil {
		t.Error("cost written to a document without a cost block")
	}
}

func sampleCost() *cost.Result {
	r := &cost.Result{Label: "sample", Objects: 100, Tenants: 4, Streams: 16, Groups: 4, NewStreams: 16, NewGroups: 4, Round: 1, UncompressedBytes: 3_000_000, Pollers: 1,
		Counts: map[string]cost.Tally{"sqs ReceiveMessage": {Calls: 10}, "s3 GetObject": {Calls: 100}}}
	r.Evaluate()
	return r
}
