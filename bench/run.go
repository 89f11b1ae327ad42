package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/logrouter/logrouter/bench/corpus"
)

// Config describes a benchmark run.
type Config struct {
	// Sizes are the objects' uncompressed sizes in MiB (default 1, 16, 64, 256; quick 1, 16). EndToEnd runs
	// on the sizes up to maxE2ESizeMiB only.
	Sizes []int
	// Workers are the engine concurrencies for EndToEnd (default 1, 2, 4; quick 1, 2).
	Workers []int
	// Scenarios to run (default all).
	Scenarios []Scenario
	// Reps is the number of timed repetitions per Spec; medians are reported (default 5; quick 3).
	Reps int
	// RepBytes is roughly how many uncompressed bytes one repetition processes: small objects are processed
	// several times per repetition (default 64 MiB; quick 16 MiB).
	RepBytes int64
	// E2EBytes is roughly how many uncompressed bytes one EndToEnd repetition delivers, spread over
	// Tenants × objects (default 256 MiB; quick 32 MiB).
	E2EBytes int64
	// Tenants is the number of tenants the EndToEnd objects belong to (default 8).
	Tenants int
	// Seed selects the corpus.
	Seed int64
	// Quick selects the reduced defaults.
	Quick bool
	// WorkDir holds the generated objects (default: a temporary directory, removed afterwards).
	WorkDir string
	// ProfileDir, when set, receives a CPU profile per Spec (<name>.pprof).
	ProfileDir string
	// Launch runs one Spec (default: a child process, see ProcessLauncher).
	Launch Launcher
	// Endpoint starts a strict CloudWatch Logs endpoint for one Spec (Deliver, EndToEnd). Nil: those
	// scenarios are reported as not done.
	Endpoint EndpointStarter
	// Progress receives a line per Spec while the run goes on (default: discarded).
	Progress io.Writer
	// Exe is the logrouter binary the Cost scenario runs (`Exe poll`); empty reports it as not done.
	Exe string
	// Moto is the moto_server binary the Cost scenario starts (default: moto_server on PATH).
	Moto string
	// CostRuns are the Cost scenario's runs (default DefaultCostRuns; quick: the first, smaller).
	CostRuns []CostRun
	// Now is the clock (default time.Now); the corpus is timestamped just before it, as live logs are.
	Now func() time.Time
}

// Launcher runs one ChildSpec and returns its measurements.
type Launcher func(ctx context.Context, cs ChildSpec) (ChildResult, error)

// EndpointStarter starts a strict CloudWatch Logs endpoint and returns its URL and a function that stops it
// and reports the CPU time the endpoint used (0 when unknown, e.g. in-process).
type EndpointStarter func(ctx context.Context) (url string, stop func() (cpuSeconds float64, err error), err error)

func (c *Config) defaults() {
	if len(c.Sizes) == 0 {
		c.Sizes = []int{1, 16, 64, 256}
		if c.Quick {
			c.Sizes = []int{1, 16}
		}
	}
	if len(c.Workers) == 0 {
		c.Workers = []int{1, 2, 4}
		if c.Quick {
			c.Workers = []int{1, 2}
		}
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios
	}
	if c.Reps == 0 {
		c.Reps = 5
		if c.Quick {
			c.Reps = 3
		}
	}
	if c.RepBytes == 0 {
		c.RepBytes = 64 << 20
		if c.Quick {
			c.RepBytes = 16 << 20
		}
	}
	if c.E2EBytes == 0 {
		c.E2EBytes = 256 << 20
		if c.Quick {
			c.E2EBytes = 32 << 20
		}
	}
	if c.Tenants == 0 {
		c.Tenants = 8
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Complete fills in the defaults and validates the result.
func (c *Config) Complete() error {
	c.defaults()
	return c.Validate()
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	for _, s := range c.Sizes {
		if s < 1 || s > 1024 {
			return fmt.Errorf("object size %d MiB outside 1..1024", s)
		}
	}
	for _, w := range c.Workers {
		if w < 1 || w > 256 {
			return fmt.Errorf("workers %d outside 1..256", w)
		}
	}
	if c.Reps < 1 || c.Reps > 100 {
		return fmt.Errorf("reps %d outside 1..100", c.Reps)
	}
	if c.Tenants < 1 || c.Tenants > 10_000 {
		return fmt.Errorf("tenants %d outside 1..10000", c.Tenants)
	}
	if c.RepBytes < 1 || c.E2EBytes < 1 {
		return errors.New("bytes per repetition must be positive")
	}
	for _, s := range c.Scenarios {
		if _, err := ParseScenario(string(s)); err != nil {
			return err
		}
	}
	return nil
}

// maxE2ESizeMiB is the largest object size EndToEnd runs on: beyond it, the single-object scenarios show how
// memory and speed behave, and generating Tenants × 256 MiB objects would take longer than the rest of the run.
const maxE2ESizeMiB = 64

// Plan lists the Specs a Config runs, in order: per size, the floors, parse and deliver on one core and two,
// then the end-to-end runs per worker count (sizes up to maxE2ESizeMiB).
func Plan(c Config) []Spec {
	c.defaults()
	want := map[Scenario]bool{}
	for _, s := range c.Scenarios {
		want[s] = true
	}
	// The floor is every ratio's denominator: always measured when any per-size scenario is.
	if !slices.ContainsFunc(c.Scenarios, func(s Scenario) bool { return s != Cost }) {
		return nil
	}
	want[FloorSplit] = true
	procs := min(2, runtime.NumCPU())
	var specs []Spec
	for _, size := range c.Sizes {
		add := func(s Spec) {
			if want[s.Scenario] {
				s.SizeMiB = size
				specs = append(specs, s)
			}
		}
		add(Spec{Scenario: FloorGunzip, Procs: 1})
		add(Spec{Scenario: FloorSplit, Procs: 1})
		add(Spec{Scenario: Parse, Procs: 1})
		if procs > 1 {
			add(Spec{Scenario: Parse, Procs: procs, Pipeline: true})
		}
		add(Spec{Scenario: Deliver, Procs: 1})
		if procs > 1 {
			add(Spec{Scenario: Deliver, Procs: procs, Pipeline: true})
		}
		if size <= maxE2ESizeMiB {
			for _, w := range c.Workers {
				add(Spec{Scenario: EndToEnd, Procs: runtime.NumCPU(), Pipeline: true, Workers: w})
			}
		}
	}
	return specs
}

// objectSet is the generated corpus of one size.
type objectSet struct {
	single  string   // one object, for single-object scenarios
	e2e     []string // Tenants × objects for EndToEnd
	summary corpus.Summary
}

// Run generates the corpus, runs every Spec and returns the report. A Spec that fails is reported with its
// error and the run goes on; Run fails only when the corpus cannot be written or ctx ends.
func Run(ctx context.Context, c Config) (*Report, error) {
	if err := c.Complete(); err != nil {
		return nil, err
	}
	if c.Launch == nil {
		return nil, errors.New("bench: no launcher")
	}
	work := c.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "logrouter-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	specs := Plan(c)
	needE2E := slices.ContainsFunc(specs, func(s Spec) bool { return s.Scenario == EndToEnd })
	// The report's run time covers the whole run: generating the corpus, then the scenarios.
	rep := &Report{Machine: DescribeMachine(), Config: reportConfig(c), Started: c.Now().UTC()}
	start := c.Now().Add(-20 * time.Minute).UTC().Truncate(time.Second)
	sets := map[int]*objectSet{}
	for _, size := range c.Sizes {
		if len(specs) == 0 {
			break
		}
		fmt.Fprintf(c.Progress, "bench: generating %d MiB objects\n", size)
		set, err := generateSet(work, c, size, start, needE2E && size <= maxE2ESizeMiB)
		if err != nil {
			return nil, err
		}
		sets[size] = set
	}
	rep.ScenariosStarted = c.Now().UTC()
	if len(specs) == 0 {
		rep.Results = []Result{}
	}
	for i, s := range specs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fmt.Fprintf(c.Progress, "bench: [%2d/%d] %-28s ", i+1, len(specs), s.Name())
		began := time.Now()
		r := runSpec(ctx, c, s, sets[s.SizeMiB])
		rep.Results = append(rep.Results, r)
		fmt.Fprintf(c.Progress, "%s  (%.1fs)\n", r.progressLine(), time.Since(began).Seconds())
	}
	if slices.Contains(c.Scenarios, Cost) {
		if err := runCost(ctx, c, rep); err != nil {
			return nil, err
		}
	}
	rep.finish()
	rep.Finished = c.Now().UTC()
	return rep, nil
}

func generateSet(dir string, c Config, size int, start time.Time, e2e bool) (*objectSet, error) {
	set := &objectSet{}
	gen := func(name string, o corpus.Options) (corpus.Summary, error) {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return corpus.Summary{}, err
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		sum, err := corpus.Generate(bw, o)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return corpus.Summary{}, fmt.Errorf("bench: write corpus %s: %w", path, err)
		}
		return sum, nil
	}
	target := int64(size) << 20
	name := fmt.Sprintf("single-%dMiB.log.gz", size)
	sum, err := gen(name, corpus.Options{Seed: c.Seed, TargetBytes: target, Start: start, Tail: size >= 16,
		ClusterID: "bench-cluster", Namespace: "tenant-00", Application: "kube-apiserver", PodName: "kube-apiserver-0"})
	if err != nil {
		return nil, err
	}
	set.single, set.summary = filepath.Join(dir, name), sum
	if !e2e {
		return set, nil
	}
	n := max(2*slices.Max(c.Workers), int(ceilDiv(c.E2EBytes, target)))
	for i := range n {
		name := fmt.Sprintf("e2e-%dMiB-%04d.log.gz", size, i)
		_, err := gen(name, corpus.Options{Seed: c.Seed + int64(size)*100_000 + int64(i) + 1, TargetBytes: target,
			Start: start, Tail: size >= 16 && i%4 == 0, ClusterID: "bench-cluster", Namespace: tenantName(i % c.Tenants),
			Application: "app-" + strconv.Itoa(i%3), PodName: "pod-" + strconv.Itoa(i)})
		if err != nil {
			return nil, err
		}
		set.e2e = append(set.e2e, filepath.Join(dir, name))
	}
	return set, nil
}

func tenantName(i int) string { return fmt.Sprintf("tenant-%02d", i) }

func runSpec(ctx context.Context, c Config, s Spec, set *objectSet) Result {
	r := Result{Spec: s, Status: StatusOK}
	cs := ChildSpec{Spec: s, Objects: []string{set.single}, Reps: c.Reps,
		Iterations: int(max(1, ceilDiv(c.RepBytes, int64(s.SizeMiB)<<20)))}
	if s.Scenario == EndToEnd {
		cs.Objects, cs.Iterations, cs.Tenants = set.e2e, 1, min(c.Tenants, len(set.e2e))
	}
	// Every scenario but the floor itself gets its own floor, measured right before each of its repetitions.
	cs.PairedFloor = s.Scenario != FloorSplit
	if c.ProfileDir != "" {
		cs.CPUProfile = filepath.Join(c.ProfileDir, profileName(s))
	}
	if s.Scenario == Deliver || s.Scenario == EndToEnd {
		if c.Endpoint == nil {
			return r.notDone("no strict CloudWatch Logs endpoint (fakelogs) available")
		}
		url, stop, err := c.Endpoint(ctx)
		if err != nil {
			return r.failed(fmt.Errorf("start CloudWatch Logs endpoint: %w", err))
		}
		cs.Endpoint = url
		cr, err := c.Launch(ctx, cs)
		cpu, stopErr := stop()
		r.EndpointCPUSeconds = cpu
		if err == nil && stopErr != nil {
			err = fmt.Errorf("CloudWatch Logs endpoint: %w", stopErr)
		}
		return r.launched(cs, cr, err)
	}
	cr, err := c.Launch(ctx, cs)
	return r.launched(cs, cr, err)
}

func (r Result) launched(cs ChildSpec, cr ChildResult, err error) Result {
	if err != nil {
		var nd notDoneError
		if errors.As(err, &nd) {
			return r.notDone(nd.reason)
		}
		return r.failed(err)
	}
	r.aggregate(cs, cr)
	return r
}

func profileName(s Spec) string {
	return strings.NewReplacer(" ", "_", "/", "-").Replace(s.Name()) + ".pprof"
}

// notDoneError marks a scenario this build cannot run (e.g. the engine offers no way to run it yet).
type notDoneError struct{ reason string }

func (e notDoneError) Error() string { return "not done: " + e.reason }

// NotDonePrefix starts a child's error message when the scenario is unavailable in its build.
const NotDonePrefix = "bench: not available: "

// InProcess runs Specs in the current process (no RSS measurement, no GOMAXPROCS change): for tests.
func InProcess(ctx context.Context, cs ChildSpec) (ChildResult, error) {
	res, err := RunChild(ctx, cs)
	var na *NotAvailableError
	if errors.As(err, &na) {
		return res, notDoneError{na.Reason}
	}
	return res, err
}

// ProcessLauncher runs each Spec as `exe args...` with the ChildSpec as JSON on stdin and GOMAXPROCS set to
// the Spec's Procs; the child prints a ChildResult as JSON on stdout. Its peak RSS comes from its rusage.
func ProcessLauncher(exe string, args ...string) Launcher {
	return func(ctx context.Context, cs ChildSpec) (ChildResult, error) {
		in, err := json.Marshal(cs)
		if err != nil {
			return ChildResult{}, err
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cs.Procs))
		cmd.Stdin = bytes.NewReader(in)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()
		msg := strings.TrimSpace(stderr.String())
		if runErr != nil {
			if i := strings.Index(msg, NotDonePrefix); i >= 0 {
				return ChildResult{}, notDoneError{strings.TrimSpace(msg[i+len(NotDonePrefix):])}
			}
			if msg != "" {
				return ChildResult{}, fmt.Errorf("%w: %s", runErr, lastLines(msg, 5))
			}
			return ChildResult{}, runErr
		}
		var res ChildResult
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			return ChildResult{}, fmt.Errorf("child output: %w", err)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.MaxRSSBytes = int64(ru.Maxrss) * 1024 // kilobytes on Linux
		}
		return res, nil
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// ProcessEndpoint starts the strict CloudWatch Logs endpoint as a separate process (`fakelogs`), which prints
// its URL on its first stdout line, and stops it with SIGTERM.
func ProcessEndpoint(exe string, args ...string) EndpointStarter {
	return func(ctx context.Context) (string, func() (float64, error), error) {
		cmd := exec.Command(exe, args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return "", nil, err
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		stop := func() (float64, error) {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				err = <-done
			}
			var cpu float64
			if st := cmd.ProcessState; st != nil {
				cpu = (st.UserTime() + st.SystemTime()).Seconds()
			}
			return cpu, err
		}
		type line struct {
			s   string
			err error
		}
		ch := make(chan line, 1)
		go func() {
			s, err := bufio.NewReader(out).ReadString('\n')
			ch <- line{strings.TrimSpace(s), err}
		}()
		select {
		case l := <-ch:
			if l.err != nil || !strings.HasPrefix(l.s, "http://127.0.0.1:") {
				_, _ = stop()
				return "", nil, fmt.Errorf("%s printed %q (%v): %s", exe, l.s, l.err, strings.TrimSpace(stderr.String()))
			}
			return l.s, stop, nil
		case <-time.After(30 * time.Second):
			_, _ = stop()
			return "", nil, fmt.Errorf("%s did not print its URL within 30s", exe)
		case <-ctx.Done():
			_, _ = stop()
			return "", nil, ctx.Err()
		}
	}
}
