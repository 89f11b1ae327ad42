package bench

import (
	"context"
	"testing"

	"github.com/logrouter/logrouter/bench/corpus"
)

func TestParseScenarioCountsEveryLine(t *testing.T) {
	obj := writeObject(t, 512<<10)
	for _, pipeline := range []bool{false, true} {
		res, err := InProcess(context.Background(), ChildSpec{Spec: Spec{Scenario: Parse, Procs: 1, Pipeline: pipeline, SizeMiB: 1},
			Objects: []string{obj}, Reps: 1, Iterations: 2, PairedFloor: true})
		if err != nil {
			t.Fatal(err)
		}
		rep := res.Reps[0]
		// Every corpus line is one event; the paired floor split the same lines.
		if rep.Events == 0 || rep.UncompressedBytes != rep.FloorBytes || rep.UncompressedBytes < 2*(512<<10-corpus.MinLineBytes) {
			t.Errorf("pipeline %v: %+v", pipeline, rep)
		}
		floor, err := InProcess(context.Background(), ChildSpec{Spec: Spec{Scenario: FloorSplit, Procs: 1, SizeMiB: 1},
			Objects: []string{obj}, Reps: 1, Iterations: 2})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Events != floor.Reps[0].Events {
			t.Errorf("pipeline %v: parsed %d events from %d lines", pipeline, rep.Events, floor.Reps[0].Events)
		}
	}
}
