package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/validate"
)

// statusAPIFlags are the api command's settings for delivery status, usage and validation.
type statusAPIFlags struct {
	centralRole, externalID string
	idleAfter               time.Duration
}

func (f *statusAPIFlags) declare(fs *flagSet) {
	fs.Duration(&f.idleAfter, "status-idle-after", "LOGROUTER_STATUS_IDLE_AFTER", status.DefaultIdleAfter, "a destination with no delivery for this long is reported idle")
	fs.String(&f.centralRole, "central-role-arn", "LOGROUTER_CENTRAL_ROLE_ARN", "", "central log distribution role validation assumes (empty: the validate routes answer 503)")
	fs.String(&f.externalID, "external-id", "LOGROUTER_EXTERNAL_ID", "", "ExternalId for customer roles whose config has none, as the processors' (default: the central account id)")
}

// wire sets the status table (--status-table, shared with replay jobs) and the validator (S3 addressing as
// --s3-path-style says) in opts, logging what is unavailable and why.
func (f *statusAPIFlags) wire(cfg aws.Config, ddb *dynamodb.Client, table, pathDesc string, opts *api.Options, log *slog.Logger) error {
	if f.idleAfter <= 0 {
		return usagef("--status-idle-after must be positive")
	}
	opts.IdleAfter = f.idleAfter
	if table != "" {
		opts.Status = status.NewTable(ddb, table)
	} else {
		log.Warn("delivery status and usage routes are unavailable (503): set LOGROUTER_STATUS_TABLE to the processors' status table")
	}
	switch {
	case f.centralRole == "":
		opts.ValidatorUnavailable = "the API has no central role (set LOGROUTER_CENTRAL_ROLE_ARN)"
	case cfg.Region == "":
		opts.ValidatorUnavailable = "the API has no AWS region (set AWS_REGION)"
	}
	if opts.ValidatorUnavailable != "" {
		log.Warn("delivery config validation is unavailable (503): " + opts.ValidatorUnavailable)
		return nil
	}
	pathStyle, err := s3PathStyle(pathDesc)
	if err != nil {
		return err
	}
	m, err := credentials.New(cfg, credentials.Options{
		CentralRoleARN: f.centralRole, ExternalID: f.externalID, S3UsePathStyle: pathStyle,
		// A validation right after the customer fixed their role must ask STS again.
		NegativeTTL: time.Millisecond,
	})
	if err != nil {
		return usagef("validation settings: %v", err)
	}
	v, err := validate.New(validate.ManagerClients(m), validate.Options{Region: cfg.Region})
	if err != nil {
		return fmt.Errorf("validation: %w", err)
	}
	opts.Validator = v
	return nil
}
