package tenant

import (
	"reflect"
	"testing"
)

func TestAdmits(t *testing.T) {
	tests := map[string]struct {
		desired, groups []string
		admit, reject   []string
	}{
		"nothing named admits all":             {nil, nil, []string{"anything", "kube-apiserver"}, nil},
		"desired only":                         {[]string{"custom-app-1"}, nil, []string{"custom-app-1"}, []string{"custom-app-2", "kube-apiserver"}},
		"application names are case-sensitive": {[]string{"App"}, nil, []string{"App"}, []string{"app"}},
		"group names are case-insensitive":     {nil, []string{"api", "SCHEDULER"}, []string{"kube-apiserver", "openshift-apiserver", "kube-scheduler"}, []string{"oauth-server"}},
		"controller manager":                   {nil, []string{"controller manager"}, []string{"kube-controller-manager", "openshift-controller-manager", "openshift-route-controller-manager"}, []string{"kube-scheduler"}},
		"authentication":                       {nil, []string{"Authentication"}, []string{"oauth-server", "oauth-apiserver"}, []string{"kube-apiserver"}},
		"union of desired and groups":          {[]string{"custom-app-1"}, []string{"API"}, []string{"custom-app-1", "kube-apiserver"}, []string{"oauth-server"}},
		"unknown group contributes nothing":    {[]string{"a"}, []string{"Schedulr"}, []string{"a"}, []string{"kube-scheduler", "b"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := Config{DesiredLogs: tc.desired, Groups: tc.groups}
			for _, a := range tc.admit {
				if !c.Admits(a) {
					t.Errorf("%q not admitted", a)
				}
			}
			for _, a := range tc.reject {
				if c.Admits(a) {
					t.Errorf("%q admitted", a)
				}
			}
		})
	}
}

func TestAllowedApplicationsDeduplicates(t *testing.T) {
	c := Config{DesiredLogs: []string{"kube-apiserver", "x", "x"}, Groups: []string{"API", "api", "Nope"}}
	got := c.AllowedApplications()
	want := []string{"kube-apiserver", "x", "openshift-apiserver"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := (Config{}).AllowedApplications(); got != nil {
		t.Fatalf("empty config: got %v, want nil (all)", got)
	}
	if got := c.UnknownGroups(); !reflect.DeepEqual(got, []string{"Nope"}) {
		t.Fatalf("unknown groups %v", got)
	}
	if w := c.Warnings(); len(w) != 1 {
		t.Fatalf("warnings %v", w)
	}
}

func TestGroupNames(t *testing.T) {
	want := []string{"API", "Authentication", "Controller Manager", "Scheduler"}
	if got := GroupNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if KnownGroup("Controller-Manager") {
		t.Fatal("Controller-Manager must not match Controller Manager")
	}
}
