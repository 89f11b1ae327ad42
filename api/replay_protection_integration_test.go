package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// replicas returns n API servers as separate processes would run them: each its own store, request-id record
// and metrics, all on the same configuration and audit tables in moto.
func replicas(t *testing.T, n int) []*Server {
	t.Helper()
	ctx := testaws.Context(t, time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table, audit := testaws.Name("replica-configs"), testaws.Name("replica-audit")
	if err := tenant.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	if err := tenant.CreateAuditTable(ctx, client, audit); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, name := range []string{table, audit} {
			_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		}
	})
	var out []*Server
	for i := 0; i < n; i++ {
		store := tenant.NewStore(dynamodb.NewFromConfig(testaws.Config(t)), table, func(o *tenant.StoreOptions) { o.HistoryTable = audit })
		srv, err := New(store, Keys{testKeyID: testSecret}, Options{
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(),
			RequestIDs: NewDynamoRequestIDs(dynamodb.NewFromConfig(testaws.Config(t)), audit, nil),
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, srv)
	}
	return out
}

// captured is a signed request that can be sent again, as an attacker who recorded it would.
type captured struct {
	method, target, body string
	header               http.Header
}

func capture(method, target, body string) captured {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	Sign(req, testKeyID, testSecret, []byte(body), time.Now())
	return captured{method, target, body, req.Header.Clone()}
}

func (c captured) send(srv *Server, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
	req.Header = c.header.Clone()
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// The case: a captured DELETE, replayed after the configuration was re-created, through another
// replica, must not delete it again.
func TestReplayRefusedAcrossReplicasIntegration(t *testing.T) {
	servers := replicas(t, 2)
	a, b := servers[0], servers[1]
	base := "/api/v1/tenants/acme-corp/delivery-configs"
	create := `{"type":"s3","bucket_name":"acme-corp-logs"}`

	if rec := capture("POST", base, create).send(a, "192.0.2.1:1000"); rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	del := capture("DELETE", base+"/s3", "")
	if rec := del.send(a, "192.0.2.1:1000"); rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := capture("POST", base, create).send(b, "192.0.2.1:1000"); rec.Code != 201 {
		t.Fatalf("re-create: %d %s", rec.Code, rec.Body)
	}
	for name, srv := range map[string]*Server{"other replica": b, "same replica": a} {
		rec := del.send(srv, "198.51.100.9:4444")
		if rec.Code != 409 || !strings.Contains(rec.Body.String(), "already used") {
			t.Fatalf("replayed delete on the %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if v := testutil.ToFloat64(b.metrics.replaysRefused); v != 1 {
		t.Fatalf("replica b refused %v replays", v)
	}
	get := capture("GET", base+"/s3", "")
	if rec := get.send(b, "192.0.2.1:1000"); rec.Code != 200 {
		t.Fatalf("the re-created configuration is gone: %d %s", rec.Code, rec.Body)
	}
	// Reads are not one-time: the same signed GET may be sent again (within the clock skew).
	if rec := get.send(a, "192.0.2.1:1000"); rec.Code != 200 {
		t.Fatalf("repeated GET: %d", rec.Code)
	}

	// Two replicas receiving the same new request at once: exactly one accepts it.
	patch := capture("PATCH", base+"/s3", `{"enabled":false}`)
	codes := make(chan int, 2)
	for _, srv := range servers {
		go func() { codes <- patch.send(srv, "192.0.2.1:1000").Code }()
	}
	c1, c2 := <-codes, <-codes
	if !(c1 == 200 && c2 == 409 || c1 == 409 && c2 == 200) {
		t.Fatalf("the same PATCH on two replicas answered %d and %d", c1, c2)
	}

	// The history records each accepted change once, with the request ids and addresses, newest first.
	rec := capture("GET", base+"/s3/history", "").send(a, "192.0.2.1:1000")
	if rec.Code != 200 {
		t.Fatalf("history: %d %s", rec.Code, rec.Body)
	}
	var hist HistoryList
	if err := json.Unmarshal(rec.Body.Bytes(), &hist); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range hist.Items {
		ops = append(ops, e.Operation)
		if e.KeyID != testKeyID || e.Remote != "192.0.2.1:1000" || len(e.RequestID) != 32 {
			t.Fatalf("entry %+v", e)
		}
	}
	if strings.Join(ops, ",") != "patch,create,delete,create" {
		t.Fatalf("history %v", ops)
	}
	if hist.Items[0].RequestID != patch.header.Get(HeaderRequestID) || hist.Items[2].RequestID != del.header.Get(HeaderRequestID) {
		t.Fatal("history entries do not carry the requests' ids")
	}
	if v := testutil.ToFloat64(a.metrics.historyWrites.WithLabelValues("delete")); v != 1 {
		t.Fatalf("history writes{delete} on a = %v", v)
	}
}
