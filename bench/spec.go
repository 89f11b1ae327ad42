// Package bench measures logrouter's hot path against the physical floor of the machine it runs on.
//
// A run is a list of Specs (scenario × object size × cores × workers). Each Spec runs in a child process of its
// own (`logrouter bench --child`), so that one scenario's peak RSS does not pollute another's and GOMAXPROCS can
// differ between them; the parent collects the children's measurements, takes medians over repetitions, relates
// every throughput to the floor measured in the same run, and renders a table, JSON and an SVG chart.
package bench

import (
	"fmt"
	"strconv"
)

// Scenario names what a Spec measures.
type Scenario string

// Scenarios.
const (
	// FloorGunzip decompresses the object (klauspost gzip) and discards the output.
	FloorGunzip Scenario = "floor-gunzip"
	// FloorSplit decompresses and splits lines: the floor every other scenario is compared with.
	FloorSplit Scenario = "floor-split"
	// Parse decodes every line and extracts its timestamp with parser.Reader.
	Parse Scenario = "parse"
	// Deliver parses, batches and sends PutLogEvents over loopback HTTP to a strict CloudWatch Logs endpoint
	// running in another process.
	Deliver Scenario = "deliver"
	// EndToEnd feeds SQS notifications for many tenants' objects through the engine to fake AWS endpoints.
	EndToEnd Scenario = "e2e"
	// Cost runs `logrouter poll` on many small objects against the AWS emulator behind a counting proxy and
	// reports the AWS calls per object next to the least possible (package bench/cost).
	Cost Scenario = "cost"
)

// Scenarios lists every scenario in report order.
var Scenarios = []Scenario{FloorGunzip, FloorSplit, Parse, Deliver, EndToEnd, Cost}

// ParseScenario checks a scenario name.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios {
		if string(sc) == s {
			return sc, nil
		}
	}
	return "", fmt.Errorf("unknown scenario %q (want one of %v)", s, Scenarios)
}

// Spec is one measurement point.
type Spec struct {
	Scenario Scenario `json:"scenario"`
	// Procs is the child's GOMAXPROCS: the number of cores it may use.
	Procs int `json:"procs"`
	// Pipeline runs gunzip on its own goroutine (parser.Options.Pipeline).
	Pipeline bool `json:"pipeline,omitempty"`
	// Workers is the engine's concurrency (EndToEnd only).
	Workers int `json:"workers,omitempty"`
	// SizeMiB is the uncompressed size of each object.
	SizeMiB int `json:"size_mib"`
}

// Name is a short unique label, e.g. "parse/pipeline p2 16MiB".
func (s Spec) Name() string {
	return s.Variant() + " " + strconv.Itoa(s.SizeMiB) + "MiB"
}

// Variant is the Spec without its size, e.g. "parse/pipeline p2" or "e2e w4 p2": one line of the chart.
func (s Spec) Variant() string {
	n := string(s.Scenario)
	if s.Pipeline {
		n += "/pipeline"
	}
	if s.Workers > 0 {
		n += " w" + strconv.Itoa(s.Workers)
	}
	return n + " p" + strconv.Itoa(s.Procs)
}

// ChildSpec is what the parent sends a child process (as JSON on its stdin).
type ChildSpec struct {
	Spec
	// Objects are gzip Vector objects of SizeMiB each (files). Single-object scenarios use the first.
	Objects []string `json:"objects"`
	// Reps is the number of timed repetitions; each processes the object Iterations times.
	Reps       int `json:"reps"`
	Iterations int `json:"iterations"`
	// Endpoint is the strict CloudWatch Logs endpoint's URL (Deliver, EndToEnd).
	Endpoint string `json:"endpoint,omitempty"`
	// Tenants is the number of distinct tenants the objects belong to (EndToEnd).
	Tenants int `json:"tenants,omitempty"`
	// PairedFloor runs a FloorSplit repetition over the same objects right before each timed repetition.
	PairedFloor bool `json:"paired_floor,omitempty"`
	// CPUProfile, when set, is where the child writes a CPU profile of its timed repetitions.
	CPUProfile string `json:"cpu_profile,omitempty"`
}

// Rep is one timed repetition.
type Rep struct {
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the user + system CPU time the process used meanwhile (all its threads).
	CPUSeconds        float64 `json:"cpu_seconds"`
	Events            int64   `json:"events"`
	UncompressedBytes int64   `json:"uncompressed_bytes"`
	Mallocs           uint64  `json:"mallocs"`
	PeakHeapBytes     uint64  `json:"peak_heap_bytes"`
	// Requests and FillSum are the batcher's PutLogEvents count and Σ fill ratios (Deliver, EndToEnd).
	Requests int64   `json:"requests,omitempty"`
	FillSum  float64 `json:"fill_sum,omitempty"`
	// FloorSeconds and FloorBytes time the paired floor repetition (ChildSpec.PairedFloor).
	FloorSeconds    float64 `json:"floor_seconds,omitempty"`
	FloorCPUSeconds float64 `json:"floor_cpu_seconds,omitempty"`
	FloorBytes      int64   `json:"floor_bytes,omitempty"`
}

// ChildResult is what a child process prints (as JSON on its stdout).
type ChildResult struct {
	Reps []Rep `json:"reps"`
	// MinRequestsPerIteration is the least number of PutLogEvents requests one iteration could have made
	// (Deliver, EndToEnd).
	MinRequestsPerIteration int64 `json:"min_requests_per_iteration,omitempty"`
	// PeakRSSBytes is the child's own resident-set high-water mark (Linux VmHWM; 0 elsewhere).
	PeakRSSBytes int64 `json:"peak_rss_bytes,omitempty"`
	// MaxRSSBytes is filled in by the parent from the child's rusage. On Linux it is at least the parent's RSS
	// when the child was forked (the high-water mark survives exec), so PeakRSSBytes is preferred.
	MaxRSSBytes int64 `json:"max_rss_bytes,omitempty"`
}
