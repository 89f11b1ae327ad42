package engine

import (
	"context"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/credentials"
)

// ManagerClients adapts a *credentials.Manager to Clients.
func ManagerClients(m *credentials.Manager) Clients { return managerClients{m} }

type managerClients struct{ m *credentials.Manager }

func (c managerClients) S3(ctx context.Context, region string) (S3API, error) {
	cl, err := c.m.S3(ctx, region)
	if err != nil {
		return nil, err
	}
	return cl, nil
}

func (c managerClients) CloudWatchLogs(ctx context.Context, roleARN, externalID, tenantID, region string) (batcher.API, string, error) {
	cl, scope, err := c.m.CloudWatchLogs(ctx, roleARN, externalID, tenantID, region)
	if err != nil {
		return nil, "", err
	}
	return cl, scope, nil
}
