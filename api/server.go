// Package api serves the REST API for tenants' delivery configurations (/api/v1) over tenant.Store, with
// HMAC-signed requests, problem+json errors, an OpenAPI 3 document generated from the Go types, request
// logging and Prometheus metrics. The signing code (signing.go) is shared with the CLI client.
//
// A request passes, in order: the per-client limit on authentication failures (429), the body cap (413), the
// signature (401; keys.go for scopes and expiry), the one-time request id of mutating requests (409 on a
// replay), then the route's middlewares: the key's scope (403), strict JSON keys (400), the per-tenant limit on
// routes that call AWS (429), and the handler. Every answer carries a server-assigned X-Request-Id that is
// also in the request's log lines; a 500 names it.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
	"github.com/logrouter/logrouter/validate"
)

// Paths.
const (
	BasePath    = "/api/v1"
	HealthPath  = BasePath + "/health"
	ReadyPath   = BasePath + "/ready"
	OpenAPIPath = BasePath + "/openapi.json"
)

// DefaultMaxBodyBytes caps request bodies: a body of exactly this many bytes is accepted, one more is a 413.
const DefaultMaxBodyBytes = 64 << 10

// HeaderServerRequestID is the response header carrying the server-assigned id of every request, also logged
// as request_id.
const HeaderServerRequestID = "X-Request-Id"

func init() {
	// Every request-validation failure is a 400 in this API (huma's default is 422), with one
	// ErrorDetail per offending field.
	base := huma.NewError
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		if status == http.StatusUnprocessableEntity {
			status = http.StatusBadRequest
		}
		return base(status, msg, errs...)
	}
}

// Options configure a Server.
type Options struct {
	Logger       *slog.Logger          // default slog.Default()
	Registerer   prometheus.Registerer // metrics registry; nil = metrics not registered
	Now          func() time.Time      // clock for validation, signature timestamps and rate limits (default time.Now)
	MaxBodyBytes int64                 // default DefaultMaxBodyBytes
	// KeyRing supplies the signing keys and their scopes, reloadable; when set, New's keys argument is ignored.
	KeyRing *KeyRing
	// RequestIDs records accepted mutating request ids (replay protection). Default: NewMemoryRequestIDs, which
	// protects a single process only; replicas must share a DynamoRequestIDs.
	RequestIDs RequestIDs
	// AuthFailureLimit limits authentication failures per client address (default DefaultAuthFailureLimit;
	// Burst < 0 disables it). AWSCallLimit limits the AWSOperations per tenant (default DefaultAWSCallLimit).
	AuthFailureLimit, AWSCallLimit RateLimit
	// ReadyTimeout bounds the readiness check's calls to DynamoDB (default 5s).
	ReadyTimeout time.Duration
	// Status reads the delivery status and usage the processors record; nil: those routes answer 503.
	Status *status.Table
	// IdleAfter is when a destination with no delivery counts as idle (default status.DefaultIdleAfter).
	IdleAfter time.Duration
	// Validator validates delivery configs; nil: the validate routes answer 503 with ValidatorUnavailable.
	Validator            *validate.Validator
	ValidatorUnavailable string
	// Replays runs replay jobs (routes under /tenants/{tenant_id}/replays); nil: those routes answer 503.
	Replays ReplayJobs
	// TrustedProxies are the networks of reverse proxies whose X-Forwarded-For is believed: a request from one of
	// them is attributed (rate limits, history, logs) to the right-most X-Forwarded-For address that is not a
	// trusted proxy. Empty: the TCP peer is the client, and X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
}

// Server is the API's http.Handler.
type Server struct {
	store        *tenant.Store
	keys         *KeyRing
	opts         Options
	mux          *http.ServeMux
	api          huma.API
	metrics      *metrics
	authFailures *limiter
	awsCalls     *limiter
}

// New returns the API server for store, accepting requests signed with keys (or opts.KeyRing's).
func New(store *tenant.Store, keys Keys, opts Options) (*Server, error) {
	if opts.KeyRing == nil {
		if len(keys) == 0 {
			return nil, errors.New("api: no signing keys")
		}
		opts.KeyRing = NewKeyRing(&KeySet{Keys: keys})
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RequestIDs == nil {
		opts.RequestIDs = NewMemoryRequestIDs(opts.Now)
	}
	if opts.AuthFailureLimit == (RateLimit{}) {
		opts.AuthFailureLimit = DefaultAuthFailureLimit
	}
	if opts.AWSCallLimit == (RateLimit{}) {
		opts.AWSCallLimit = DefaultAWSCallLimit
	}
	if opts.IdleAfter <= 0 {
		opts.IdleAfter = status.DefaultIdleAfter
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 5 * time.Second
	}
	s := &Server{
		store:        store,
		keys:         opts.KeyRing,
		opts:         opts,
		mux:          http.NewServeMux(),
		metrics:      newMetrics(opts.Registerer),
		authFailures: newLimiter(opts.AuthFailureLimit, opts.Now),
		awsCalls:     newLimiter(opts.AWSCallLimit, opts.Now),
	}
	s.api = humago.New(s.mux, humaConfig())
	s.api.UseMiddleware(s.authorize, s.strictKeys, s.limitAWSCalls)
	s.register()
	s.mux.HandleFunc("/", s.notFound)
	return s, nil
}

// OpenAPI returns the API's OpenAPI document (the one served at OpenAPIPath).
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

func humaConfig() huma.Config {
	cfg := huma.DefaultConfig("logrouter delivery configuration API", "1.0.0")
	cfg.Info.Description = "Manage tenants' log delivery configurations (CloudWatch Logs and S3). " +
		"Every operation except health and ready requires an HMAC-SHA256 request signature: headers " +
		HeaderKeyID + ", " + HeaderTimestamp + " (Unix seconds, within 5 minutes of the server clock), " +
		HeaderContentSHA256 + " (hex SHA-256 of the body), " + HeaderAlgorithm + ": " + AlgorithmV2 + ", " +
		HeaderRequestID + " (16-128 of A-Z a-z 0-9 . _ -, new for every request) and " + HeaderSignature +
		" = hex HMAC-SHA256(secret, \"" + AlgorithmV2 + "\\nMETHOD\\nPATH?QUERY\\nTIMESTAMP\\nREQUEST_ID\\nBODY_SHA256\"). " +
		"A mutating request is accepted once: its request id is refused (409) for as long as its timestamp is valid. " +
		"Version 1 signatures (no algorithm header, no request id) are accepted for GET only. " +
		"Request bodies are at most 64 KiB (65536 bytes) and their keys must be exactly the documented field names. " +
		"Errors are application/problem+json (RFC 9457); every answer has an " + HeaderServerRequestID + " header."
	cfg.OpenAPIPath = strings.TrimSuffix(OpenAPIPath, ".json")
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.RejectUnknownQueryParameters = true
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"hmac": {Type: "apiKey", In: "header", Name: HeaderSignature,
			Description: "HMAC-SHA256 request signature with a pre-shared key; see the API description for the string to sign and the companion headers."},
	}
	return cfg
}

// ConfigView is a delivery configuration as the API returns it, with notes about accepted but suspicious
// settings (e.g. unknown group names, which the processor ignores).
type ConfigView struct {
	tenant.Config
	Warnings []string `json:"warnings,omitempty" readOnly:"true" doc:"Accepted settings the processor will ignore, e.g. unknown group names."`
}

func view(c tenant.Config) ConfigView { return ConfigView{Config: c, Warnings: c.Warnings()} }

// ConfigList is a list of delivery configurations.
type ConfigList struct {
	Items    []ConfigView `json:"items" nullable:"false"`
	Next     string       `json:"next,omitempty" doc:"Opaque token for the next page (pass as ?next=); absent on the last page."`
	Warnings []string     `json:"warnings,omitempty" doc:"Stored items that could not be read."`
}

// ConfigPatch is a PATCH body: the fields given replace the stored ones (lists are replaced whole, an empty
// string or list clears the field, null removes the field so that it takes its default); the result is
// validated as a whole.
type ConfigPatch struct {
	tenant.Config
	raw map[string]json.RawMessage
}

// UnmarshalJSON records which fields the patch names.
func (p *ConfigPatch) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &p.raw); err != nil {
		return err
	}
	return json.Unmarshal(b, &p.Config)
}

// apply merges the patch's fields into c.
func (p *ConfigPatch) apply(c *tenant.Config) error {
	cur, err := json.Marshal(c)
	if err != nil {
		return err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(cur, &m); err != nil {
		return err
	}
	for k, v := range p.raw {
		switch {
		case k == "created_at" || k == "updated_at":
		case string(v) == "null":
			delete(m, k)
		default:
			m[k] = v
		}
	}
	merged, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var out tenant.Config
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return err
	}
	*c = out
	return nil
}

// TenantParams are the path parameters of a tenant's collection.
type TenantParams struct {
	TenantID string `path:"tenant_id" maxLength:"63" doc:"Tenant identifier (lowercase DNS label)."`
}

// ConfigParams are the path parameters of one configuration.
type ConfigParams struct {
	TenantID string `path:"tenant_id" maxLength:"63" doc:"Tenant identifier (lowercase DNS label)."`
	Type     string `path:"type" enum:"cloudwatch,s3" doc:"Delivery type."`
}

type healthOutput struct {
	Body struct {
		Status string `json:"status" example:"ok"`
	}
}

const patchDescription = "The given fields replace the stored ones (lists are replaced whole); an empty string or list clears " +
	"that field, and null removes it so that it takes its default (enabled: true, bucket_prefix: ROSA/cluster-logs/, " +
	"the others absent); null on a required field makes the result invalid. created_at and updated_at are ignored."

type listAllInput struct {
	Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Maximum items per page (a page may hold fewer and still have a next token)."`
	Next  string `query:"next" maxLength:"1024" doc:"Token from the previous page's next field."`
}

type listOutput struct{ Body ConfigList }

type configOutput struct{ Body ConfigView }

type createInput struct {
	TenantParams
	Body tenant.Config
}

type createOutput struct {
	Location string `header:"Location" doc:"URL of the created configuration."`
	Body     ConfigView
}

type putInput struct {
	ConfigParams
	Body tenant.Config
}

type patchInput struct {
	ConfigParams
	Body ConfigPatch
}

var (
	errorsRead  = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound}
	errorsWrite = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge}
	security    = []map[string][]string{{"hmac": {}}}
)

// publicRoute reports whether a route needs no signature.
func publicRoute(route, method string) bool {
	return (route == HealthPath || route == ReadyPath) && method == http.MethodGet
}

func (s *Server) register() {
	huma.Register(s.api, huma.Operation{
		OperationID: "health", Method: http.MethodGet, Path: HealthPath, Tags: []string{"health"},
		Summary: "Liveness: the process serves requests (no authentication, no dependency checked)",
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		out := &healthOutput{}
		out.Body.Status = "ok"
		return out, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "ready", Method: http.MethodGet, Path: ReadyPath, Tags: []string{"health"},
		Summary: "Readiness: the DynamoDB tables can be read (no authentication); 503 while they cannot",
		Errors:  []int{http.StatusServiceUnavailable},
	}, s.ready)

	huma.Register(s.api, huma.Operation{
		OperationID: "list-all-delivery-configs", Method: http.MethodGet, Path: BasePath + "/delivery-configs",
		Tags: []string{"delivery-configs"}, Summary: "List the delivery configurations of all tenants (paginated)",
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized}, Security: security,
	}, s.listAll)

	huma.Register(s.api, huma.Operation{
		OperationID: "list-tenant-delivery-configs", Method: http.MethodGet, Path: BasePath + "/tenants/{tenant_id}/delivery-configs",
		Tags: []string{"delivery-configs"}, Summary: "List a tenant's delivery configurations",
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized}, Security: security,
	}, s.listTenant)

	huma.Register(s.api, huma.Operation{
		OperationID: "create-delivery-config", Method: http.MethodPost, Path: BasePath + "/tenants/{tenant_id}/delivery-configs",
		Tags: []string{"delivery-configs"}, Summary: "Create a delivery configuration (409 when the tenant already has one of that type)",
		DefaultStatus: http.StatusCreated, MaxBodyBytes: noBodyLimit,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict, http.StatusRequestEntityTooLarge}, Security: security,
	}, s.create)

	huma.Register(s.api, huma.Operation{
		OperationID: "get-delivery-config", Method: http.MethodGet, Path: BasePath + "/tenants/{tenant_id}/delivery-configs/{type}",
		Tags: []string{"delivery-configs"}, Summary: "Get a delivery configuration", Errors: errorsRead, Security: security,
	}, s.get)

	huma.Register(s.api, huma.Operation{
		OperationID: "replace-delivery-config", Method: http.MethodPut, Path: BasePath + "/tenants/{tenant_id}/delivery-configs/{type}",
		Tags: []string{"delivery-configs"}, Summary: "Replace a delivery configuration (404 when missing)",
		MaxBodyBytes: noBodyLimit, Errors: errorsWrite, Security: security,
	}, s.put)

	huma.Register(s.api, huma.Operation{
		OperationID: "patch-delivery-config", Method: http.MethodPatch, Path: BasePath + "/tenants/{tenant_id}/delivery-configs/{type}",
		Tags: []string{"delivery-configs"}, Summary: "Change some fields of a delivery configuration; the result is validated whole",
		Description:  patchDescription,
		MaxBodyBytes: noBodyLimit, Errors: errorsWrite, Security: security,
	}, s.patch)

	huma.Register(s.api, huma.Operation{
		OperationID: "delete-delivery-config", Method: http.MethodDelete, Path: BasePath + "/tenants/{tenant_id}/delivery-configs/{type}",
		Tags: []string{"delivery-configs"}, Summary: "Delete a delivery configuration",
		DefaultStatus: http.StatusNoContent, Errors: errorsRead, Security: security,
	}, s.delete)

	s.registerHistory()
	s.registerStatus()
	s.registerReplays()

	s.documentCommonErrors()
}

// noBodyLimit turns off huma's own body limit: ServeHTTP enforces Options.MaxBodyBytes on every route, so there
// is one limit and one message.
const noBodyLimit = -1

// documentCommonErrors lists, on every operation, the answers ServeHTTP and the middlewares may give, and
// removes huma's 422 (request-validation failures are answered with 400, see init).
func (s *Server) documentCommonErrors() {
	for _, item := range s.api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			delete(op.Responses, "422")
			var problem *huma.Response
			for _, code := range []string{"default", "500", "400", "401", "404"} {
				if r := op.Responses[code]; r != nil && r.Content["application/problem+json"] != nil {
					problem = r
					break
				}
			}
			if problem == nil {
				continue
			}
			add := func(code int, why string) {
				if op.Responses[strconv.Itoa(code)] == nil {
					op.Responses[strconv.Itoa(code)] = &huma.Response{Description: why, Content: problem.Content}
				}
			}
			add(http.StatusInternalServerError, "Internal error; the detail names the request id of the server's log line")
			if publicRoute(op.Path, op.Method) {
				continue
			}
			add(http.StatusUnauthorized, "Missing, invalid, stale or expired signature")
			add(http.StatusForbidden, "The key's scope does not allow this tenant, route or method")
			add(http.StatusTooManyRequests, "Too many authentication failures from this client, or too many calls to AWS for this tenant; see Retry-After")
			if Mutating(op.Method) {
				add(http.StatusBadRequest, "Invalid request")
				add(http.StatusConflict, "Conflict, or a request id that was already used")
				add(http.StatusRequestEntityTooLarge, "Body larger than 65536 bytes")
			}
		}
	}
}

func (s *Server) ready(ctx context.Context, _ *struct{}) (*healthOutput, error) {
	cctx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	if err := s.store.Check(cctx); err != nil {
		id := requestIDFrom(ctx)
		s.opts.Logger.ErrorContext(ctx, "api not ready", "request_id", id, "error", err)
		return nil, huma.Error503ServiceUnavailable("not ready: a DynamoDB table cannot be read; see the server log (request id " + id + ")")
	}
	out := &healthOutput{}
	out.Body.Status = "ready"
	return out, nil
}

func (s *Server) listAll(ctx context.Context, in *listAllInput) (*listOutput, error) {
	page, err := s.store.List(ctx, in.Limit, in.Next)
	if errors.Is(err, tenant.ErrBadToken) {
		return nil, huma.Error400BadRequest("invalid pagination token", &huma.ErrorDetail{Location: "query.next", Message: "is not a token this API issued", Value: in.Next})
	}
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	out := &listOutput{Body: ConfigList{Items: views(page.Configs), Next: page.Next}}
	for _, ie := range page.Malformed {
		out.Body.Warnings = append(out.Body.Warnings, ie.Error())
	}
	return out, nil
}

func views(cs []tenant.Config) []ConfigView {
	out := make([]ConfigView, len(cs))
	for i, c := range cs {
		out[i] = view(c)
	}
	return out
}

func (s *Server) listTenant(ctx context.Context, in *TenantParams) (*listOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	configs, malformed, err := s.store.ListTenant(ctx, in.TenantID)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	out := &listOutput{Body: ConfigList{Items: views(configs)}}
	for _, ie := range malformed {
		out.Body.Warnings = append(out.Body.Warnings, ie.Error())
	}
	return out, nil
}

// newConfig completes a request body's config for tenantID (server-set fields cleared, normalised) and
// validates it.
func (s *Server) newConfig(tenantID string, c tenant.Config) (tenant.Config, error) {
	if c.TenantID != "" && c.TenantID != tenantID {
		return c, fieldError("tenant_id", "must match the tenant_id in the path", c.TenantID)
	}
	c.TenantID = tenantID
	c.CreatedAt, c.UpdatedAt = "", ""
	c.Normalize()
	if err := c.Validate(s.opts.Now()); err != nil {
		return c, validationError(err)
	}
	return c, nil
}

func (s *Server) create(ctx context.Context, in *createInput) (*createOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	c, err := s.newConfig(in.TenantID, in.Body)
	if err != nil {
		return nil, err
	}
	created, err := s.store.Create(ctx, c)
	s.historyWritten(tenant.OpCreate, err)
	if errors.Is(err, tenant.ErrExists) {
		return nil, huma.Error409Conflict(fmt.Sprintf("tenant %s already has a %s delivery configuration; use PUT or PATCH to change it", c.TenantID, c.Type))
	}
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &createOutput{Location: configURL(created.TenantID, created.Type), Body: view(created)}, nil
}

func configURL(tenantID string, t tenant.Type) string {
	return BasePath + "/tenants/" + tenantID + "/delivery-configs/" + string(t)
}

func (s *Server) get(ctx context.Context, in *ConfigParams) (*configOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	c, err := s.store.Get(ctx, in.TenantID, tenant.Type(in.Type))
	if err != nil {
		return nil, s.storeError(ctx, in, err)
	}
	return &configOutput{Body: view(c)}, nil
}

func (s *Server) put(ctx context.Context, in *putInput) (*configOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	c := in.Body
	if err := checkKey(in.ConfigParams, c); err != nil {
		return nil, err
	}
	c.TenantID, c.Type = in.TenantID, tenant.Type(in.Type)
	c.Normalize()
	if err := c.Validate(s.opts.Now()); err != nil {
		return nil, validationError(err)
	}
	updated, err := s.store.Replace(withOperation(ctx, tenant.OpReplace), c)
	s.historyWritten(tenant.OpReplace, err)
	if err != nil {
		return nil, s.storeError(ctx, &in.ConfigParams, err)
	}
	return &configOutput{Body: view(updated)}, nil
}

func (s *Server) patch(ctx context.Context, in *patchInput) (*configOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	if err := checkKey(in.ConfigParams, in.Body.Config); err != nil {
		return nil, err
	}
	updated, err := s.store.Update(withOperation(ctx, tenant.OpPatch), in.TenantID, tenant.Type(in.Type), func(stored *tenant.Config) error {
		if err := in.Body.apply(stored); err != nil {
			return huma.Error400BadRequest("invalid patch: " + err.Error())
		}
		stored.TenantID, stored.Type = in.TenantID, tenant.Type(in.Type)
		stored.Normalize()
		if err := stored.Validate(s.opts.Now()); err != nil {
			return validationError(err)
		}
		return nil
	})
	s.historyWritten(tenant.OpPatch, err)
	if err != nil {
		return nil, s.storeError(ctx, &in.ConfigParams, err)
	}
	return &configOutput{Body: view(updated)}, nil
}

func (s *Server) delete(ctx context.Context, in *ConfigParams) (*struct{}, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	err := s.store.Delete(ctx, in.TenantID, tenant.Type(in.Type))
	s.historyWritten(tenant.OpDelete, err)
	if err != nil {
		return nil, s.storeError(ctx, in, err)
	}
	return nil, nil
}

func checkTenantPath(id string) error {
	if err := tenant.ValidateTenantID(id); err != nil {
		return huma.Error400BadRequest("validation failed", &huma.ErrorDetail{Location: "path.tenant_id", Message: err.Error(), Value: id})
	}
	return nil
}

func checkKey(p ConfigParams, c tenant.Config) error {
	if c.TenantID != "" && c.TenantID != p.TenantID {
		return fieldError("tenant_id", "must match the tenant_id in the path", c.TenantID)
	}
	if c.Type != "" && string(c.Type) != p.Type {
		return fieldError("type", "must match the type in the path", c.Type)
	}
	return nil
}

func fieldError(field, msg string, value any) error {
	return huma.Error400BadRequest("validation failed", &huma.ErrorDetail{Location: "body." + field, Message: msg, Value: value})
}

// validationError turns a *tenant.ValidationError into a 400 with one detail per field.
func validationError(err error) error {
	var ve *tenant.ValidationError
	if !errors.As(err, &ve) {
		return huma.Error400BadRequest(err.Error())
	}
	fields := make([]string, 0, len(ve.Fields))
	for f := range ve.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	details := make([]error, len(fields))
	for i, f := range fields {
		details[i] = &huma.ErrorDetail{Location: "body." + f, Message: ve.Fields[f]}
	}
	return huma.Error400BadRequest("validation failed", details...)
}

func (s *Server) storeError(ctx context.Context, p *ConfigParams, err error) error {
	var se huma.StatusError
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, tenant.ErrNotFound):
		return huma.Error404NotFound(fmt.Sprintf("tenant %s has no %s delivery configuration", p.TenantID, p.Type))
	case errors.Is(err, tenant.ErrConflict):
		return huma.Error409Conflict("the configuration is being modified concurrently; retry")
	}
	return s.internal(ctx, err)
}

// internal logs err with the request's id and returns a 500 that reveals nothing about it but that id.
func (s *Server) internal(ctx context.Context, err error) error {
	id := requestIDFrom(ctx)
	s.opts.Logger.ErrorContext(ctx, "api request failed", "request_id", id, "error", err)
	return huma.Error500InternalServerError(internalDetail(id))
}

func internalDetail(id string) string { return "internal error (request id " + id + ")" }

// withOperation names the operation recorded in the history of the change made under ctx.
func withOperation(ctx context.Context, op string) context.Context {
	ch := tenant.ChangeFrom(ctx)
	ch.Operation = op
	return tenant.WithChange(ctx, ch)
}

// historyWritten counts a change recorded in the history (the store writes both in one transaction).
func (s *Server) historyWritten(op string, err error) {
	if err == nil && s.store.HistoryTable() != "" {
		s.metrics.historyWrites.WithLabelValues(op).Inc()
	}
}

// notFound answers requests that match no route: 405 when the path exists for another method, else 404.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblem(w, http.StatusMethodNotAllowed, "")
		return
	}
	writeProblem(w, http.StatusNotFound, "no such resource")
}

// writeProblem writes an RFC 9457 problem document.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
}

// requestInfo is what ServeHTTP established about a request, for the route's middlewares and handler.
type requestInfo struct {
	id     string // server-assigned (HeaderServerRequestID)
	signed Signed
	scope  Scope
	body   []byte
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// requestIDFrom returns the server-assigned id of the request being served under ctx.
func requestIDFrom(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// ServeHTTP assigns the request an id, limits authentication failures, caps the body, authenticates (all
// routes but health and ready), accepts a mutating request id once, routes the request, and logs and counts it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	_, pattern := s.mux.Handler(r)
	route := routeLabel(pattern)
	rec := &recorder{ResponseWriter: w}
	info := &requestInfo{id: NewRequestID()[:16]}
	rec.Header().Set(HeaderServerRequestID, info.id)
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.opts.Logger.ErrorContext(r.Context(), "api handler panic", "request_id", info.id, "route", route, "panic", fmt.Sprint(p))
			if rec.status == 0 {
				writeProblem(rec, http.StatusInternalServerError, internalDetail(info.id))
			}
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observe(route, r.Method, status, d)
		level := slog.LevelInfo
		if publicRoute(route, r.Method) {
			level = slog.LevelDebug
		}
		s.opts.Logger.Log(r.Context(), level, "api request", "request_id", info.id, "method", r.Method, "route", route,
			"path", r.URL.Path, "status", status, "duration_ms", float64(d.Microseconds())/1000, "bytes_out", rec.bytes,
			"key_id", info.signed.KeyID, "client_request_id", info.signed.RequestID, "remote", r.RemoteAddr)
	}()

	if !publicRoute(route, r.Method) && !s.authenticate(rec, r, info) {
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// authenticate runs the checks before routing; when it returns false it has answered the request.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, info *requestInfo) bool {
	client := s.clientAddr(r)
	if blocked, wait := s.authFailures.blocked(client); blocked {
		s.metrics.rateLimited.WithLabelValues("auth_failures").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		writeProblem(w, http.StatusTooManyRequests, "too many authentication failures from this client; retry later")
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBodyBytes+1))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "could not read the request body")
		return false
	}
	if int64(len(body)) > s.opts.MaxBodyBytes {
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", s.opts.MaxBodyBytes))
		return false
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	keys := s.keys.Current()
	signed, err := (&Verifier{Keys: keys.Keys, Now: s.opts.Now}).VerifyRequest(r, uri, body)
	scope := keys.Scopes[signed.KeyID]
	if err == nil && !scope.Expires.IsZero() && !s.opts.Now().Before(scope.Expires) {
		err = errKeyExpired
	}
	if err != nil {
		s.metrics.authFailure(err)
		s.opts.Logger.WarnContext(r.Context(), "api request rejected", "request_id", info.id, "reason", err.Error(),
			"key_id", r.Header.Get(HeaderKeyID), "remote", r.RemoteAddr, "client", client)
		if errors.Is(err, ErrV1Mutation) {
			// The signature is valid: say what to change (this is no failure to count against the client).
			writeProblem(w, http.StatusUnauthorized, err.Error())
			return false
		}
		s.authFailures.take(client)
		writeProblem(w, http.StatusUnauthorized, "")
		return false
	}
	info.signed, info.scope, info.body = signed, scope, body
	if Mutating(r.Method) {
		// The timestamp is accepted until signed.Timestamp + MaxClockSkew: remember the id at least that long.
		fresh, err := s.opts.RequestIDs.Claim(r.Context(), signed.KeyID, signed.RequestID, signed.Timestamp.Add(MaxClockSkew+time.Second))
		if err != nil {
			s.opts.Logger.ErrorContext(r.Context(), "api request failed", "request_id", info.id, "error", err)
			writeProblem(w, http.StatusInternalServerError, internalDetail(info.id))
			return false
		}
		if !fresh {
			s.metrics.replaysRefused.Inc()
			s.opts.Logger.WarnContext(r.Context(), "api request replay refused", "request_id", info.id,
				"key_id", signed.KeyID, "client_request_id", signed.RequestID, "remote", r.RemoteAddr)
			writeProblem(w, http.StatusConflict, "request id "+signed.RequestID+" was already used; sign every request with a new request id")
			return false
		}
		remote := r.RemoteAddr
		if peer := peerHost(r.RemoteAddr); client != peer {
			remote = client + " via " + r.RemoteAddr
		}
		*r = *r.WithContext(tenant.WithChange(r.Context(), tenant.Change{KeyID: signed.KeyID, RequestID: signed.RequestID, Remote: remote}))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return true
}

var errKeyExpired = errors.New("key expired")

// peerHost is the TCP peer's address without its port.
func peerHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// clientAddr is the client's address without its port (the key of the authentication-failure limit): the TCP
// peer, or, when the peer is a trusted proxy, the right-most X-Forwarded-For address that is not one.
func (s *Server) clientAddr(r *http.Request) string {
	peer := peerHost(r.RemoteAddr)
	if !s.trusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break // not an address: nothing left of it can be believed
		}
		client = a.String()
		if !s.trusted(client) {
			break
		}
	}
	return client
}

func (s *Server) trusted(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// authorize is the huma middleware that applies the signing key's scope: 403 on a tenant outside it, on the
// all-tenants routes (no {tenant_id} in the path) for tenant-scoped keys, and on mutating methods for
// read-only keys.
func (s *Server) authorize(ctx huma.Context, next func(huma.Context)) {
	info := infoFrom(ctx.Context())
	if info == nil || info.signed.KeyID == "" {
		next(ctx) // a public route
		return
	}
	sc, key := info.scope, info.signed.KeyID
	deny := func(reason, msg string) {
		s.metrics.authzDenied.WithLabelValues(reason).Inc()
		s.opts.Logger.WarnContext(ctx.Context(), "api request forbidden", "request_id", info.id, "key_id", key, "reason", reason)
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, msg)
	}
	switch op := ctx.Operation(); {
	case sc.ReadOnly && Mutating(ctx.Method()):
		deny("read_only", "key "+key+" may only read")
	case sc.Scoped() && !strings.Contains(op.Path, "{tenant_id}"):
		deny("all_tenants", "key "+key+" is limited to some tenants and cannot use the all-tenants route "+op.Path)
	case sc.Scoped() && !sc.AllowsTenant(ctx.Param("tenant_id")):
		deny("tenant", "key "+key+" may not manage tenant "+ctx.Param("tenant_id"))
	default:
		next(ctx)
	}
}

// limitAWSCalls is the huma middleware that rate-limits the AWSOperations per tenant.
func (s *Server) limitAWSCalls(ctx huma.Context, next func(huma.Context)) {
	if !slices.Contains(AWSOperations, ctx.Operation().OperationID) {
		next(ctx)
		return
	}
	if ok, wait := s.awsCalls.take(ctx.Param("tenant_id")); !ok {
		s.metrics.rateLimited.WithLabelValues("aws_calls").Inc()
		ctx.SetHeader("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		_ = huma.WriteErr(s.api, ctx, http.StatusTooManyRequests, "too many calls to AWS for tenant "+ctx.Param("tenant_id")+"; retry later")
		return
	}
	next(ctx)
}

// routeLabel turns a mux pattern ("GET /api/v1/x/{id}") into a bounded metric label ("/api/v1/x/{id}").
func routeLabel(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	if pattern == "" || pattern == "/" {
		return "unmatched"
	}
	return pattern
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Serve serves h on ln until ctx ends, then shuts down gracefully: it stops accepting, lets in-flight
// requests finish for up to grace, and returns nil on a clean shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
