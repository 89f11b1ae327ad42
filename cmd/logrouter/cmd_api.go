package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/tenant"
)

// apiShutdownGrace is how long in-flight requests may run after SIGTERM (the manifests allow 30s).
const apiShutdownGrace = 20 * time.Second

func init() {
	register(&command{
		Name:    "api",
		Summary: "serve the delivery-configuration REST API (/api/v1) over the DynamoDB tenant table",
		Doc: `Serves /api/v1: GET /health (no authentication), GET /delivery-configs (all tenants, paginated),
GET|POST /tenants/{tenant_id}/delivery-configs, GET|PUT|PATCH|DELETE /tenants/{tenant_id}/delivery-configs/{type},
and the OpenAPI document at /api/v1/openapi.json. Every route but health requires an HMAC-SHA256 request
signature made with one of the keys in the keys file: one "key_id=secret" line per key (secrets of at least
16 bytes; '#' starts a comment). Several lines are valid at once, for rotation: add the new key, move the
clients, remove the old one (restart to reload). Prometheus metrics (logrouter_api_*) are served at /metrics,
without authentication, on the API address or on --metrics-addr when set. SIGTERM/SIGINT stop accepting and
let in-flight requests finish.`,
		Setup: func(fs *flagSet) runFunc {
			var addr, table, keysFile, metricsAddr, logLevel string
			fs.String(&addr, "api-addr", "LOGROUTER_API_ADDR", "127.0.0.1:8080", "API listen address")
			fs.String(&table, "tenant-table", "LOGROUTER_TENANT_TABLE", "tenant-configurations", "DynamoDB table of delivery configurations")
			fs.String(&keysFile, "api-keys-file", "LOGROUTER_API_KEYS_FILE", "", "file of key_id=secret lines (required)")
			fs.String(&metricsAddr, "metrics-addr", "LOGROUTER_METRICS_ADDR", "", "separate listen address for /metrics (empty: serve /metrics on the API address)")
			fs.String(&logLevel, "log-level", "LOGROUTER_LOG_LEVEL", "info", "debug, info, warn or error")
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) != 0 {
					return usagef("api takes no arguments")
				}
				if keysFile == "" {
					return usagef("--api-keys-file (LOGROUTER_API_KEYS_FILE) is required")
				}
				if table == "" {
					return usagef("--tenant-table (LOGROUTER_TENANT_TABLE) must not be empty")
				}
				logger, err := newLogger(sio.Stderr, logLevel)
				if err != nil {
					return err
				}
				keys, err := api.LoadKeysFile(keysFile)
				if err != nil {
					return err
				}
				awsCfg, err := loadAWSConfig(ctx)
				if err != nil {
					return err
				}
				reg := prometheus.NewRegistry()
				reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
				store := tenant.NewStore(dynamodb.NewFromConfig(awsCfg), table)
				srv, err := api.New(store, keys, api.Options{Logger: logger, Registerer: reg})
				if err != nil {
					return err
				}
				metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

				var handler http.Handler = srv
				if metricsAddr == "" {
					handler = withMetricsPath(srv, metricsHandler)
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return fmt.Errorf("listen on %s: %w", addr, err)
				}
				logger.Info("api listening", "addr", ln.Addr().String(), "table", table, "keys", len(keys))
				g, gctx := errgroup.WithContext(ctx)
				g.Go(func() error { return api.Serve(gctx, ln, handler, apiShutdownGrace, logger) })
				if metricsAddr != "" {
					mln, err := net.Listen("tcp", metricsAddr)
					if err != nil {
						ln.Close()
						return fmt.Errorf("listen on %s: %w", metricsAddr, err)
					}
					mux := http.NewServeMux()
					mux.Handle("GET /metrics", metricsHandler)
					g.Go(func() error { return api.Serve(gctx, mln, mux, 5*time.Second, logger) })
				}
				if err := g.Wait(); err != nil && !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				logger.Info("api stopped")
				return nil
			}
		},
	})
}

// withMetricsPath serves GET /metrics with m and everything else with h.
func withMetricsPath(h, m http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && r.Method == http.MethodGet {
			m.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
