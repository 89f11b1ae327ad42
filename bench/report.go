package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/logrouter/logrouter/bench/cost"
)

// Result statuses.
const (
	StatusOK      = "ok"
	StatusNotDone = "not done"
	StatusFailed  = "failed"
)

// Result is one Spec's measurements: medians over its repetitions.
type Result struct {
	Spec
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
	Reps   int    `json:"reps,omitempty"`
	// Events and UncompressedBytes are per repetition.
	Events            int64   `json:"events,omitempty"`
	UncompressedBytes int64   `json:"uncompressed_bytes,omitempty"`
	EventsPerSec      float64 `json:"events_per_sec,omitempty"`
	MBPerSec          float64 `json:"mb_per_sec,omitempty"` // uncompressed input, 10^6 bytes per second
	AllocsPerEvent    float64 `json:"allocs_per_event,omitempty"`
	PeakHeapBytes     uint64  `json:"peak_heap_bytes,omitempty"`
	MaxRSSBytes       int64   `json:"max_rss_bytes,omitempty"` // the child process's peak RSS (0 = not measured)
	// RatioToFloor relates MBPerSec to the floor (FloorSplit on one core, same objects, same run): the median
	// of the ratios to the floor repetition paired with each repetition when there is one, else MBPerSec over
	// the FloorSplit result of the same size.
	RatioToFloor float64 `json:"ratio_to_floor,omitempty"`
	// PairedFloorMBPerSec is the median throughput of the paired floor repetitions.
	PairedFloorMBPerSec float64 `json:"paired_floor_mb_per_sec,omitempty"`
	// MBPerCPUSecond is uncompressed MB per CPU-second the process used: the cost, which unlike the wall-clock
	// throughput hardly depends on what else the machine is doing. CPURatioToFloor relates it to the paired
	// floor's (or to the FloorSplit result's).
	MBPerCPUSecond  float64 `json:"mb_per_cpu_second,omitempty"`
	CPURatioToFloor float64 `json:"cpu_ratio_to_floor,omitempty"`
	// Requests (per repetition) against the least possible, and the mean request fill (Deliver, EndToEnd).
	Requests     int64   `json:"requests,omitempty"`
	MinRequests  int64   `json:"min_requests,omitempty"`
	RequestRatio float64 `json:"request_ratio,omitempty"`
	MeanFill     float64 `json:"mean_fill,omitempty"`
	// EndpointCPUSeconds is the CPU time the CloudWatch Logs endpoint process used over the whole measurement
	// (warm-up included); EndpointMBPerCPUSecond is the object bytes it received a CPU-second. When the
	// latter is below MBPerSec, the endpoint, not logrouter, bounded the wall-clock throughput.
	EndpointCPUSeconds     float64 `json:"endpoint_cpu_seconds,omitempty"`
	EndpointMBPerCPUSecond float64 `json:"endpoint_mb_per_cpu_second,omitempty"`
	// Raw holds every repetition's measurements.
	Raw []Rep `json:"raw,omitempty"`
}

func (r Result) notDone(reason string) Result {
	r.Status, r.Note = StatusNotDone, reason
	return r
}

func (r Result) failed(err error) Result {
	r.Status, r.Note = StatusFailed, err.Error()
	return r
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// aggregate turns a child's repetitions into medians.
func (r *Result) aggregate(cs ChildSpec, cr ChildResult) {
	r.Raw = cr.Reps
	r.Reps = len(cr.Reps)
	r.MaxRSSBytes = cr.PeakRSSBytes
	if r.MaxRSSBytes == 0 {
		r.MaxRSSBytes = cr.MaxRSSBytes
	}
	if len(cr.Reps) == 0 {
		r.Status, r.Note = StatusFailed, "no repetitions"
		return
	}
	var eps, mbps, apev, reqs, fill, ratios, floors, cpus, cpuRatios []float64
	for _, rep := range cr.Reps {
		if rep.Seconds <= 0 {
			continue
		}
		eps = append(eps, float64(rep.Events)/rep.Seconds)
		mbps = append(mbps, float64(rep.UncompressedBytes)/1e6/rep.Seconds)
		if rep.Events > 0 {
			apev = append(apev, float64(rep.Mallocs)/float64(rep.Events))
		}
		reqs = append(reqs, float64(rep.Requests))
		if rep.Requests > 0 {
			fill = append(fill, rep.FillSum/float64(rep.Requests))
		}
		r.PeakHeapBytes = max(r.PeakHeapBytes, rep.PeakHeapBytes)
		var cpu float64
		if rep.CPUSeconds > 0 {
			cpu = float64(rep.UncompressedBytes) / 1e6 / rep.CPUSeconds
			cpus = append(cpus, cpu)
		}
		if rep.FloorSeconds > 0 && rep.FloorBytes > 0 {
			floor := float64(rep.FloorBytes) / 1e6 / rep.FloorSeconds
			floors = append(floors, floor)
			ratios = append(ratios, float64(rep.UncompressedBytes)/1e6/rep.Seconds/floor)
			if cpu > 0 && rep.FloorCPUSeconds > 0 {
				cpuRatios = append(cpuRatios, cpu/(float64(rep.FloorBytes)/1e6/rep.FloorCPUSeconds))
			}
		}
	}
	r.RatioToFloor, r.PairedFloorMBPerSec = median(ratios), median(floors)
	r.MBPerCPUSecond, r.CPURatioToFloor = median(cpus), median(cpuRatios)
	last := cr.Reps[len(cr.Reps)-1]
	r.Events, r.UncompressedBytes = last.Events, last.UncompressedBytes
	r.EventsPerSec, r.MBPerSec, r.AllocsPerEvent = median(eps), median(mbps), median(apev)
	r.Requests = int64(median(reqs))
	r.MeanFill = median(fill)
	if r.EndpointCPUSeconds > 0 && cs.Iterations > 0 && cs.CPUProfile == "" {
		perIteration := float64(last.UncompressedBytes) / float64(cs.Iterations)
		total := perIteration * float64(1+len(cr.Reps)*cs.Iterations) // the warm-up pass and every repetition
		r.EndpointMBPerCPUSecond = total / 1e6 / r.EndpointCPUSeconds
	}
	if cr.MinRequestsPerIteration > 0 {
		r.MinRequests = cr.MinRequestsPerIteration * int64(cs.Iterations)
		r.RequestRatio = float64(r.Requests) / float64(r.MinRequests)
	}
}

func (r Result) progressLine() string {
	switch r.Status {
	case StatusOK:
		s := fmt.Sprintf("%8.1f MB/s", r.MBPerSec)
		if r.CPURatioToFloor > 0 {
			s += fmt.Sprintf("  %.2f× floor (CPU)", r.CPURatioToFloor)
		}
		if r.MaxRSSBytes > 0 {
			s += fmt.Sprintf("  rss %s", mib(r.MaxRSSBytes))
		}
		if r.EndpointMBPerCPUSecond > 0 {
			s += fmt.Sprintf("  endpoint %.0f MB/CPU-s", r.EndpointMBPerCPUSecond)
		}
		return s
	default:
		return r.Status + ": " + r.Note
	}
}

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }

// Machine describes where a run happened.
type Machine struct {
	CPU       string `json:"cpu"`
	CPUs      int    `json:"cpus"`
	OS        string `json:"os"`
	Kernel    string `json:"kernel,omitempty"`
	GoVersion string `json:"go_version"`
	MemTotal  string `json:"mem_total,omitempty"`
}

// DescribeMachine reads the CPU model and kernel from /proc where it can.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = procField(string(b), "model name")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = procField(string(b), "MemTotal")
	}
	return m
}

func procField(s, key string) string {
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ReportConfig is the part of Config a report records.
type ReportConfig struct {
	Quick    bool       `json:"quick"`
	Sizes    []int      `json:"sizes_mib"`
	Workers  []int      `json:"workers"`
	Reps     int        `json:"reps"`
	RepBytes int64      `json:"rep_bytes"`
	E2EBytes int64      `json:"e2e_bytes"`
	Tenants  int        `json:"tenants"`
	Seed     int64      `json:"seed"`
	Scenario []Scenario `json:"scenarios"`
}

func reportConfig(c Config) ReportConfig {
	return ReportConfig{Quick: c.Quick, Sizes: c.Sizes, Workers: c.Workers, Reps: c.Reps, RepBytes: c.RepBytes,
		E2EBytes: c.E2EBytes, Tenants: c.Tenants, Seed: c.Seed, Scenario: c.Scenarios}
}

// Target is one of the goals, checked against this run.
type Target struct {
	Name     string  `json:"name"`
	Goal     string  `json:"goal"`
	Measured string  `json:"measured"`
	Value    float64 `json:"value"`
	// Status is "met", "missed", "not measured", or "reported" for a figure without a threshold.
	Status string `json:"status"`
	// cost: the target judges the cost scenario (shown in its own Markdown block).
	cost bool
}

// Report is a whole run.
type Report struct {
	Machine Machine `json:"machine"`
	Commit  string  `json:"commit,omitempty"`
	Version string  `json:"version,omitempty"`
	// Started is when the run began (before generating the corpus), ScenariosStarted when the first
	// scenario did, Finished when the last one ended.
	Started          time.Time    `json:"started"`
	ScenariosStarted time.Time    `json:"scenarios_started,omitzero"`
	Finished         time.Time    `json:"finished"`
	Config           ReportConfig `json:"config"`
	Results          []Result     `json:"results"`
	// Cost holds the Cost scenario's runs; CostNote says why some did not run.
	Cost     []*cost.Result `json:"cost,omitempty"`
	CostNote string         `json:"cost_note,omitempty"`
	Targets  []Target       `json:"targets"`
}

// find returns the OK result matching want (zero fields of want other than Scenario and SizeMiB must match
// exactly too).
func (rep *Report) find(want Spec) (Result, bool) {
	for _, r := range rep.Results {
		if r.Spec == want && r.Status == StatusOK {
			return r, true
		}
	}
	return Result{}, false
}

// finish relates every result to the floor of its size and evaluates the targets.
func (rep *Report) finish() {
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Status != StatusOK {
			continue
		}
		f, ok := rep.find(Spec{Scenario: FloorSplit, Procs: 1, SizeMiB: r.SizeMiB})
		if !ok {
			continue
		}
		if r.RatioToFloor == 0 && f.MBPerSec > 0 {
			r.RatioToFloor = r.MBPerSec / f.MBPerSec
		}
		if r.CPURatioToFloor == 0 && f.MBPerCPUSecond > 0 {
			r.CPURatioToFloor = r.MBPerCPUSecond / f.MBPerCPUSecond
		}
	}
	rep.Targets = rep.evaluate()
}

func (rep *Report) largestSize() int {
	largest := 0
	for _, r := range rep.Results {
		largest = max(largest, r.SizeMiB)
	}
	return largest
}

func (rep *Report) evaluate() []Target {
	if len(rep.Results) == 0 {
		return rep.costTargets() // a cost-only run
	}
	ts := rep.speedTargets()

	req := Target{Name: "PutLogEvents requests", Goal: "≤ 1.02× minimum", Status: "not measured"}
	worst := 0.0
	var worstName string
	for _, r := range rep.Results {
		if r.Status == StatusOK && r.MinRequests > 0 && r.RequestRatio > worst {
			worst, worstName = r.RequestRatio, r.Name()
		}
	}
	if worst > 0 {
		req.Value, req.Measured, req.Status = worst, fmt.Sprintf("worst %.3f× (%s)", worst, worstName), metOrMissed(worst <= 1.02)
	}
	ts = append(ts, req)

	ts = append(ts, rep.memoryTargets()...)

	// End to end: throughput grows with workers up to the cores available.
	sc := Target{Name: "end-to-end scaling", Goal: fmt.Sprintf("throughput grows with workers up to %d cores, no loss beyond", runtime.NumCPU()), Status: "not measured"}
	var one, atCores, beyond Result
	var haveOne, haveCores, haveBeyond bool
	size := 0 // the largest objects end to end ran on
	for _, r := range rep.Results {
		if r.Status == StatusOK && r.Scenario == EndToEnd {
			size = max(size, r.SizeMiB)
		}
	}
	for _, r := range rep.Results {
		if r.Status != StatusOK || r.Scenario != EndToEnd || r.SizeMiB != size {
			continue
		}
		switch {
		case r.Workers == 1:
			one, haveOne = r, true
		case r.Workers == runtime.NumCPU():
			atCores, haveCores = r, true
		case r.Workers > runtime.NumCPU():
			beyond, haveBeyond = r, true
		}
	}
	if haveOne && haveCores {
		g := atCores.MBPerSec / one.MBPerSec
		sc.Value = g
		sc.Measured = fmt.Sprintf("w%d/w1 = %.2f×", atCores.Workers, g)
		ok := g >= 1.1
		if haveBeyond {
			b := beyond.MBPerSec / atCores.MBPerSec
			sc.Measured += fmt.Sprintf(", w%d/w%d = %.2f×", beyond.Workers, atCores.Workers, b)
			ok = ok && b >= 0.9
		}
		sc.Status = metOrMissed(ok)
	}
	ts = append(ts, sc)
	return append(ts, rep.costTargets()...)
}

func (rep *Report) sizes() []int {
	var s []int
	for _, r := range rep.Results {
		if !slices.Contains(s, r.SizeMiB) {
			s = append(s, r.SizeMiB)
		}
	}
	slices.Sort(s)
	return s
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the results and targets as aligned text.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tsize\tcores\tevents/s\tMB/s\t× floor\tMB/CPU-s\t× floor CPU\tallocs/event\tpeak heap\tpeak RSS\trequests/min\tfill\t")
	for _, r := range rep.Results {
		if r.Status != StatusOK {
			fmt.Fprintf(tw, "%s\t%dMiB\t%d\t%s: %s\t\t\t\t\t\t\t\t\t\t\n", r.variantNoProcs(), r.SizeMiB, r.Procs, r.Status, r.Note)
			continue
		}
		fmt.Fprintf(tw, "%s\t%dMiB\t%d\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.variantNoProcs(), r.SizeMiB, r.Procs, eventsRate(r), r.MBPerSec, ratioCell(r.RatioToFloor),
			cpuRateCell(r.MBPerCPUSecond), ratioCell(r.CPURatioToFloor),
			allocCell(r), mib(int64(r.PeakHeapBytes)), rssCell(r.MaxRSSBytes), requestsCell(r), fillCell(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "target\tgoal\tmeasured\tstatus")
		for _, t := range rep.Targets {
			m := t.Measured
			if m == "" {
				m = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Goal, m, strings.ToUpper(t.Status))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	rep.writeCostTable(w)
	return nil
}

// runTime says how long the run took and with which set, e.g. "6m10s in all (corpus 40s, scenarios 5m30s;
// sizes 1/16/64 MiB, workers 1/2/4, 5 reps)".
func (rep *Report) runTime() string {
	var b strings.Builder
	b.WriteString(rep.Finished.Sub(rep.Started).Round(time.Second).String() + " in all (")
	if !rep.ScenariosStarted.IsZero() {
		fmt.Fprintf(&b, "corpus %s, scenarios %s; ", rep.ScenariosStarted.Sub(rep.Started).Round(time.Second),
			rep.Finished.Sub(rep.ScenariosStarted).Round(time.Second))
	}
	c := rep.Config
	set := "full set"
	if c.Quick {
		set = "--quick set"
	}
	join := func(v []int) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.Itoa(x)
		}
		return strings.Join(s, "/")
	}
	fmt.Fprintf(&b, "%s: sizes %s MiB, workers %s, %d reps)", set, join(c.Sizes), join(c.Workers), c.Reps)
	return b.String()
}

// WriteMarkdown writes the results, targets and cost runs as Markdown.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	if err := rep.writeResultsMarkdown(w); err != nil {
		return err
	}
	return rep.writeCostMarkdown(w)
}

// writeResultsMarkdown writes the per-size results and their targets as Markdown tables (the cost targets are
// in the cost runs' tables).
func (rep *Report) writeResultsMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "Machine: %s, %d CPUs, %s, kernel %s, %s. Commit %s. Run %s: %s.\n\n",
		orDash(rep.Machine.CPU), rep.Machine.CPUs, rep.Machine.OS, orDash(rep.Machine.Kernel), rep.Machine.GoVersion,
		orDash(rep.Commit), rep.Started.Format(time.RFC3339), rep.runTime())
	fmt.Fprintln(w, "| scenario | size | cores | events/s | MB/s | × floor | MB/CPU-s | × floor CPU | allocs/event | peak heap | peak RSS | requests / min | fill |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.Results {
		if r.Status != StatusOK {
			fmt.Fprintf(w, "| %s | %d MiB | %d | %s: %s ||||||||||\n", r.variantNoProcs(), r.SizeMiB, r.Procs, r.Status, mdEscape(r.Note))
			continue
		}
		fmt.Fprintf(w, "| %s | %d MiB | %d | %s | %.1f | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.variantNoProcs(), r.SizeMiB, r.Procs, eventsRate(r), r.MBPerSec, ratioCell(r.RatioToFloor),
			cpuRateCell(r.MBPerCPUSecond), ratioCell(r.CPURatioToFloor), allocCell(r),
			mib(int64(r.PeakHeapBytes)), rssCell(r.MaxRSSBytes), requestsCell(r), fillCell(r))
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\n| target | goal | measured | status |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, t := range rep.Targets {
			if t.cost {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | **%s** |\n", t.Name, t.Goal, orDash(mdEscape(t.Measured)), t.Status)
		}
	}
	return nil
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (s Spec) variantNoProcs() string {
	n := string(s.Scenario)
	if s.Pipeline {
		n += "/pipeline"
	}
	if s.Workers > 0 {
		n += " w" + strconv.Itoa(s.Workers)
	}
	return n
}

func eventsRate(r Result) string {
	if r.EventsPerSec == 0 {
		return "-"
	}
	return strconv.FormatFloat(r.EventsPerSec, 'f', 0, 64)
}

func ratioCell(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

func cpuRateCell(x float64) string {
	if x == 0 {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

func allocCell(r Result) string {
	if r.Events == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r.AllocsPerEvent)
}

func rssCell(b int64) string {
	if b == 0 {
		return "-"
	}
	return mib(b)
}

func requestsCell(r Result) string {
	if r.MinRequests == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", r.Requests, r.MinRequests)
}

func fillCell(r Result) string {
	if r.MeanFill == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*r.MeanFill)
}
