package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/logrouter/logrouter/credentials"
)

func Example() {
	ctx := context.Background()
	// In production: config.LoadDefaultConfig(ctx), which also reads AWS_ENDPOINT_URL and friends.
	base := aws.Config{
		Region:      "us-east-1",
		Credentials: awscreds.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	}
	m, err := credentials.New(base, credentials.Options{
		CentralRoleARN: "arn:aws:iam::111111111111:role/CentralLogDistributionRole",
	})
	if err != nil {
		log.Fatal(err)
	}
	// No AWS call yet: credentials are assumed on the client's first use and refreshed before they expire.
	logs, scope, err := m.CloudWatchLogs(ctx, "arn:aws:iam::222222222222:role/LogDistributionRole", "", "acme-corp", "eu-west-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(scope, logs.Options().Region)

	deliver := func() error {
		_, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{ /* ... */ })
		return err
	}
	_ = func() {
		err := deliver()
		var denied *credentials.AccessDeniedError
		switch {
		case errors.As(err, &denied) && denied.Hop == credentials.HopCustomer:
			// The customer's role or trust policy is wrong: report to the tenant, do not retry soon.
		case credentials.IsTransient(err):
			// Throttling, 5xx or network: retry later.
		}
	}
	// Output: aws:222222222222:eu-west-1 eu-west-1
}
