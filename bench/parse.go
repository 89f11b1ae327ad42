package bench

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/logrouter/logrouter/parser"
)

func init() {
	scenarioSetups[Parse] = setupParse
}

// parseFallback is the timestamp given to events without one (the object's LastModified in production).
var parseFallback = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// setupParse decodes every event of the object with parser.Reader, touching each event's timestamp and
// message so that nothing is optimised away.
func setupParse(_ context.Context, cs ChildSpec, _ *ChildResult) (iteration, func(), error) {
	var sink int64
	run := func(context.Context) (iterStats, error) {
		f, err := os.Open(cs.Objects[0])
		if err != nil {
			return iterStats{}, err
		}
		defer f.Close()
		r := parser.NewReader(f, parseFallback, func(o *parser.Options) { o.Pipeline = cs.Pipeline })
		defer r.Close()
		var st iterStats
		for {
			ev, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return st, err
			}
			st.events++
			sink += ev.Timestamp + int64(len(ev.Message))
		}
		st.bytes = r.Stats().BytesOut
		return st, nil
	}
	return run, func() { _ = sink }, nil
}
