package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
	"github.com/logrouter/logrouter/validate"
)

// statusVerbFlags are the flags of configs status, usage and validate.
var statusVerbFlags struct {
	json     bool
	from, to string
	noWrite  bool
}

func tenantSubPath(tenantID string, rest ...string) string {
	p := api.TenantPath(tenantID)
	p = strings.TrimSuffix(p, "/delivery-configs")
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

func init() {
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "status", Args: "TENANT_ID", Summary: "delivery status of each destination: health, last success, last failure with its hint, last 24 h", MinArgs: 1, MaxArgs: 1},
		Flags: func(fs *flagSet) {
			fs.Bool(&statusVerbFlags.json, "json", "LOGROUTER_OUTPUT_JSON", false, "status, usage, validate, replays: print the API's JSON instead of a table")
		},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			return call.client.Do(ctx, http.MethodGet, tenantSubPath(call.args[0], "status"), nil, nil)
		},
		Print: jsonOr(printStatus),
	})
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "usage", Args: "TENANT_ID", Summary: "daily usage per destination type (--from, --to: YYYY-MM-DD, UTC; default the last 30 days)", MinArgs: 1, MaxArgs: 1},
		Flags: func(fs *flagSet) {
			fs.String(&statusVerbFlags.from, "from", "LOGROUTER_USAGE_FROM", "", "usage: first UTC day, YYYY-MM-DD (default: 29 days before --to)")
			fs.String(&statusVerbFlags.to, "to", "LOGROUTER_USAGE_TO", "", "usage: last UTC day, YYYY-MM-DD (default: today)")
		},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			q := url.Values{}
			for name, v := range map[string]string{"from": statusVerbFlags.from, "to": statusVerbFlags.to} {
				if v == "" {
					continue
				}
				if _, err := time.Parse(time.DateOnly, v); err != nil {
					return nil, usagef("--%s %q is not a date (YYYY-MM-DD)", name, v)
				}
				q.Set(name, v)
			}
			return call.client.Do(ctx, http.MethodGet, tenantSubPath(call.args[0], "usage"), q, nil)
		},
		Print: jsonOr(printUsage),
	})
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "validate", Args: "TENANT_ID TYPE [FILE]", Summary: "check a configuration by running the delivery path step by step: the stored one, or FILE's (- for stdin) without storing it; exits 1 when a step fails", MinArgs: 2, MaxArgs: 3},
		Flags: func(fs *flagSet) {
			fs.Bool(&statusVerbFlags.noWrite, "no-write", "LOGROUTER_VALIDATE_NO_WRITE", false, "validate: skip the writing steps (log group creation, the validation event, the S3 marker)")
		},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			tenantID, typ := call.args[0], call.args[1]
			if !tenant.Type(typ).Valid() {
				return nil, usagef("TYPE %q is not cloudwatch or s3", typ)
			}
			q := url.Values{}
			if statusVerbFlags.noWrite {
				q.Set("write", "false")
			}
			if len(call.args) == 2 {
				return call.client.Do(ctx, http.MethodPost, api.ConfigPath(tenantID, typ)+"/validate", q, nil)
			}
			doc, err := readDocument(call.sio.Stdin, call.args[2:], api.OpValidateConfig)
			if err != nil {
				return nil, err
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(doc, &fields); err != nil {
				return nil, fmt.Errorf("the document is not a JSON object: %w", err)
			}
			if raw, ok := fields["type"]; ok {
				var t string
				if json.Unmarshal(raw, &t) != nil || t != typ {
					return nil, usagef("the document's type %s does not match TYPE %s", raw, typ)
				}
			} else {
				fields["type"], _ = json.Marshal(typ)
				if doc, err = json.Marshal(fields); err != nil {
					return nil, err
				}
			}
			return call.client.Do(ctx, http.MethodPost, api.TenantPath(tenantID)+"/validate", q, doc)
		},
		Print: printValidation,
	})
}

// jsonOr prints the JSON with --json, else with table.
func jsonOr(table func(w io.Writer, out []byte) error) func(io.Writer, []byte) error {
	return func(w io.Writer, out []byte) error {
		if statusVerbFlags.json {
			return printJSON(w, out)
		}
		return table(w, out)
	}
}

func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return t.UTC().Format(time.RFC3339) + " (" + d.String() + " ago)"
}

func printStatus(w io.Writer, out []byte) error {
	var st api.TenantStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return fmt.Errorf("decode the status: %w", err)
	}
	now := time.Now()
	fmt.Fprintf(w, "tenant %s\n", st.TenantID)
	if len(st.Destinations) == 0 {
		fmt.Fprintln(w, "no delivery configuration and no recorded delivery")
	}
	for _, d := range st.Destinations {
		fmt.Fprintln(w)
		health := strings.ToUpper(string(d.Health))
		dest := d.Destination
		if !d.Configured {
			dest = "(no configuration: status of a deleted one)"
		} else if !d.Enabled {
			dest += " (disabled)"
		}
		fmt.Fprintf(w, "%-10s %-8s %s\n", d.Type, health, dest)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if d.Health == status.HealthFailing && d.FailingSince != nil {
			fmt.Fprintf(tw, "  failing since\t%s, %s\n", ago(*d.FailingSince, now), plural(d.ConsecutiveFailures, "consecutive failure"))
		}
		if s := d.LastSuccess; s != nil {
			fmt.Fprintf(tw, "  last success\t%s\t%s\n", ago(s.At, now), s.Key)
		} else {
			fmt.Fprintf(tw, "  last success\tnever\n")
		}
		if f := d.LastFailure; f != nil {
			fmt.Fprintf(tw, "  last failure\t%s\t%s\n", ago(f.At, now), f.Key)
			fmt.Fprintf(tw, "  category\t%s (%s side)\n", f.Category, f.Side)
			if f.Message != "" {
				fmt.Fprintf(tw, "  error\t%s\n", f.Message)
			}
		}
		if f := d.LastWarning; f != nil {
			fmt.Fprintf(tw, "  last warning\t%s\t%s: %s\n", ago(f.At, now), f.Category, f.Message)
		}
		c := d.Last24h
		fmt.Fprintf(tw, "  last 24 h\t%d delivered, %d failed, %d events, %d bytes\n", c[status.CounterDeliveriesOK], c[status.CounterDeliveriesFailed],
			c[status.CounterEventsDelivered], c[status.CounterBytesDelivered])
		tw.Flush()
		if f := d.LastFailure; f != nil && d.Health == status.HealthFailing {
			fmt.Fprintf(w, "  what to do: %s\n", f.Hint)
		}
	}
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "\nwarning: %s\n", warn)
	}
	return nil
}

func printUsage(w io.Writer, out []byte) error {
	var rep api.UsageReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("decode the usage: %w", err)
	}
	fmt.Fprintf(w, "tenant %s, %s to %s (UTC days)\n\n", rep.TenantID, rep.From, rep.To)
	cols := []struct{ title, counter string }{
		{"OBJECTS", status.CounterObjects}, {"FAILED", status.CounterDeliveriesFailed}, {"EVENTS IN", status.CounterEventsIn},
		{"DELIVERED", status.CounterEventsDelivered}, {"BYTES READ", status.CounterBytesRead}, {"BYTES OUT", status.CounterBytesDelivered},
		{"PUTS", status.CounterPutLogEventsRequests}, {"S3 COPIES", status.CounterS3Copies},
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "DATE\tTYPE\t")
	for _, c := range cols {
		fmt.Fprint(tw, c.title+"\t")
	}
	fmt.Fprint(tw, "DROPPED/REJECTED\t\n")
	row := func(date string, r status.UsageRow) {
		fmt.Fprintf(tw, "%s\t%s\t", date, r.Type)
		for _, c := range cols {
			fmt.Fprintf(tw, "%d\t", r.Get(c.counter))
		}
		var lost []string
		for _, c := range []string{status.CounterDroppedEmpty, status.CounterDroppedOutOfWindow, status.CounterDroppedOversized,
			status.CounterRejectedTooOld, status.CounterRejectedTooNew, status.CounterRejectedExpired} {
			if v := r.Get(c); v != 0 {
				lost = append(lost, fmt.Sprintf("%s=%d", c, v))
			}
		}
		if len(lost) == 0 {
			lost = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t\n", strings.Join(lost, " "))
	}
	for _, r := range rep.Rows {
		row(r.Date, r)
	}
	for _, r := range rep.Totals {
		row("total", r)
	}
	if len(rep.Rows) == 0 {
		fmt.Fprintln(tw, "(no usage recorded)\t")
	}
	return tw.Flush()
}

var resultMark = map[validate.Result]string{
	validate.ResultOK: "[ok]  ", validate.ResultFailed: "[FAIL]", validate.ResultWarning: "[warn]", validate.ResultSkipped: "[skip]",
}

// printValidation prints the checklist (or JSON with --json) and exits 1 when a step failed.
func printValidation(w io.Writer, out []byte) error {
	var rep validate.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("decode the validation report: %w", err)
	}
	if statusVerbFlags.json {
		if err := printJSON(w, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "validate %s %s", rep.TenantID, rep.Type)
		if !rep.Write {
			fmt.Fprint(w, " (no writes)")
		}
		fmt.Fprintln(w)
		for _, s := range rep.Steps {
			fmt.Fprintf(w, "%s %s (%.0f ms)\n", resultMark[s.Result], s.Title, s.DurationMS)
			if s.Detail != "" {
				fmt.Fprintf(w, "       %s\n", s.Detail)
			}
			if s.Result == validate.ResultFailed {
				fmt.Fprintf(w, "       category: %s (%s side)\n", s.Category, s.Side)
				if s.Error != "" {
					fmt.Fprintf(w, "       error: %s\n", s.Error)
				}
				fmt.Fprintf(w, "       what to do: %s\n", s.Hint)
			}
		}
		if rep.OK {
			fmt.Fprintln(w, "OK: delivery works with this configuration")
		} else {
			fmt.Fprintln(w, "FAILED: fix the failing step and validate again")
		}
	}
	if !rep.OK {
		return exitCodeError{code: 1}
	}
	return nil
}

// plural renders n and noun, with an "s" unless n is 1 ("1 consecutive failure", "3 consecutive failures").
func plural[N ~int | ~int64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
