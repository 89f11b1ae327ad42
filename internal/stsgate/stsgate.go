// Package stsgate stands in front of an STS endpoint (moto's, in tests) and enforces what moto does not: a
// role that refuses every caller, and a trust policy's sts:ExternalId condition. Refusals are STS's own
// AccessDenied answer, so clients, the credentials package and failure classification see exactly what AWS
// sends; every other request is passed to the endpoint behind it.
package stsgate

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
)

// Gate is an http.Handler; safe for concurrent use.
type Gate struct {
	proxy *httputil.ReverseProxy

	mu         sync.Mutex
	refused    map[string]bool
	externalID map[string]string
	refusals   int
}

// New returns a gate in front of the STS endpoint at target (e.g. moto's URL).
func New(target string) (*Gate, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	return &Gate{proxy: httputil.NewSingleHostReverseProxy(u), refused: map[string]bool{}, externalID: map[string]string{}}, nil
}

// Serve serves g on a fresh 127.0.0.1 port and returns its URL and a function that stops it.
func (g *Gate) Serve() (string, func()) {
	srv := httptest.NewServer(g)
	return srv.URL, srv.Close
}

// Refuse makes AssumeRole of role fail (its trust policy admits no caller) until Admit.
func (g *Gate) Refuse(role string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refused[role] = true
}

// Admit undoes Refuse and Pin.
func (g *Gate) Admit(role string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.refused, role)
	delete(g.externalID, role)
}

// Pin makes AssumeRole of role require externalID (its trust policy's sts:ExternalId condition).
func (g *Gate) Pin(role, externalID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.externalID[role] = externalID
}

// Refusals counts the AssumeRole requests the gate refused.
func (g *Gate) Refusals() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refusals
}

// ServeHTTP refuses or passes one request (STS's query protocol: a form-encoded POST).
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	if form.Get("Action") == "AssumeRole" {
		role := form.Get("RoleArn")
		g.mu.Lock()
		want, pinned := g.externalID[role]
		refuse := g.refused[role] || (pinned && form.Get("ExternalId") != want)
		if refuse {
			g.refusals++
		}
		g.mu.Unlock()
		if refuse {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code>`+
				`<Message>User: arn:aws:sts::123456789012:assumed-role/caller/session is not authorized to perform: sts:AssumeRole on resource: %s</Message>`+
				`</Error><RequestId>stsgate</RequestId></ErrorResponse>`, html.EscapeString(role))
			return
		}
	}
	g.proxy.ServeHTTP(w, r)
}
