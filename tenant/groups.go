package tenant

import "strings"

// group is a predefined set of applications selectable by name in a configuration's groups.
type group struct {
	name string
	apps []string
}

var groups = []group{
	{"API", []string{"kube-apiserver", "openshift-apiserver"}},
	{"Authentication", []string{"oauth-server", "oauth-apiserver"}},
	{"Controller Manager", []string{"kube-controller-manager", "openshift-controller-manager", "openshift-route-controller-manager"}},
	{"Scheduler", []string{"kube-scheduler"}},
}

// GroupNames returns the canonical names of the application groups.
func GroupNames() []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.name
	}
	return out
}

// GroupApplications returns the applications of the group called name (case-insensitive), or nil when no
// group has that name. The returned slice must not be modified.
func GroupApplications(name string) []string {
	for i := range groups {
		if strings.EqualFold(groups[i].name, name) {
			return groups[i].apps
		}
	}
	return nil
}

// KnownGroup reports whether name (case-insensitive) names an application group.
func KnownGroup(name string) bool { return GroupApplications(name) != nil }
