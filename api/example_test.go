package api_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/logrouter/logrouter/api"
)

// A request signed by a client verifies on the server with the same key; a changed body does not.
func ExampleSign() {
	keys := api.Keys{"ops-1": []byte("0123456789abcdef0123456789abcdef")}
	now := time.Unix(1795000000, 0)
	body := []byte(`{"enabled":false}`)

	req, _ := http.NewRequest(http.MethodPatch, "http://127.0.0.1:8080/api/v1/tenants/acme-corp/delivery-configs/s3", nil)
	api.Sign(req, "ops-1", keys["ops-1"], body, now)
	fmt.Println(req.Header.Get(api.HeaderTimestamp))

	v := &api.Verifier{Keys: keys, Now: func() time.Time { return now.Add(time.Minute) }}
	fmt.Println(v.Verify(req, req.URL.RequestURI(), body))
	fmt.Println(v.Verify(req, req.URL.RequestURI(), []byte(`{"enabled":true}`)))
	// Output:
	// 1795000000
	// <nil>
	// body does not match its SHA-256 header
}
