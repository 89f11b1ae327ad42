package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
	"github.com/logrouter/logrouter/validate"
)

// Operation ids of the status, usage and validation routes (the validation ones are AWSOperations).
const (
	OpTenantStatus         = "get-tenant-status"
	OpTenantUsage          = "get-tenant-usage"
	OpUsageByDate          = "list-usage"
	OpValidateConfig       = "validate-delivery-config"
	OpValidateStoredConfig = "validate-stored-delivery-config"
)

// maxUsageDays bounds one usage query's date range.
const maxUsageDays = 400

// DestinationStatus is one destination type's delivery status, with the tenant's configuration of it.
type DestinationStatus struct {
	status.Record
	Configured  bool   `json:"configured" doc:"The tenant has a delivery configuration of this type (false: a status left from a deleted one)."`
	Enabled     bool   `json:"enabled" doc:"The configuration is enabled."`
	Destination string `json:"destination,omitempty" doc:"Log group or bucket (with prefix) of the configuration."`
}

// TenantStatus is the delivery status of every destination of a tenant.
type TenantStatus struct {
	TenantID     string              `json:"tenant_id"`
	Destinations []DestinationStatus `json:"destinations" nullable:"false"`
	Warnings     []string            `json:"warnings,omitempty" doc:"Stored configurations that could not be read."`
}

// UsageReport is a tenant's daily usage.
type UsageReport struct {
	TenantID string            `json:"tenant_id"`
	From     string            `json:"from"`
	To       string            `json:"to"`
	Rows     []status.UsageRow `json:"rows" nullable:"false"`
	Totals   []status.UsageRow `json:"totals" nullable:"false" doc:"Per type, summed over the range (date empty)."`
}

// UsageList is one page of a day's usage across tenants.
type UsageList struct {
	Date  string            `json:"date"`
	Items []status.UsageRow `json:"items" nullable:"false"`
	Next  string            `json:"next,omitempty" doc:"Opaque token for the next page (pass as ?next=); absent on the last page."`
}

type tenantStatusOutput struct{ Body TenantStatus }

type usageInput struct {
	TenantParams
	From string `query:"from" pattern:"^[0-9]{4}-[0-9]{2}-[0-9]{2}$" doc:"First UTC day, YYYY-MM-DD (default: 29 days before to)."`
	To   string `query:"to" pattern:"^[0-9]{4}-[0-9]{2}-[0-9]{2}$" doc:"Last UTC day, YYYY-MM-DD (default: today)."`
}

type usageOutput struct{ Body UsageReport }

type usageListInput struct {
	Date   string `query:"date" pattern:"^[0-9]{4}-[0-9]{2}-[0-9]{2}$" doc:"UTC day, YYYY-MM-DD (default: today)."`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Maximum rows per page."`
	Next   string `query:"next" maxLength:"2048" doc:"Token from the previous page's next field."`
	Accept string `header:"Accept" doc:"text/csv for a CSV export (header line, one row per tenant and type; the next page's token in the Link header)."`
}

type validateStoredInput struct {
	ConfigParams
	Write string `query:"write" enum:"true,false" default:"true" doc:"Run the writing steps (create the log group, write a validation event or marker object); false checks without writing."`
}

type validateBodyInput struct {
	TenantParams
	Write string `query:"write" enum:"true,false" default:"true" doc:"Run the writing steps (create the log group, write a validation event or marker object); false checks without writing."`
	Body  tenant.Config
}

type validateOutput struct{ Body validate.Report }

func (s *Server) registerStatus() {
	unavailable := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable}
	huma.Register(s.api, huma.Operation{
		OperationID: OpTenantStatus, Method: http.MethodGet, Path: BasePath + "/tenants/{tenant_id}/status",
		Tags: []string{"status"}, Summary: "Delivery status of every destination of a tenant: health, last success and failure with a hint, last 24 h counters",
		Description: "health is healthy (the last delivery succeeded), failing (the last one failed: see failing_since and last_failure's category and hint), " +
			"idle (nothing delivered or attempted for the idle threshold) or unknown (never delivered). Written by the processors at most every flush interval (30 s by default).",
		Errors: unavailable, Security: security,
	}, s.tenantStatus)

	huma.Register(s.api, huma.Operation{
		OperationID: OpTenantUsage, Method: http.MethodGet, Path: BasePath + "/tenants/{tenant_id}/usage",
		Tags: []string{"status"}, Summary: "A tenant's daily usage (UTC days) per destination type, with totals",
		Errors: unavailable, Security: security,
	}, s.tenantUsage)

	listOp := huma.Operation{
		OperationID: OpUsageByDate, Method: http.MethodGet, Path: BasePath + "/usage",
		Tags: []string{"status"}, Summary: "Every tenant's usage of one UTC day (paginated); CSV with Accept: text/csv (showback export)",
		Errors: unavailable, Security: security,
	}
	listSchema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(UsageList{}), true, "UsageList")
	listOp.Responses = map[string]*huma.Response{"200": {
		Description: "One page of usage rows",
		Headers:     map[string]*huma.Param{"Link": {Description: "rel=\"next\" URL of the next page (CSV only)", Schema: &huma.Schema{Type: "string"}}},
		Content: map[string]*huma.MediaType{
			"application/json": {Schema: listSchema},
			"text/csv":         {Schema: &huma.Schema{Type: "string", Description: "date,tenant_id,type," + strings.Join(status.UsageCounters, ",")}},
		},
	}}
	huma.Register(s.api, listOp, s.usageByDate)

	huma.Register(s.api, huma.Operation{
		OperationID: OpValidateStoredConfig, Method: http.MethodPost, Path: BasePath + "/tenants/{tenant_id}/delivery-configs/{type}/validate",
		Tags: []string{"validation"}, Summary: "Validate a stored delivery configuration by running the delivery path step by step",
		Description: validateDescription, Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusTooManyRequests, http.StatusServiceUnavailable},
		Security: security,
	}, s.validateStored)

	huma.Register(s.api, huma.Operation{
		OperationID: OpValidateConfig, Method: http.MethodPost, Path: BasePath + "/tenants/{tenant_id}/delivery-configs/validate",
		Tags: []string{"validation"}, Summary: "Validate a delivery configuration given in the body (not stored) by running the delivery path step by step",
		Description: validateDescription, MaxBodyBytes: noBodyLimit,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable},
		Security: security,
	}, s.validateBody)
}

const validateDescription = "Answers 200 with every step's result (ok, failed, warning, skipped), duration, and for a failed step its category and " +
	"hint; ok is false when a step failed. cloudwatch: assume the central role; assume the customer role with the ExternalId; the log group exists " +
	"or can be created with the configured retention and KMS key; write one validation event to the stream " + validate.ValidationStream + ". " +
	"s3: assume the central role; the bucket exists in the expected region; put a marker object under {prefix}" + validate.MarkerDir +
	" with bucket-owner-full-control and the configured encryption. ?write=false skips the writing steps. Rate-limited per tenant (429)."

func (s *Server) statusTable() (*status.Table, error) {
	if s.opts.Status == nil {
		return nil, huma.Error503ServiceUnavailable("delivery status and usage are not available: the API has no status table " +
			"(set LOGROUTER_STATUS_TABLE to the table the processors write)")
	}
	return s.opts.Status, nil
}

func (s *Server) tenantStatus(ctx context.Context, in *TenantParams) (*tenantStatusOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	table, err := s.statusTable()
	if err != nil {
		return nil, err
	}
	configs, malformed, err := s.store.ListTenant(ctx, in.TenantID)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	records, err := table.TenantStatus(ctx, in.TenantID, s.opts.Now(), s.opts.IdleAfter)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	byType := map[tenant.Type]status.Record{}
	for _, r := range records {
		byType[r.Type] = r
	}
	out := &tenantStatusOutput{Body: TenantStatus{TenantID: in.TenantID, Destinations: []DestinationStatus{}}}
	seen := map[tenant.Type]bool{}
	for _, c := range configs {
		seen[c.Type] = true
		r, ok := byType[c.Type]
		if !ok {
			r = status.Record{TenantID: in.TenantID, Type: c.Type, Health: status.HealthUnknown, Last24h: status.Counters{}, Total: status.Counters{}}
		}
		d := DestinationStatus{Record: r, Configured: true, Enabled: c.IsEnabled()}
		if c.Type == tenant.TypeCloudWatch {
			d.Destination = c.LogGroupName
		} else {
			d.Destination = "s3://" + c.BucketName + "/" + c.EffectiveBucketPrefix()
		}
		out.Body.Destinations = append(out.Body.Destinations, d)
	}
	for _, r := range records {
		if !seen[r.Type] {
			out.Body.Destinations = append(out.Body.Destinations, DestinationStatus{Record: r})
		}
	}
	for _, ie := range malformed {
		out.Body.Warnings = append(out.Body.Warnings, ie.Error())
	}
	return out, nil
}

func parseDay(field, v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, huma.Error400BadRequest("validation failed", &huma.ErrorDetail{Location: "query." + field, Message: "is not a date (YYYY-MM-DD)", Value: v})
	}
	return t, nil
}

func (s *Server) tenantUsage(ctx context.Context, in *usageInput) (*usageOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	table, err := s.statusTable()
	if err != nil {
		return nil, err
	}
	to := s.opts.Now().UTC().Truncate(24 * time.Hour)
	if in.To != "" {
		if to, err = parseDay("to", in.To); err != nil {
			return nil, err
		}
	}
	from := to.AddDate(0, 0, -29)
	if in.From != "" {
		if from, err = parseDay("from", in.From); err != nil {
			return nil, err
		}
	}
	if from.After(to) {
		return nil, huma.Error400BadRequest("validation failed", &huma.ErrorDetail{Location: "query.from", Message: "is after to", Value: in.From})
	}
	if to.Sub(from) > maxUsageDays*24*time.Hour {
		return nil, huma.Error400BadRequest("validation failed", &huma.ErrorDetail{Location: "query.from", Message: fmt.Sprintf("the range may span at most %d days", maxUsageDays), Value: in.From})
	}
	rows, err := table.TenantUsage(ctx, in.TenantID, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	rep := UsageReport{TenantID: in.TenantID, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), Rows: rows, Totals: []status.UsageRow{}}
	totals := map[tenant.Type]status.Counters{}
	for _, r := range rows {
		if totals[r.Type] == nil {
			totals[r.Type] = status.Counters{}
		}
		for k, v := range r.Counters {
			totals[r.Type][k] += v
		}
	}
	for _, t := range tenant.Types {
		if c, ok := totals[t]; ok {
			rep.Totals = append(rep.Totals, status.UsageRow{TenantID: in.TenantID, Type: t, Counters: c})
		}
	}
	return &usageOutput{Body: rep}, nil
}

// wantsCSV reports whether an Accept header prefers text/csv to JSON.
func wantsCSV(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/csv":
			return true
		case "application/json", "application/*", "*/*":
			return false
		}
	}
	return false
}

func (s *Server) usageByDate(ctx context.Context, in *usageListInput) (*huma.StreamResponse, error) {
	table, err := s.statusTable()
	if err != nil {
		return nil, err
	}
	date := s.opts.Now().UTC().Format(time.DateOnly)
	if in.Date != "" {
		if _, err := parseDay("date", in.Date); err != nil {
			return nil, err
		}
		date = in.Date
	}
	page, err := table.UsageByDate(ctx, date, in.Limit, in.Next)
	if errors.Is(err, status.ErrBadToken) {
		return nil, huma.Error400BadRequest("invalid pagination token", &huma.ErrorDetail{Location: "query.next", Message: "is not a token this API issued for this date", Value: in.Next})
	}
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	csvOut := wantsCSV(in.Accept)
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		if !csvOut {
			hctx.SetHeader("Content-Type", "application/json")
			hctx.SetStatus(http.StatusOK)
			_ = json.NewEncoder(hctx.BodyWriter()).Encode(UsageList{Date: date, Items: page.Rows, Next: page.Next})
			return
		}
		hctx.SetHeader("Content-Type", "text/csv; charset=utf-8")
		hctx.SetHeader("Content-Disposition", `attachment; filename="usage-`+date+`.csv"`)
		if page.Next != "" {
			hctx.SetHeader("Link", fmt.Sprintf(`<%s/usage?date=%s&limit=%d&next=%s>; rel="next"`, BasePath, date, in.Limit, page.Next))
		}
		hctx.SetStatus(http.StatusOK)
		w := csv.NewWriter(hctx.BodyWriter())
		_ = w.Write(append([]string{"date", "tenant_id", "type"}, status.UsageCounters...))
		for _, r := range page.Rows {
			rec := []string{r.Date, r.TenantID, string(r.Type)}
			for _, c := range status.UsageCounters {
				rec = append(rec, strconv.FormatInt(r.Get(c), 10))
			}
			_ = w.Write(rec)
		}
		w.Flush()
	}}, nil
}

func (s *Server) validator() (*validate.Validator, error) {
	if s.opts.Validator == nil {
		why := s.opts.ValidatorUnavailable
		if why == "" {
			why = "the API has no central role and region settings"
		}
		return nil, huma.Error503ServiceUnavailable("validation is not available: " + why)
	}
	return s.opts.Validator, nil
}

func (s *Server) validateStored(ctx context.Context, in *validateStoredInput) (*validateOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	v, err := s.validator()
	if err != nil {
		return nil, err
	}
	c, err := s.store.Get(ctx, in.TenantID, tenant.Type(in.Type))
	if err != nil {
		return nil, s.storeError(ctx, &in.ConfigParams, err)
	}
	return &validateOutput{Body: v.Validate(ctx, c, in.Write != "false")}, nil
}

func (s *Server) validateBody(ctx context.Context, in *validateBodyInput) (*validateOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	c, err := s.newConfig(in.TenantID, in.Body)
	if err != nil {
		return nil, err
	}
	v, err := s.validator()
	if err != nil {
		return nil, err
	}
	return &validateOutput{Body: v.Validate(ctx, c, in.Write != "false")}, nil
}
