// Command fakelogs runs the strict fake CloudWatch Logs endpoint (internal/cwlfake) as a separate process on
// 127.0.0.1, for benchmarks and demos. It prints the endpoint URL on stdout (one line) and serves until
// SIGTERM or SIGINT. Point the AWS SDK at it with AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=<url> (any credentials
// work; the fake checks only that requests are signed).
//
// Usage:
//
//	fakelogs [-addr 127.0.0.1:0] [-latency 0] [-throttle-rate 0] [-error-rate 0] [-max-event-bytes 1048576] [-discard]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/logrouter/logrouter/internal/cwlfake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakelogs:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	latency := flag.Duration("latency", 0, "delay added to every request")
	throttle := flag.Float64("throttle-rate", 0, "probability that a PutLogEvents request is throttled")
	errRate := flag.Float64("error-rate", 0, "probability that a PutLogEvents request gets a 500")
	maxEvent := flag.Int("max-event-bytes", cwlfake.MaxBatchBytes, "largest accepted event (message bytes + 26)")
	discard := flag.Bool("discard", false, "accept PutLogEvents without decoding or storing (client benchmarks only)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("parse -addr: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr must be a loopback IP address, got %q", *addr)
	}
	fake := cwlfake.New(func(o *cwlfake.Options) {
		o.Latency = *latency
		o.MaxEventBytes = *maxEvent
		o.Discard = *discard
	})
	if *throttle > 0 {
		fake.SetFaultRate("PutLogEvents", cwlfake.FaultThrottle, *throttle)
	}
	if *errRate > 0 {
		fake.SetFaultRate("PutLogEvents", cwlfake.FaultServerError, *errRate)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintf(os.Stderr, "fakelogs: stopped after %d requests, %d events stored\n", fake.Requests(""), fake.EventCount())
	return nil
}
