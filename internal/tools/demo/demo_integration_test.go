package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
)

// `make demo` keeps working: the whole demo runs (with its own moto_server) and all its checks pass.
func TestDemoEndToEnd(t *testing.T) {
	testaws.Endpoint(t) // integration gate: the demo starts its own emulator
	bin := filepath.Join(t.TempDir(), "logrouter")
	build := exec.Command("go", "build", "-o", bin, "../../../cmd/logrouter")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err = run(ctx, options{bin: bin, template: "../../../deploy/cloudformation/central.yaml", objectSize: 256 << 10, timeout: 3 * time.Minute}, &stdout, &stderr)
	require.NoError(t, err, "demo output:\n%s\n%s", stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), "all checks passed")
}

// `make demo KEEP=1`: after its checks the demo keeps the stack serving, prints the same settings and next
// steps as `make dev`, and stops cleanly when interrupted.
func TestDemoKeepRunning(t *testing.T) {
	testaws.Endpoint(t)
	bin := filepath.Join(t.TempDir(), "logrouter")
	out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/logrouter").CombinedOutput()
	require.NoError(t, err, "%s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	interrupt, stop := context.WithCancel(ctx) // stands for Ctrl-C
	defer stop()
	var stderr bytes.Buffer
	stdout := &lineWatcher{match: func(l string) bool { return strings.HasPrefix(l, readyLine) }, fire: stop}
	envFile := filepath.Join(t.TempDir(), "dev.env")
	err = run(interrupt, options{bin: bin, template: "../../../deploy/cloudformation/central.yaml", examples: "../../../examples",
		objectSize: 256 << 10, timeout: 3 * time.Minute, keepRunning: true, envFile: envFile}, stdout, &stderr)
	require.NoError(t, err, "demo output:\n%s\n%s", stdout.String(), stderr.String())
	require.NoError(t, ctx.Err(), "the test's deadline passed before the ready line")
	got := stdout.String()
	assert.Contains(t, got, "all checks passed")
	u := parseUsage(strings.Split(got, "\n"))
	assert.Len(t, u.steps, 3, "the next steps of make dev:\n%s", got)
	assert.NotEmpty(t, u.env("LOGROUTER_API_SECRET_FILE"))
	assert.Contains(t, got, "stopping the local stack")
	assertNothingLeft(t, u, envFile)
}

// lineWatcher collects output and calls fire once a line matches.
type lineWatcher struct {
	bytes.Buffer
	match   func(string) bool
	fire    func()
	partial string
	fired   bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.Buffer.Write(p)
	w.partial += string(p)
	for {
		i := strings.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if !w.fired && w.match(w.partial[:i]) {
			w.fired = true
			w.fire()
		}
		w.partial = w.partial[i+1:]
	}
}
