package main

import (
	"strings"
)

// The demo's tenants and what they configured. Customer accounts are distinct so that each CloudWatch
// destination lives in its own (emulated) account, reached through the double hop.
type cwDest struct {
	tenant, roleARN, logGroup string
	desired, groups           []string
}

type s3Dest struct {
	tenant, bucket, prefix string
	desired, groups        []string
	// missing: the customer has not created the bucket yet; deliveries fail and the tenant's status says
	// so, with the hint of what to fix.
	missing bool
}

var cloudwatchDests = []cwDest{
	{tenant: "acme", roleARN: "arn:aws:iam::111111111111:role/acme-log-distribution", logGroup: "/demo/acme/control-plane", groups: []string{"API", "scheduler"}},
	{tenant: "initech", roleARN: "arn:aws:iam::222222222222:role/initech-log-distribution", logGroup: "/demo/initech/all"},
}

var s3Dests = []s3Dest{
	{tenant: "globex", bucket: "globex-logs", prefix: "ROSA/cluster-logs/", desired: []string{"payments"}},
	{tenant: "initech", bucket: "initech-archive", prefix: "archive/", desired: []string{"billing"}},
	{tenant: "hooli", bucket: "hooli-logs", prefix: "logs/", missing: true},
}

// statusTenants are shown with `logrouter configs status` after delivery: one healthy, one failing.
var statusTenants = []struct {
	tenant, health, category string
}{
	{"acme", "HEALTHY", ""},
	{"hooli", "FAILING", "destination_bucket_missing"},
}

// pods whose objects are uploaded; some are filtered out by their tenant's configs, and "umbrella" has none.
var pods = []struct{ tenant, app, pod string }{
	{"acme", "kube-apiserver", "kube-apiserver-7c9d5-x2x8l"},
	{"acme", "kube-scheduler", "kube-scheduler-0"},
	{"acme", "etcd", "etcd-0"}, // not in acme's groups: filtered
	{"globex", "payments", "payments-6f7b9-2kq4d"},
	{"globex", "frontend", "frontend-0"}, // not in globex's desired_logs: filtered
	{"initech", "billing", "billing-5d8c7-9wz3m"},
	{"initech", "web", "web-0"},          // CloudWatch only (initech's S3 destination wants billing)
	{"hooli", "checkout", "checkout-0"},  // its bucket does not exist: failing, shown by configs status
	{"umbrella", "reports", "reports-0"}, // no configuration: dropped and counted
}

func joinBuckets() string {
	names := make([]string, 0, len(s3Dests))
	for _, s := range s3Dests {
		if !s.missing {
			names = append(names, s.bucket)
		}
	}
	return strings.Join(names, ", ")
}

// admits mirrors the documented filter: desired_logs ∪ groups' applications, everything when both are empty.
// The demo checks logrouter's behaviour against this independent statement of the rule.
func admits(desired, groups []string, app string) bool {
	if len(desired) == 0 && len(groups) == 0 {
		return true
	}
	for _, d := range desired {
		if d == app {
			return true
		}
	}
	members := map[string][]string{
		"api":                {"kube-apiserver", "openshift-apiserver"},
		"authentication":     {"oauth-server", "oauth-apiserver"},
		"controller manager": {"kube-controller-manager", "openshift-controller-manager", "openshift-route-controller-manager"},
		"scheduler":          {"kube-scheduler"},
	}
	for _, g := range groups {
		for _, a := range members[strings.ToLower(g)] {
			if a == app {
				return true
			}
		}
	}
	return false
}
