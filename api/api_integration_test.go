package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

func newMotoServer(t *testing.T) *testServer {
	t.Helper()
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("api-tenants")
	if err := tenant.CreateTable(testaws.Context(t, time.Minute), client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return newTestServer(t, tenant.NewStore(client, table))
}

func decodeView(t *testing.T, res response) ConfigView {
	t.Helper()
	var v ConfigView
	if err := json.Unmarshal(res.Body, &v); err != nil {
		t.Fatalf("%s: %v", res.Body, err)
	}
	return v
}

func TestCRUDIntegration(t *testing.T) {
	ts := newMotoServer(t)
	base := "/api/v1/tenants/acme-corp/delivery-configs"

	if res := ts.do("GET", base, "", true); res.Status != 200 || !strings.Contains(string(res.Body), `"items":[]`) {
		t.Fatalf("empty list: %d %s", res.Status, res.Body)
	}
	res := ts.do("POST", base, `{"type":"s3","bucket_name":"acme-corp-logs","groups":["Controller Manager","Schedulr"],
		"created_at":"1999-01-01T00:00:00Z"}`, true)
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	if res.Header.Get("Location") != base+"/s3" {
		t.Fatalf("location %q", res.Header.Get("Location"))
	}
	created := decodeView(t, res)
	if created.TenantID != "acme-corp" || created.BucketPrefix != tenant.DefaultBucketPrefix ||
		created.CreatedAt == "" || strings.HasPrefix(created.CreatedAt, "1999") {
		t.Fatalf("created %+v", created)
	}
	if len(created.Warnings) != 1 || !strings.Contains(created.Warnings[0], "Schedulr") {
		t.Fatalf("warnings %v", created.Warnings)
	}

	res = ts.do("POST", base, `{"type":"s3","bucket_name":"other-bucket"}`, true)
	if res.Status != 409 {
		t.Fatalf("duplicate create: %d", res.Status)
	}
	res.problem(t)

	res = ts.do("PATCH", base+"/s3", `{"enabled":false,"bucket_prefix":"archive"}`, true)
	if res.Status != 200 {
		t.Fatalf("patch: %d %s", res.Status, res.Body)
	}
	patched := decodeView(t, res)
	if patched.IsEnabled() || patched.BucketPrefix != "archive/" || patched.BucketName != "acme-corp-logs" ||
		len(patched.Groups) != 2 || patched.CreatedAt != created.CreatedAt {
		t.Fatalf("patched %+v", patched)
	}
	// A patch whose result is invalid is rejected and changes nothing.
	res = ts.do("PATCH", base+"/s3", `{"bucket_name":"Bad_Bucket","sse":"aws:kms","kms_key_id":"alias/logs"}`, true)
	if res.Status != 400 || !strings.Contains(string(res.Body), "body.bucket_name") {
		t.Fatalf("invalid patch: %d %s", res.Status, res.Body)
	}
	if got := decodeView(t, ts.do("GET", base+"/s3", "", true)); got.BucketName != "acme-corp-logs" || got.SSE != "" {
		t.Fatalf("invalid patch was stored: %+v", got)
	}
	res = ts.do("PATCH", base+"/s3", `{"log_group_name":"/x"}`, true)
	if res.Status != 400 || !strings.Contains(string(res.Body), "applies only to type cloudwatch") {
		t.Fatalf("cross-type patch: %d %s", res.Status, res.Body)
	}

	res = ts.do("PUT", base+"/s3", `{"bucket_name":"acme-corp-logs2"}`, true)
	if res.Status != 200 {
		t.Fatalf("put: %d %s", res.Status, res.Body)
	}
	put := decodeView(t, res)
	if !put.IsEnabled() || len(put.Groups) != 0 || put.BucketName != "acme-corp-logs2" || put.CreatedAt != created.CreatedAt {
		t.Fatalf("put did not replace: %+v", put)
	}
	if res := ts.do("PUT", base+"/cloudwatch", `{"log_group_name":"/g","log_distribution_role_arn":"arn:aws:iam::123456789012:role/R"}`, true); res.Status != 404 {
		t.Fatalf("put missing: %d", res.Status)
	}
	if res := ts.do("PATCH", base+"/cloudwatch", `{"log_group_name":"/g"}`, true); res.Status != 404 {
		t.Fatalf("patch missing: %d", res.Status)
	}
	res = ts.do("POST", base, `{"type":"cloudwatch","log_group_name":"/aws/logs/acme","log_distribution_role_arn":"arn:aws:iam::123456789012:role/R","retention_in_days":30}`, true)
	if res.Status != 201 {
		t.Fatalf("create cloudwatch: %d %s", res.Status, res.Body)
	}
	var list ConfigList
	res = ts.do("GET", base, "", true)
	if err := json.Unmarshal(res.Body, &list); err != nil || len(list.Items) != 2 {
		t.Fatalf("list: %s %v", res.Body, err)
	}

	if res := ts.do("DELETE", base+"/s3", "", true); res.Status != 204 || len(res.Body) != 0 {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	if res := ts.do("DELETE", base+"/s3", "", true); res.Status != 404 {
		t.Fatalf("second delete: %d", res.Status)
	}
	if res := ts.do("GET", base+"/s3", "", true); res.Status != 404 {
		t.Fatalf("get deleted: %d", res.Status)
	}
}

func TestRacingCreatesIntegration(t *testing.T) {
	ts := newMotoServer(t)
	srv := httptest.NewServer(ts.srv)
	defer srv.Close()
	client, err := NewClient(srv.URL, testKeyID, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	const racers = 2
	for round := 0; round < 3; round++ {
		tenantID := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		statuses := make(chan int, racers)
		for i := 0; i < racers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := client.Create(context.Background(), tenantID, []byte(fmt.Sprintf(`{"type":"s3","bucket_name":"bucket-%d"}`, i)))
				switch e := err.(type) {
				case nil:
					statuses <- 201
				case *Error:
					statuses <- e.Status
				default:
					t.Error(err)
					statuses <- 0
				}
			}()
		}
		close(start)
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if count[201] != 1 || count[409] != racers-1 {
			t.Fatalf("round %d: statuses %v, want one 201 and %d 409", round, count, racers-1)
		}
	}
}

func TestPaginationIntegration(t *testing.T) {
	ts := newMotoServer(t)
	srv := httptest.NewServer(ts.srv)
	defer srv.Close()
	client, err := NewClient(srv.URL, testKeyID, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testaws.Context(t, 2*time.Minute)
	const n = 250
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := client.Create(ctx, fmt.Sprintf("tenant-%03d", i), []byte(`{"type":"s3","bucket_name":"logs-bucket"}`)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	seen := map[string]bool{}
	next, pages := "", 0
	for {
		res := ts.do("GET", "/api/v1/delivery-configs?limit=100"+map[bool]string{true: "", false: "&next=" + next}[next == ""], "", true)
		if res.Status != 200 {
			t.Fatalf("page %d: %d %s", pages, res.Status, res.Body)
		}
		var page ConfigList
		if err := json.Unmarshal(res.Body, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Items) > 100 {
			t.Fatalf("page of %d items, limit 100", len(page.Items))
		}
		for _, c := range page.Items {
			if seen[c.TenantID] {
				t.Fatalf("%s listed twice", c.TenantID)
			}
			seen[c.TenantID] = true
		}
		if page.Next == "" {
			break
		}
		next = page.Next
		if pages > n {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != n || pages < 3 {
		t.Fatalf("listed %d of %d configs in %d pages", len(seen), n, pages)
	}
	if res := ts.do("GET", "/api/v1/delivery-configs?next=garbage", "", true); res.Status != 400 {
		t.Fatalf("bad token: %d", res.Status)
	}
	// The client's typed List agrees.
	p, err := client.List(ctx, 1000, "")
	if err != nil || len(p.Items) != n || p.Next != "" {
		t.Fatalf("one big page: %d items, next %q, %v", len(p.Items), p.Next, err)
	}
}

func TestClientErrorsCarryTheServerMessage(t *testing.T) {
	ts := newMotoServer(t)
	srv := httptest.NewServer(ts.srv)
	defer srv.Close()
	client, _ := NewClient(srv.URL, testKeyID, testSecret)
	_, err := client.Create(context.Background(), "acme", []byte(`{"type":"cloudwatch"}`))
	e, ok := err.(*Error)
	if !ok || e.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "body.log_group_name: is required") {
		t.Fatalf("got %v", err)
	}
	bad, _ := NewClient(srv.URL, testKeyID, []byte("not-the-right-secret!!"))
	if _, err := bad.Get(context.Background(), "acme", "s3"); err == nil || !strings.HasPrefix(err.Error(), "401 Unauthorized") {
		t.Fatalf("got %v", err)
	}
}
