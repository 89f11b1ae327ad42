package main

import (
	"context"
	"fmt"
	"strings"
)

// showStatus prints `logrouter configs status` of a healthy and a failing tenant (poll wrote their status
// when it stopped), the healthy one's usage, and the failing one's validation; it returns what is not as
// expected.
func (d *demo) showStatus(ctx context.Context) []string {
	var failures []string
	env := d.env(d.api.env()...)
	show := func(out []byte) {
		for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			fmt.Fprintf(d.out, "    %s\n", l)
		}
	}
	for _, st := range statusTenants {
		fmt.Fprintf(d.out, "\n  $ logrouter configs status %s\n", st.tenant)
		out, err := d.runCLI(ctx, env, nil, "configs", "status", st.tenant)
		show(out)
		switch {
		case err != nil:
			failures = append(failures, fmt.Sprintf("configs status %s: %v", st.tenant, err))
		case !strings.Contains(string(out), st.health):
			failures = append(failures, fmt.Sprintf("configs status %s does not show %s", st.tenant, st.health))
		case st.category != "" && (!strings.Contains(string(out), st.category) || !strings.Contains(string(out), "what to do:")):
			failures = append(failures, fmt.Sprintf("configs status %s does not show category %s with its hint", st.tenant, st.category))
		}
	}
	fmt.Fprintf(d.out, "\n  $ logrouter configs usage acme\n")
	out, err := d.runCLI(ctx, env, nil, "configs", "usage", "acme")
	show(out)
	if err != nil || !strings.Contains(string(out), "cloudwatch") {
		failures = append(failures, fmt.Sprintf("configs usage acme shows no cloudwatch usage (%v)", err))
	}
	// The failing tenant checks its configuration before fixing it: validate fails at the bucket step.
	fmt.Fprintf(d.out, "\n  $ logrouter configs validate hooli s3 --no-write\n")
	out, err = d.runCLI(ctx, env, nil, "configs", "validate", "hooli", "s3", "--no-write")
	show(out)
	if err == nil || !strings.Contains(string(out), "[FAIL]") || !strings.Contains(string(out), "destination_bucket_missing") {
		failures = append(failures, "configs validate hooli s3 did not fail at the bucket step")
	}
	return failures
}
