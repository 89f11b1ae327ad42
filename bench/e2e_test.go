package bench

import (
	"context"
	"testing"
)

func TestEndToEndScenario(t *testing.T) {
	fake, endpoint := fakeEndpoint(t)
	c := tinyConfig(t, InProcess, EndToEnd)
	c.Endpoint, c.Workers, c.Reps = endpoint, []int{1, 2}, 1
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rep.Results {
		if r.Scenario != EndToEnd {
			continue
		}
		n++
		if r.Status != StatusOK {
			t.Fatalf("%s: %s %s", r.Name(), r.Status, r.Note)
		}
		// Four 1 MiB objects (two per worker at most), each parsed and delivered once per repetition.
		if r.UncompressedBytes < 4*(1<<20-4096) || r.Events == 0 || r.Requests < r.MinRequests || r.MinRequests < 4 {
			t.Errorf("%s: %+v", r.Name(), r)
		}
	}
	if n != 2 {
		t.Fatalf("%d e2e results", n)
	}
	for _, tenant := range []string{"tenant-00", "tenant-01"} {
		g, ok := fake.Group("/bench/" + tenant)
		if !ok || len(g.Streams) != 2 {
			t.Errorf("log group of %s: %+v (ok %v)", tenant, g, ok)
		}
	}
}
