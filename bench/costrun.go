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
}

// DefaultCostRuns: the shape (20 tenants × (CloudWatch + S3), 500 objects of 10-50 KB, 4 pods per
// tenant) with the shipped settings, judged against the targets.
var DefaultCostRuns = []CostRun{
	{Label: "one poller, shipped settings", Pollers: 1},
}

// runCost runs the Cost scenario's runs and adds them to rep. The first run is the one the targets judge.
func runCost(ctx context.Context, c Config, rep *Report) error {
	runs := c.CostRuns
	if len(runs) == 0 {
		runs = DefaultCostRuns
		if c.Quick {
			runs = []CostRun{{Label: DefaultCostRuns[0].Label + " (quick: 100 objects)", Pollers: 1, Objects: 100}}
		}
	}
	if c.Exe == "" {
		rep.CostNote = "not done: no logrouter binary to run"
		return nil
	}
	for _, run := range runs {
		fmt.Fprintf(c.Progress, "bench: cost: %s\n", run.Label)
		r, err := cost.Run(ctx, cost.Options{Exe: c.Exe, Moto: c.Moto, Label: run.Label, Env: run.Env,
			Pollers: run.Pollers, Objects: run.Objects, Progress: c.Progress})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.CostNote = appendNote(rep.CostNote, fmt.Sprintf("%s failed: %v", run.Label, err))
			continue
		}
		if missed := r.Missed(); len(missed) > 0 {
			fmt.Fprintf(c.Progress, "bench: cost: %s: %.2f US$ per million objects; above the minimum: %s\n", run.Label, r.DollarsPerMillionObjects, strings.Join(missed, ", "))
		} else {
			fmt.Fprintf(c.Progress, "bench: cost: %s: %.2f US$ per million objects; every operation at its minimum\n", run.Label, r.DollarsPerMillionObjects)
		}
		rep.Cost = append(rep.Cost, r)
	}
	return nil
}

func appendNote(note, s string) string {
	if note == "" {
		return s
	}
	return note + "; " + s
}

// costTargets judges every operation of the first cost run against its minimum.
func (rep *Report) costTargets() []Target {
	if len(rep.Cost) == 0 {
		if rep.CostNote != "" {
			return []Target{{Name: "cost: AWS calls per object", Goal: "every operation ≤ 1.05× its minimum", Status: "not measured", Measured: rep.CostNote, cost: true}}
		}
		return nil
	}
	r := rep.Cost[0]
	var ts []Target
	for _, row := range r.Rows {
		if row.Status == "" {
			continue
		}
		t := Target{Name: "cost: " + row.Operation, Goal: row.Target, Status: strings.ToLower(row.Status), cost: true}
		per := float64(row.Calls) / float64(max(r.Objects, 1))
		if row.Minimum > 0 {
			t.Value = float64(row.Calls) / row.Minimum
			t.Measured = fmt.Sprintf("%.3f / object = %.2f× minimum", per, t.Value)
		} else {
			t.Measured = fmt.Sprintf("%d calls", row.Calls)
		}
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
