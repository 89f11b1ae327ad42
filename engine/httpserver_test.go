package engine

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, false)
	m.MessagesReceived.Add(3)
	var ready atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	bound := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", NewHealthHandler(reg, ready.Load), bound) }()
	addr := <-bound
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	assert.Equal(t, 200, code)
	code, _ = get("/readyz")
	assert.Equal(t, 503, code, "not ready")
	ready.Store(true)
	code, _ = get("/readyz")
	assert.Equal(t, 200, code)
	code, body := get("/metrics")
	assert.Equal(t, 200, code)
	assert.True(t, strings.Contains(body, "logrouter_messages_received_total 3"), body)
	cancel()
	require.NoError(t, <-done)
	assert.Error(t, Serve(context.Background(), "256.0.0.1:1", NewHealthHandler(reg, nil), nil), "a bad address is reported")
}
