package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/logrouter/logrouter/bench/cost"
)

// CostRun is one run of the Cost scenario.
type CostRun struct {
	Label   string
	Env     []string // settings of the poll processes
	Pollers int
	Objects int // 0: the cost package's default (500)
	Rounds  int // 0: one
}

// DefaultCostRuns: the shape (20 tenants × (CloudWatch + S3), 500 objects of 10-50 KB, 4 pods per
// tenant) with the shipped settings, each in two rounds (new streams; then a restart with existing ones). The
// first run is judged against the targets; the others show how the figures move with the setting they change.
var DefaultCostRuns = []CostRun{
	{Label: "one poller, shipped settings", Pollers: 1, Rounds: 2},
	{Label: "one poller, put first", Pollers: 1, Rounds: 2, Objects: 200, Env: []string{"LOGROUTER_STREAM_PROBE=put-first"}},
	{Label: "one poller, create first", Pollers: 1, Rounds: 2, Objects: 200, Env: []string{"LOGROUTER_STREAM_PROBE=create-first"}},
	{Label: "three pollers sharing the queue, shipped settings", Pollers: 3, Rounds: 2, Objects: 200},
	{Label: "three pollers sharing the queue, put first", Pollers: 3, Rounds: 2, Objects: 200, Env: []string{"LOGROUTER_STREAM_PROBE=put-first"}},
	{Label: "three pollers sharing the queue, create first", Pollers: 3, Rounds: 2, Objects: 200, Env: []string{"LOGROUTER_STREAM_PROBE=create-first"}},
}

// runCost runs the Cost scenario's runs and adds them to rep. The first run is the one the targets judge.
func runCost(ctx context.Context, c Config, rep *Report) error {
	runs := c.CostRuns
	if len(runs) == 0 {
		runs = DefaultCostRuns
		if c.Quick {
			runs = []CostRun{{Label: DefaultCostRuns[0].Label + " (quick: 100 objects)", Pollers: 1, Objects: 100, Rounds: 2}}
		}
	}
	if c.Exe == "" {
		rep.CostNote = "not done: no logrouter binary to run"
		return nil
	}
	for _, run := range runs {
		fmt.Fprintf(c.Progress, "bench: cost: %s\n", run.Label)
		rs, err := cost.Run(ctx, cost.Options{Exe: c.Exe, Moto: c.Moto, Label: run.Label, Env: run.Env,
			Pollers: run.Pollers, Objects: run.Objects, Rounds: run.Rounds, Progress: c.Progress})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.CostNote = appendNote(rep.CostNote, fmt.Sprintf("%s failed: %v", run.Label, err))
			continue
		}
		for _, r := range rs {
			if missed := r.Missed(); len(missed) > 0 {
				fmt.Fprintf(c.Progress, "bench: cost: %s, round %d: %.2f US$ per million objects; above the minimum: %s\n", run.Label, r.Round, r.DollarsPerMillionObjects, strings.Join(missed, ", "))
			} else {
				fmt.Fprintf(c.Progress, "bench: cost: %s, round %d: %.2f US$ per million objects; every operation at its minimum\n", run.Label, r.Round, r.DollarsPerMillionObjects)
			}
		}
		rep.Cost = append(rep.Cost, rs...)
	}
	return nil
}

func appendNote(note, s string) string {
	if note == "" {
		return s
	}
	return note + "; " + s
}

// costTargets judges every operation of the first cost run (all its rounds) against its minimum.
func (rep *Report) costTargets() []Target {
	if len(rep.Cost) == 0 {
		if rep.CostNote != "" {
			return []Target{{Name: "cost: AWS calls per object", Goal: "every operation ≤ 1.05× its minimum", Status: "not measured", Measured: rep.CostNote, cost: true}}
		}
		return nil
	}
	var rounds []*cost.Result
	for _, r := range rep.Cost {
		if r.Label == rep.Cost[0].Label {
			rounds = append(rounds, r)
		}
	}
	var ts []Target
	for i, row := range rounds[0].Rows {
		if row.Status == "" {
			continue
		}
		t := Target{Name: "cost: " + row.Operation, Goal: row.Target, Status: "met", cost: true}
		var parts []string
		for _, r := range rounds {
			if i >= len(r.Rows) || r.Rows[i].Operation != row.Operation {
				continue
			}
			rr := r.Rows[i]
			part := fmt.Sprintf("%d calls", rr.Calls)
			if rr.Minimum > 0 {
				ratio := float64(rr.Calls) / rr.Minimum
				t.Value = max(t.Value, ratio)
				part = fmt.Sprintf("%.3f / object = %.2f× minimum", float64(rr.Calls)/float64(max(r.Objects, 1)), ratio)
			}
			if len(rounds) > 1 {
				part = fmt.Sprintf("round %d: %s", r.Round, part)
			}
			parts = append(parts, part)
			if rr.Status == "MISSED" {
				t.Status = "missed"
			}
		}
		t.Measured = strings.Join(parts, "; ")
		ts = append(ts, t)
	}
	return ts
}

func (rep *Report) costRan() bool { return len(rep.Cost) > 0 || rep.CostNote != "" }

// writeCostMarkdown renders the cost runs: per-operation tables, then the dollars of the first run.
func (rep *Report) writeCostMarkdown(w io.Writer) error {
	if !rep.costRan() {
		return nil
	}
	if len(rep.Results) > 0 {
		fmt.Fprintln(w)
	}
	if len(rep.Cost) > 0 {
		fmt.Fprintf(w, "Machine: %s, %d CPUs. Commit %s. Run %s.\n\n", orDash(rep.Machine.CPU), rep.Machine.CPUs, orDash(rep.Commit), rep.Started.Format(time.RFC3339))
	}
	var errs []error
	for _, r := range rep.Cost {
		errs = append(errs, r.WriteMarkdown(w))
		fmt.Fprintln(w)
	}
	if rep.CostNote != "" {
		fmt.Fprintf(w, "Cost runs not measured: %s.\n\n", mdEscape(rep.CostNote))
	}
	if len(rep.Cost) > 0 {
		fmt.Fprintf(w, "Request charges of the first run, next to the upstream processor's on the same objects (US$, %s):\n\n", cost.Prices.Date)
		errs = append(errs, rep.Cost[0].WriteDollars(w))
	}
	return errors.Join(errs...)
}

// writeCostTable renders the first cost run's operations as text.
func (rep *Report) writeCostTable(w io.Writer) {
	if len(rep.Cost) == 0 {
		return
	}
	r := rep.Cost[0]
	fmt.Fprintf(w, "\ncost (%s): %d objects, %.2f US$ per million objects (upstream %.2f)\n", r.Label, r.Objects, r.DollarsPerMillionObjects, r.UpstreamPerMillionObjects)
}
