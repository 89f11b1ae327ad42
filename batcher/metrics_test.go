package batcher

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	srv := startFake(t)
	evs := []Event{plainEvent(ms(fixedNow), 10), {Timestamp: ms(fixedNow)}, plainEvent(ms(fixedNow)+1e9, 5)}
	res := deliver(t, newBatcher(t, srv, func(o *Options) { o.Metrics = m }), evs)
	if res.Acked != 3 {
		t.Fatalf("result %+v", res)
	}
	checks := map[string]float64{
		`logrouter_batcher_events_total{outcome="in"}`:                                 3,
		`logrouter_batcher_events_total{outcome="out"}`:                                2,
		`logrouter_batcher_events_total{outcome="dropped_empty"}`:                      1,
		`logrouter_batcher_events_total{outcome="clamped"}`:                            1,
		`logrouter_putlogevents_requests_total{result="ok"}`:                           1,
		`logrouter_putlogevents_requests_total{result="not_found"}`:                    1,
		`logrouter_batcher_acked_events_total`:                                         3,
		`logrouter_batcher_create_calls_total{operation="CreateLogGroup",result="ok"}`: 1,
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "logrouter_batcher_") && !strings.HasPrefix(mf.GetName(), "logrouter_putlogevents_") {
			t.Errorf("metric %s lacks the package prefix", mf.GetName())
		}
		for _, mt := range mf.GetMetric() {
			key := mf.GetName()
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			if c := mt.GetCounter(); c != nil {
				got[key] = c.GetValue()
			}
		}
	}
	for k, want := range checks {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if n := testutil.CollectAndCount(m.inFlight); n != 1 {
		t.Errorf("in-flight gauge count %d", n)
	}
}
