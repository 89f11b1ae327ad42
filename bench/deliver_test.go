package bench

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/logrouter/logrouter/internal/cwlfake"
)

// fakeEndpoint serves the strict CloudWatch Logs fake in-process (the real runs start it as a process).
func fakeEndpoint(t *testing.T) (*cwlfake.Fake, EndpointStarter) {
	t.Helper()
	fake := cwlfake.New()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, func(context.Context) (string, func() (float64, error), error) {
		return srv.URL, func() (float64, error) { return 0, nil }, nil
	}
}

func TestDeliverScenario(t *testing.T) {
	fake, endpoint := fakeEndpoint(t)
	c := tinyConfig(t, InProcess, Deliver)
	c.Endpoint = endpoint
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var delivered, sent int64
	for _, r := range rep.Results {
		if r.Scenario != Deliver {
			continue
		}
		if r.Status != StatusOK {
			t.Fatalf("%s: %s %s", r.Name(), r.Status, r.Note)
		}
		if r.Events == 0 || r.MinRequests == 0 || r.Requests < r.MinRequests || r.MeanFill <= 0 || r.MeanFill > 1 {
			t.Errorf("%s: events %d, requests %d of min %d, fill %v", r.Name(), r.Events, r.Requests, r.MinRequests, r.MeanFill)
		}
		// A warm-up pass, then Reps repetitions of one iteration each.
		delivered += r.Events * int64(c.Reps+1)
		sent += r.Requests * int64(c.Reps+1)
	}
	if delivered == 0 || fake.EventCount() != delivered {
		t.Errorf("fake stored %d events, the scenario delivered %d", fake.EventCount(), delivered)
	}
	if got := int64(len(fake.Puts())); got != sent {
		t.Errorf("fake accepted %d PutLogEvents, the batcher reported %d", got, sent)
	}
}
