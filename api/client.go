package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Client calls the API with signed requests. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	keyID  string
	secret []byte
	// HTTP is the transport (default: a client with a 30s timeout).
	HTTP *http.Client
	// Now is the signing clock (default time.Now).
	Now func() time.Time
}

// NewClient returns a client for the API at baseURL (e.g. http://127.0.0.1:8080) signing with keyID/secret.
func NewClient(baseURL, keyID string, secret []byte) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("API URL %q is not an http(s) URL", baseURL)
	}
	if keyID == "" || len(secret) == 0 {
		return nil, errors.New("a key id and a secret are required to sign requests")
	}
	return &Client{base: u, keyID: keyID, secret: secret, HTTP: &http.Client{Timeout: 30 * time.Second}, Now: time.Now}, nil
}

// Error is a non-2xx answer: the status and the server's problem document.
type Error struct {
	Status  int
	Problem huma.ErrorModel
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if e.Problem.Detail != "" {
		b.WriteString(": " + e.Problem.Detail)
	}
	for _, d := range e.Problem.Errors {
		if d == nil {
			continue
		}
		b.WriteString("\n  ")
		if d.Location != "" {
			b.WriteString(d.Location + ": ")
		}
		b.WriteString(d.Message)
	}
	return b.String()
}

// Do sends a signed request (signing version 2, a new request id each time) to path (escaped, under the base URL, e.g. "/api/v1/health") with query and body (nil =
// none) and returns the response body of a 2xx answer. Other answers return an *Error.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body []byte) ([]byte, error) {
	u := *c.base
	u.RawPath = strings.TrimRight(c.base.EscapedPath(), "/") + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("request path %q: %w", path, err)
	}
	u.Path = p
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	Sign(req, c.keyID, c.secret, body, now())
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return out, nil
	}
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(out, &e.Problem) != nil || e.Problem.Detail == "" && len(e.Problem.Errors) == 0 {
		if len(out) > 0 && !json.Valid(out) {
			e.Problem.Detail = strings.TrimSpace(string(out[:min(len(out), 512)]))
		}
	}
	return nil, e
}

// ConfigPath returns the path of one configuration.
func ConfigPath(tenantID, typ string) string {
	return BasePath + "/tenants/" + url.PathEscape(tenantID) + "/delivery-configs/" + url.PathEscape(typ)
}

// TenantPath returns the path of a tenant's configuration collection.
func TenantPath(tenantID string) string {
	return BasePath + "/tenants/" + url.PathEscape(tenantID) + "/delivery-configs"
}

func decode[T any](b []byte, err error) (T, error) {
	var v T
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode response: %w", err)
	}
	return v, nil
}

// List returns one page of all tenants' configurations.
func (c *Client) List(ctx context.Context, limit int, next string) (ConfigList, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	if next != "" {
		q.Set("next", next)
	}
	return decode[ConfigList](c.Do(ctx, http.MethodGet, BasePath+"/delivery-configs", q, nil))
}

// ListTenant returns a tenant's configurations.
func (c *Client) ListTenant(ctx context.Context, tenantID string) (ConfigList, error) {
	return decode[ConfigList](c.Do(ctx, http.MethodGet, TenantPath(tenantID), nil, nil))
}

// Get returns one configuration.
func (c *Client) Get(ctx context.Context, tenantID, typ string) (ConfigView, error) {
	return decode[ConfigView](c.Do(ctx, http.MethodGet, ConfigPath(tenantID, typ), nil, nil))
}

// Create creates a configuration from a JSON body.
func (c *Client) Create(ctx context.Context, tenantID string, body []byte) (ConfigView, error) {
	return decode[ConfigView](c.Do(ctx, http.MethodPost, TenantPath(tenantID), nil, body))
}

// Replace replaces a configuration with a JSON body.
func (c *Client) Replace(ctx context.Context, tenantID, typ string, body []byte) (ConfigView, error) {
	return decode[ConfigView](c.Do(ctx, http.MethodPut, ConfigPath(tenantID, typ), nil, body))
}

// Patch changes the fields given in a JSON body.
func (c *Client) Patch(ctx context.Context, tenantID, typ string, body []byte) (ConfigView, error) {
	return decode[ConfigView](c.Do(ctx, http.MethodPatch, ConfigPath(tenantID, typ), nil, body))
}

// Delete deletes a configuration.
func (c *Client) Delete(ctx context.Context, tenantID, typ string) error {
	_, err := c.Do(ctx, http.MethodDelete, ConfigPath(tenantID, typ), nil, nil)
	return err
}

// History returns one page of a configuration's change history, newest first.
func (c *Client) History(ctx context.Context, tenantID, typ string, limit int, next string) (HistoryList, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	if next != "" {
		q.Set("next", next)
	}
	return decode[HistoryList](c.Do(ctx, http.MethodGet, ConfigPath(tenantID, typ)+"/history", q, nil))
}
