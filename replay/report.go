package replay

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Line renders the progress as one terminal line at now: objects listed and in the window, objects
// handled (enqueued or delivered) with their bytes, the rate, and an ETA once the listing is complete.
func (p *Progress) Line(verb string, now time.Time) string {
	el := now.Sub(p.started)
	if p.started.IsZero() || el <= 0 {
		el = time.Nanosecond
	}
	handled, matched := p.Handled.Load(), p.List.Matched.Load()
	rate := float64(handled) / el.Seconds()
	eta := "listing"
	if p.List.Done.Load() {
		left := matched - handled - p.Skipped.Load()
		switch {
		case left <= 0:
			eta = "0s"
		case rate > 0:
			eta = time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second).String()
		default:
			eta = "unknown"
		}
	}
	s := fmt.Sprintf("listed %d, in window %d; %s %d (%s), %.1f/s, failed %d, ETA %s",
		p.List.Listed.Load(), matched, verb, handled, bytesText(p.Bytes.Load()), rate, p.Failed.Load(), eta)
	return s
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Report rewrites one progress line on w (a terminal) every interval until ctx ends, then ends the line.
func Report(ctx context.Context, w io.Writer, p *Progress, verb string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintf(w, "\r\033[K%s\n", p.Line(verb, time.Now()))
			return
		case <-t.C:
			fmt.Fprintf(w, "\r\033[K%s", p.Line(verb, time.Now()))
		}
	}
}
