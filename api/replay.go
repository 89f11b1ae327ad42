package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/logrouter/logrouter/replay"
	"github.com/logrouter/logrouter/tenant"
)

// ReplayJobs runs replay jobs for the API (a *replay.Jobs).
type ReplayJobs interface {
	Start(ctx context.Context, tenantID string, req replay.JobRequest) (replay.Job, error)
	Get(ctx context.Context, tenantID, id string) (replay.Job, error)
	List(ctx context.Context, tenantID string) ([]replay.Job, error)
	Cancel(ctx context.Context, tenantID, id string) (replay.Job, error)
}

// ReplayRequest starts a replay job: the tenant's objects written in [since, until) are enqueued as replay
// notifications for the processors.
type ReplayRequest struct {
	Since        string        `json:"since" minLength:"1" maxLength:"64" doc:"Replay objects written at or after this time: RFC 3339, or a duration before now (48h, 90m, 7d)."`
	Until        string        `json:"until,omitempty" maxLength:"64" doc:"Replay objects written before this time (default: when the job starts); same forms as since."`
	Types        []tenant.Type `json:"types,omitempty" maxItems:"2" doc:"Destination types replayed: cloudwatch, s3 (default: both)."`
	Applications []string      `json:"applications,omitempty" maxItems:"100" doc:"Only these applications (default: all)."`
	Clusters     []string      `json:"clusters,omitempty" maxItems:"100" doc:"Only these clusters (default: all)."`
	Force        bool          `json:"force,omitempty" doc:"Deliver again to destinations that already have the objects: this DUPLICATES them."`
	Clamp        bool          `json:"clamp,omitempty" doc:"Send CloudWatch events older than 14 days at the oldest accepted time instead of dropping them (counted either way)."`
}

// ReplayList is a tenant's replay jobs, newest first.
type ReplayList struct {
	Items []replay.Job `json:"items" nullable:"false"`
}

// ReplayParams are the path parameters of one replay job.
type ReplayParams struct {
	TenantID string `path:"tenant_id" maxLength:"63" doc:"Tenant identifier (lowercase DNS label)."`
	ReplayID string `path:"replay_id" maxLength:"64" doc:"Replay job id."`
}

type replayCreateInput struct {
	TenantParams
	Body ReplayRequest
}

type replayOutput struct {
	Location string `header:"Location" doc:"URL of the replay job."`
	Body     replay.Job
}

type replayListOutput struct{ Body ReplayList }

func (s *Server) registerReplays() {
	huma.Register(s.api, huma.Operation{
		OperationID: "create-replay", Method: http.MethodPost, Path: BasePath + "/tenants/{tenant_id}/replays", Tags: []string{"replays"},
		Summary: "Start a replay job: enqueue the tenant's objects of a time window for delivery again (409 while one runs)",
		Description: "The job lists the tenant's objects in the central bucket whose LastModified is in [since, until) and enqueues one signed " +
			"replay notification per object; the processors skip destinations that already have an object (unless force). " +
			"Its state is kept in the status table and survives a restart of the API. One job per tenant runs at a time.",
		DefaultStatus: http.StatusAccepted, MaxBodyBytes: noBodyLimit,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable}, Security: security,
	}, s.createReplay)
	huma.Register(s.api, huma.Operation{
		OperationID: "list-replays", Method: http.MethodGet, Path: BasePath + "/tenants/{tenant_id}/replays", Tags: []string{"replays"},
		Summary: "List a tenant's replay jobs, newest first (at most 100)",
		Errors:  []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable}, Security: security,
	}, s.listReplays)
	huma.Register(s.api, huma.Operation{
		OperationID: "get-replay", Method: http.MethodGet, Path: BasePath + "/tenants/{tenant_id}/replays/{replay_id}", Tags: []string{"replays"},
		Summary: "A replay job's state, progress and result",
		Errors:  []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable}, Security: security,
	}, s.getReplay)
	huma.Register(s.api, huma.Operation{
		OperationID: "cancel-replay", Method: http.MethodPost, Path: BasePath + "/tenants/{tenant_id}/replays/{replay_id}/cancel", Tags: []string{"replays"},
		Summary:       "Cancel a running replay job (409 when it has finished); what was enqueued stays enqueued",
		DefaultStatus: http.StatusAccepted, MaxBodyBytes: noBodyLimit,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable}, Security: security,
	}, s.cancelReplay)
}

func (s *Server) replays() (ReplayJobs, error) {
	if s.opts.Replays == nil {
		return nil, huma.Error503ServiceUnavailable("replay jobs are not configured on this API (they need LOGROUTER_STATUS_TABLE, LOGROUTER_QUEUE_URL, LOGROUTER_SOURCE_BUCKETS and LOGROUTER_REPLAY_KEYS_FILE)")
	}
	return s.opts.Replays, nil
}

func replayURL(tenantID, id string) string {
	return BasePath + "/tenants/" + tenantID + "/replays/" + id
}

func (s *Server) createReplay(ctx context.Context, in *replayCreateInput) (*replayOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	jobs, err := s.replays()
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	req := replay.JobRequest{Types: in.Body.Types, Applications: in.Body.Applications, Clusters: in.Body.Clusters, Force: in.Body.Force, Clamp: in.Body.Clamp}
	if req.Since, err = replay.ParseTime(in.Body.Since, now); err != nil {
		return nil, fieldError("since", err.Error(), in.Body.Since)
	}
	if req.Until, err = replay.ParseTime(in.Body.Until, now); err != nil {
		return nil, fieldError("until", err.Error(), in.Body.Until)
	}
	if req.Until.IsZero() {
		req.Until = now.UTC() // the window is fixed when the job starts, also for its resumptions
	}
	job, err := jobs.Start(ctx, in.TenantID, req)
	var running *replay.JobRunningError
	var invalid *replay.ValidationError
	switch {
	case errors.As(err, &running):
		return nil, huma.Error409Conflict(running.Error())
	case errors.As(err, &invalid):
		return nil, huma.Error400BadRequest("invalid replay: " + invalid.Error())
	case err != nil:
		return nil, s.internal(ctx, err)
	}
	return &replayOutput{Location: replayURL(job.TenantID, job.ID), Body: job}, nil
}

func (s *Server) listReplays(ctx context.Context, in *TenantParams) (*replayListOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	jobs, err := s.replays()
	if err != nil {
		return nil, err
	}
	list, err := jobs.List(ctx, in.TenantID)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &replayListOutput{Body: ReplayList{Items: list}}, nil
}

func (s *Server) getReplay(ctx context.Context, in *ReplayParams) (*replayOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	jobs, err := s.replays()
	if err != nil {
		return nil, err
	}
	job, err := jobs.Get(ctx, in.TenantID, in.ReplayID)
	if errors.Is(err, replay.ErrNoJob) {
		return nil, huma.Error404NotFound("tenant " + in.TenantID + " has no replay job " + in.ReplayID)
	}
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &replayOutput{Location: replayURL(job.TenantID, job.ID), Body: job}, nil
}

func (s *Server) cancelReplay(ctx context.Context, in *ReplayParams) (*replayOutput, error) {
	if err := checkTenantPath(in.TenantID); err != nil {
		return nil, err
	}
	jobs, err := s.replays()
	if err != nil {
		return nil, err
	}
	job, err := jobs.Cancel(ctx, in.TenantID, in.ReplayID)
	switch {
	case errors.Is(err, replay.ErrNoJob):
		return nil, huma.Error404NotFound("tenant " + in.TenantID + " has no replay job " + in.ReplayID)
	case errors.Is(err, replay.ErrJobFinished):
		return nil, huma.Error409Conflict("replay job " + in.ReplayID + " has already " + job.State)
	case err != nil:
		return nil, s.internal(ctx, err)
	}
	return &replayOutput{Location: replayURL(job.TenantID, job.ID), Body: job}, nil
}
