package api

import (
	"net/http"
	"strings"
	"testing"
)

// Without replay jobs configured the replay routes say so with 503, after authentication and validation.
func TestReplayRoutesWithoutJobs(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/tenants/acme/replays", `{"since":"1h"}`},
		{http.MethodGet, "/api/v1/tenants/acme/replays", ""},
		{http.MethodGet, "/api/v1/tenants/acme/replays/r-1", ""},
		{http.MethodPost, "/api/v1/tenants/acme/replays/r-1/cancel", ""},
	} {
		res := ts.do(c.method, c.path, c.body, true)
		if res.Status != http.StatusServiceUnavailable || !strings.Contains(res.problem(t).Detail, "LOGROUTER_REPLAY_KEYS_FILE") {
			t.Errorf("%s %s: %d %s", c.method, c.path, res.Status, res.Body)
		}
	}
	if res := ts.do(http.MethodPost, "/api/v1/tenants/acme/replays", `{"since":"1h"}`, false); res.Status != http.StatusUnauthorized {
		t.Errorf("unsigned: %d", res.Status)
	}
	if res := ts.do(http.MethodPost, "/api/v1/tenants/Not_A_Tenant/replays", `{"since":"1h"}`, true); res.Status != http.StatusBadRequest {
		t.Errorf("bad tenant: %d %s", res.Status, res.Body)
	}
	if res := ts.do(http.MethodPost, "/api/v1/tenants/acme/replays", `{"since":"1h","sinse":"2h"}`, true); res.Status != http.StatusBadRequest {
		t.Errorf("unknown field: %d %s", res.Status, res.Body)
	}
}
