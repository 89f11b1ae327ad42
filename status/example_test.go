package status_test

import (
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
)

// A delivery error is classified from its types and codes into a category, who has to act, and a hint for
// the customer; the message is scrubbed before it is stored.
func ExampleClassify() {
	errs := []struct {
		typ tenant.Type
		err error
	}{
		{tenant.TypeCloudWatch, fmt.Errorf("CloudWatch Logs client for tenant %q: %w", "acme",
			&credentials.AccessDeniedError{Hop: credentials.HopCustomer, RoleARN: "arn:aws:iam::210987654321:role/acme-logs",
				Err: &smithy.GenericAPIError{Code: "AccessDenied"}})},
		{tenant.TypeCloudWatch, &batcher.Error{Op: "CreateLogGroup", Err: &smithy.GenericAPIError{Code: "InvalidParameterException"}}},
		{tenant.TypeS3, &smithy.GenericAPIError{Code: "AccessDenied"}},
	}
	for _, e := range errs {
		c := status.Classify(e.typ, "", e.err)
		fmt.Printf("%s %s (%s side)\n", e.typ, c, c.Side())
	}
	fmt.Println(status.Scrub("assume role failed: ExternalId=s3cr3t, key AKIAIOSFODNN7EXAMPLE"))
	// Output:
	// cloudwatch customer_role_denied (customer side)
	// cloudwatch kms_denied (customer side)
	// s3 bucket_policy_denied (customer side)
	// assume role failed: ExternalId=[redacted], key [redacted]
}
