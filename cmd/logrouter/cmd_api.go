package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
		Args:    "[openapi]",
		Doc: `Serves /api/v1: GET /health (liveness) and GET /ready (the tables can be read; 503 otherwise), both
without authentication; GET /delivery-configs (all tenants, paginated), GET|POST /tenants/{tenant_id}/delivery-configs,
GET|PUT|PATCH|DELETE /tenants/{tenant_id}/delivery-configs/{type}, GET .../{type}/history (the change history),
GET /tenants/{tenant_id}/status and /usage, GET /usage (all tenants, CSV with Accept: text/csv), POST
/tenants/{tenant_id}/delivery-configs/validate and .../{type}/validate,
GET|POST /tenants/{tenant_id}/replays, GET /tenants/{tenant_id}/replays/{replay_id} and POST .../cancel (replay
jobs: on when --queue-url, --replay-keys-file, --source-buckets and --status-table are set; a job's state lives
in the status table, jobs left running by a stopped API are resumed by the next one), and the OpenAPI document at /api/v1/openapi.json. "logrouter api openapi" prints that document and exits.

Status and usage are read from --status-table (the processors' LOGROUTER_STATUS_TABLE); without it those
routes answer 503. Validation assumes --central-role-arn and then the customer's role like the processor
does, in the region of AWS_REGION (or the config's target_region); without a central role it answers 503.
Both are reported at startup when missing.

At startup the AWS region and credentials are resolved and both tables are read once; any failure stops the
server with the reason. Every change is recorded, in the same DynamoDB transaction, in the audit table
(--audit-table: key pk/sk, TTL attribute expires_at), which also holds the ids of accepted mutating requests
(replay protection shared by all replicas).

Every route but health and ready requires an HMAC-SHA256 request signature made with one of the keys in the
keys file: one "key_id=secret" line per key (secrets of at least 16 bytes; '#' starts a comment), and
optionally one scope line per key:
  @key_id tenants=acme,team-* access=read expires=2027-01-31T00:00:00Z
(tenants: exact ids or prefixes ending in *, and no all-tenants routes; access: read or read-write;
expires: RFC 3339). A key without a scope line has full access. The file is reloaded on SIGHUP and when its
content changes (checked every --api-keys-reload-interval); an invalid new file is refused with the reason
logged, and the keys in use are kept. Several keys are valid at once, for rotation.

Prometheus metrics (logrouter_api_*) are served at /metrics, without authentication, on the API address or on
--metrics-addr when set. SIGTERM/SIGINT stop accepting and let in-flight requests finish.`,
		Setup: func(fs *flagSet) runFunc {
			var addr, table, auditTable, keysFile, metricsAddr, logLevel, proxies string
			var reloadEvery time.Duration
			var sv statusAPIFlags
			var retentionDays, authBurst, awsBurst int
			var rf replayJobFlags
			fs.String(&addr, "api-addr", "LOGROUTER_API_ADDR", "127.0.0.1:8080", "API listen address")
			fs.String(&table, "tenant-table", "LOGROUTER_TENANT_TABLE", "tenant-configurations", "DynamoDB table of delivery configurations")
			fs.String(&auditTable, "audit-table", "LOGROUTER_AUDIT_TABLE", "tenant-configurations-audit", "DynamoDB table of the change history and seen request ids (pk, sk; TTL expires_at)")
			fs.Int(&retentionDays, "history-retention-days", "LOGROUTER_HISTORY_RETENTION_DAYS", 400, "days a change-history entry is kept (its expires_at)")
			fs.String(&keysFile, "api-keys-file", "LOGROUTER_API_KEYS_FILE", "", "file of key_id=secret lines and optional @key_id scope lines (required)")
			fs.Duration(&reloadEvery, "api-keys-reload-interval", "LOGROUTER_API_KEYS_RELOAD_INTERVAL", 10*time.Second, "how often the keys file is checked for changes (SIGHUP reloads at once)")
			fs.Int(&authBurst, "auth-failure-limit", "LOGROUTER_AUTH_FAILURE_LIMIT", api.DefaultAuthFailureLimit.Burst, "authentication failures per client address per minute before 429 (0: no limit)")
			fs.String(&proxies, "trusted-proxies", "LOGROUTER_API_TRUSTED_PROXIES", "", "comma-separated networks (CIDR) of reverse proxies whose X-Forwarded-For names the client (empty: the TCP peer is the client)")
			fs.Int(&awsBurst, "aws-call-limit", "LOGROUTER_AWS_CALL_LIMIT", api.DefaultAWSCallLimit.Burst, "calls per tenant per minute to the routes that call AWS before 429 (0: no limit)")
			fs.String(&metricsAddr, "metrics-addr", "LOGROUTER_METRICS_ADDR", "", "separate listen address for /metrics (empty: serve /metrics on the API address)")
			fs.String(&logLevel, "log-level", "LOGROUTER_LOG_LEVEL", "info", "debug, info, warn or error")
			sv.declare(fs)
			rf.declare(fs)
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) == 1 && args[0] == "openapi" {
					doc, err := api.OpenAPIDocument()
					if err != nil {
						return err
					}
					_, err = sio.Stdout.Write(append(doc, '\n'))
					return err
				}
				if len(args) != 0 {
					return usagef("api takes no arguments, or openapi")
				}
				if keysFile == "" {
					return usagef("--api-keys-file (LOGROUTER_API_KEYS_FILE) is required")
				}
				if table == "" || auditTable == "" {
					return usagef("--tenant-table (LOGROUTER_TENANT_TABLE) and --audit-table (LOGROUTER_AUDIT_TABLE) must not be empty")
				}
				if retentionDays < 1 || authBurst < 0 || awsBurst < 0 || reloadEvery <= 0 {
					return usagef("--history-retention-days must be at least 1, the limits at least 0 and --api-keys-reload-interval positive")
				}
				trusted, err := parsePrefixes(proxies)
				if err != nil {
					return usagef("--trusted-proxies (LOGROUTER_API_TRUSTED_PROXIES): %v", err)
				}
				logger, err := newLogger(sio.Stderr, logLevel)
				if err != nil {
					return err
				}
				keys, err := api.LoadKeyRing(keysFile)
				if err != nil {
					return err
				}
				// From here on SIGHUP reloads the keys (Watch, below) instead of ending the process.
				hup := make(chan os.Signal, 1)
				signal.Notify(hup, syscall.SIGHUP)
				defer signal.Stop(hup)
				awsCfg, err := loadAWSConfig(ctx)
				if err != nil {
					return err
				}
				ddb := dynamodb.NewFromConfig(awsCfg)
				store := tenant.NewStore(ddb, table, func(o *tenant.StoreOptions) {
					o.HistoryTable = auditTable
					o.HistoryRetention = time.Duration(retentionDays) * 24 * time.Hour
				})
				if err := checkAPIDependencies(ctx, awsCfg, store); err != nil {
					return err
				}
				jobs, err := rf.jobs(awsCfg, logger)
				if err != nil {
					return err
				}
				var replays api.ReplayJobs
				if jobs != nil {
					replays = jobs
				}
				reg := prometheus.NewRegistry()
				reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
				limit := func(burst int) api.RateLimit {
					if burst == 0 {
						return api.RateLimit{Burst: -1}
					}
					return api.RateLimit{Burst: burst, Per: time.Minute}
				}
				opts := api.Options{Logger: logger, Registerer: reg, KeyRing: keys,
					RequestIDs:       api.NewDynamoRequestIDs(ddb, auditTable, nil),
					AuthFailureLimit: limit(authBurst), AWSCallLimit: limit(awsBurst), TrustedProxies: trusted, Replays: replays}
				if err := sv.wire(awsCfg, ddb, rf.statusTable, rf.pathDesc, &opts, logger); err != nil {
					return err
				}
				srv, err := api.New(store, nil, opts)
				if err != nil {
					return err
				}
				keys.OnReload = srv.KeyReloaded
				metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

				var handler http.Handler = srv
				if metricsAddr == "" {
					handler = withMetricsPath(srv, metricsHandler)
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return fmt.Errorf("listen on %s: %w", addr, err)
				}
				logger.Info("api listening", "addr", ln.Addr().String(), "table", table, "audit_table", auditTable,
					"keys", len(keys.Current().Keys), "scoped_keys", len(keys.Current().Scopes))
				g, gctx := errgroup.WithContext(ctx)
				g.Go(func() error { return api.Serve(gctx, ln, handler, apiShutdownGrace, logger) })
				g.Go(func() error { serveJobs(gctx, jobs); return nil })
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
				g.Go(func() error { keys.Watch(gctx, reloadEvery, hup, logger); return nil })
				if err := g.Wait(); err != nil && !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				logger.Info("api stopped")
				return nil
			}
		},
	})
}

// checkAPIDependencies fails with a clear reason when the AWS region or credentials are missing or a table
// cannot be read, so that the API does not start and then answer 500s.
func checkAPIDependencies(ctx context.Context, cfg aws.Config, store *tenant.Store) error {
	if cfg.Region == "" {
		return errors.New("no AWS region: set AWS_REGION (or a region in the shared AWS config)")
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cfg.Credentials == nil {
		return errors.New("no AWS credentials provider configured")
	}
	if _, err := cfg.Credentials.Retrieve(cctx); err != nil {
		return fmt.Errorf("no usable AWS credentials (environment, shared config, web identity or instance role): %w", err)
	}
	if err := store.Check(cctx); err != nil {
		return fmt.Errorf("startup check in region %s: %w", cfg.Region, err)
	}
	return nil
}

// parsePrefixes parses a comma-separated list of CIDR networks ("" = none).
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR network (10.0.0.0/8, fd00::/8)", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
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
