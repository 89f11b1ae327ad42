package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/replay"
	"github.com/logrouter/logrouter/tenant"
)

// configsReplayFlags are the flags of `configs replay`.
type configsReplayFlags struct {
	since, until, types, apps, clusters string
	force, clamp                        bool
}

var replayVerbFlags configsReplayFlags

func init() {
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "replay", Args: "TENANT_ID", Summary: "start a replay job in the API: enqueue the tenant's objects of --since/--until again (--type, --application, --cluster, --force, --clamp)", MinArgs: 1, MaxArgs: 1},
		Flags: func(fs *flagSet) {
			f := &replayVerbFlags
			fs.String(&f.since, "since", "LOGROUTER_REPLAY_SINCE", "", "replay: objects written at or after TIME (RFC 3339 or a duration before now: 48h, 7d)")
			fs.String(&f.until, "until", "LOGROUTER_REPLAY_UNTIL", "", "replay: objects written before TIME (default: when the job starts)")
			fs.String(&f.types, "type", "LOGROUTER_REPLAY_TYPES", "", "replay: comma-separated destination types, cloudwatch and/or s3 (default: both)")
			fs.String(&f.apps, "application", "LOGROUTER_REPLAY_APPLICATIONS", "", "replay: comma-separated applications (default: all)")
			fs.String(&f.clusters, "cluster", "LOGROUTER_REPLAY_CLUSTERS", "", "replay: comma-separated clusters (default: all)")
			fs.Bool(&f.force, "force", "LOGROUTER_REPLAY_FORCE", false, "replay: deliver again to destinations that already have the objects (DUPLICATES them)")
			fs.Bool(&f.clamp, "clamp", "LOGROUTER_REPLAY_CLAMP", false, "replay: send CloudWatch events older than 14 days at the oldest accepted time instead of dropping them")
		},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			f := replayVerbFlags
			if f.since == "" {
				return nil, usagef("configs replay needs --since (LOGROUTER_REPLAY_SINCE)")
			}
			req := api.ReplayRequest{Since: f.since, Until: f.until, Applications: splitList(f.apps), Clusters: splitList(f.clusters),
				Force: f.force, Clamp: f.clamp}
			for _, t := range splitList(f.types) {
				req.Types = append(req.Types, tenant.Type(t))
			}
			body, err := json.Marshal(req)
			if err != nil {
				return nil, err
			}
			return call.client.Do(ctx, http.MethodPost, tenantSubPath(call.args[0], "replays"), nil, body)
		},
	})
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "replays", Args: "TENANT_ID [REPLAY_ID]", Summary: "the tenant's replay jobs, or one job's state and progress", MinArgs: 1, MaxArgs: 2},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			return call.client.Do(ctx, http.MethodGet, tenantSubPath(call.args[0], append([]string{"replays"}, call.args[1:]...)...), nil, nil)
		},
		Print: jsonOr(printReplays),
	})
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "replay-cancel", Args: "TENANT_ID REPLAY_ID", Summary: "cancel a running replay job (what it enqueued stays enqueued)", MinArgs: 2, MaxArgs: 2},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			return call.client.Do(ctx, http.MethodPost, tenantSubPath(call.args[0], "replays", call.args[1], "cancel"), nil, nil)
		},
	})
}

// printReplays prints one replay job or a list of them as a table.
func printReplays(w io.Writer, out []byte) error {
	var list api.ReplayList
	if err := json.Unmarshal(out, &list); err != nil || list.Items == nil {
		var job replay.Job
		if err := json.Unmarshal(out, &job); err != nil {
			return fmt.Errorf("decode the replay jobs: %w", err)
		}
		list.Items = []replay.Job{job}
	}
	if len(list.Items) == 0 {
		_, err := fmt.Fprintln(w, "no replay jobs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCREATED\tWINDOW\tTYPES\tENQUEUED/IN WINDOW\tOUT OF CW WINDOW\tNOTE")
	now := time.Now()
	for _, j := range list.Items {
		types := "all"
		if len(j.Request.Types) > 0 {
			var ts []string
			for _, t := range j.Request.Types {
				ts = append(ts, string(t))
			}
			types = strings.Join(ts, ",")
		}
		if j.Request.Force {
			types += " (force)"
		}
		note := j.Error
		if note == "" && j.State == replay.JobRunning && j.NextStartAfter != "" {
			note = "after " + j.NextStartAfter
		}
		if j.CancelRequested && j.State == replay.JobRunning {
			note = "cancel requested; " + note
		}
		if note == "" {
			note = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\n", j.ID, j.State, ago(j.CreatedAt, now),
			windowText(j.Request.Since)+" .. "+windowText(j.Request.Until), types, j.Progress.Enqueued, j.Progress.InWindow,
			j.Progress.TooOld, note)
	}
	return tw.Flush()
}

func windowText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
