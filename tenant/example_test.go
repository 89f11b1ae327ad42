package tenant_test

import (
	"fmt"
	"time"

	"github.com/logrouter/logrouter/tenant"
)

func ExampleConfig_Admits() {
	c := tenant.Config{
		TenantID: "acme-corp", Type: tenant.TypeCloudWatch,
		DesiredLogs: []string{"custom-app-1"},
		Groups:      []string{"api", "Schedulr"}, // group names are case-insensitive; unknown ones are ignored
	}
	for _, app := range []string{"custom-app-1", "kube-apiserver", "kube-scheduler", "Custom-App-1"} {
		fmt.Println(app, c.Admits(app))
	}
	fmt.Println(c.AllowedApplications())
	fmt.Println(c.UnknownGroups())
	// Output:
	// custom-app-1 true
	// kube-apiserver true
	// kube-scheduler false
	// Custom-App-1 false
	// [custom-app-1 kube-apiserver openshift-apiserver]
	// [Schedulr]
}

func ExampleConfig_Validate() {
	c := tenant.Config{TenantID: "acme-corp", Type: tenant.TypeS3, BucketName: "Acme_Logs", BucketPrefix: "/logs"}
	fmt.Println(c.Validate(time.Now()))
	// Output:
	// invalid delivery configuration: bucket_name: must use only lowercase letters, digits, '.' and '-', and begin and end with a letter or digit; bucket_prefix: must not start with /
}
