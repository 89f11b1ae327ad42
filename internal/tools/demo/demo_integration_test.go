package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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
