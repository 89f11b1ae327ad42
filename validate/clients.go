package validate

import (
	"context"

	"github.com/logrouter/logrouter/credentials"
)

// ManagerClients adapts a *credentials.Manager: each assumption step retrieves the hop's credentials, so its
// typed error (AccessDeniedError, AssumeRoleError) is reported by the step that caused it. Give the manager
// a short NegativeTTL, so a validation right after a fix asks STS again.
func ManagerClients(m *credentials.Manager) Clients { return managerClients{m} }

type managerClients struct{ m *credentials.Manager }

func (c managerClients) AssumeCentral(ctx context.Context) error {
	cl, err := c.m.S3(ctx, "")
	if err != nil {
		return err
	}
	_, err = cl.Options().Credentials.Retrieve(ctx)
	return err
}

func (c managerClients) AssumeCustomer(ctx context.Context, roleARN, externalID, tenantID, region string) error {
	cl, _, err := c.m.CloudWatchLogs(ctx, roleARN, externalID, tenantID, region)
	if err != nil {
		return err
	}
	_, err = cl.Options().Credentials.Retrieve(ctx)
	return err
}

func (c managerClients) S3(ctx context.Context, region string) (S3API, error) {
	cl, err := c.m.S3(ctx, region)
	if err != nil {
		return nil, err
	}
	return cl, nil
}

func (c managerClients) CloudWatchLogs(ctx context.Context, roleARN, externalID, tenantID, region string) (LogsAPI, string, error) {
	cl, scope, err := c.m.CloudWatchLogs(ctx, roleARN, externalID, tenantID, region)
	if err != nil {
		return nil, "", err
	}
	return cl, scope, nil
}
