package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/logrouter/logrouter/tenant"
)

// HistoryList is one page of a configuration's change history, newest first.
type HistoryList struct {
	Items []tenant.HistoryEntry `json:"items" nullable:"false"`
	Next  string                `json:"next,omitempty" doc:"Opaque token for the next (older) page (pass as ?next=); absent on the last page."`
}

type historyInput struct {
	ConfigParams
	Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Maximum entries per page."`
	Next  string `query:"next" maxLength:"1024" doc:"Token from the previous page's next field."`
}

type historyOutput struct{ Body HistoryList }

func (s *Server) registerHistory() {
	huma.Register(s.api, huma.Operation{
		OperationID: "get-delivery-config-history", Method: http.MethodGet,
		Path: BasePath + "/tenants/{tenant_id}/delivery-configs/{type}/history", Tags: []string{"delivery-configs"},
		Summary:     "The changes of a delivery configuration, newest first (paginated)",
		Description: "Every create, replace, patch and delete, written in the same transaction as the change: when, the key id, the request id, the client address, and the configuration before and after. Entries are kept for the server's history retention (default 400 days). A configuration that never existed has an empty history.",
		Errors:      errorsRead, Security: security,
	}, s.history)
}

func (s *Server) history(ctx context.Context, in *historyInput) (*historyOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	page, err := s.store.History(ctx, in.TenantID, tenant.Type(in.Type), in.Limit, in.Next)
	switch {
	case errors.Is(err, tenant.ErrBadToken):
		return nil, huma.Error400BadRequest("invalid pagination token", &huma.ErrorDetail{Location: "query.next", Message: "is not a token this API issued", Value: in.Next})
	case errors.Is(err, tenant.ErrNoHistory):
		return nil, huma.Error404NotFound("this server records no change history (it has no audit table)")
	case err != nil:
		return nil, s.internal(ctx, err)
	}
	return &historyOutput{Body: HistoryList{Items: page.Entries, Next: page.Next}}, nil
}
