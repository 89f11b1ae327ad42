package cwlfake

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// Server is a Fake served over loopback HTTP.
type Server struct {
	*Fake
	URL string
	srv *httptest.Server
}

// NewServer serves f on a fresh 127.0.0.1 port. The caller must Close it.
func NewServer(f *Fake) *Server {
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ConnContext = f.ConnContext
	srv.Start()
	return &Server{Fake: f, URL: srv.URL, srv: srv}
}

// Start creates a Fake and serves it for the duration of the test.
func Start(t testing.TB, optFns ...func(*Options)) *Server {
	t.Helper()
	s := NewServer(New(optFns...))
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and closes its connections.
func (s *Server) Close() { s.srv.Close() }

// Client returns a real SDK client aimed at the server (static test credentials, region us-east-1).
func (s *Server) Client(optFns ...func(*cloudwatchlogs.Options)) *cloudwatchlogs.Client {
	return NewClient(s.URL, optFns...)
}

// NewClient returns an SDK CloudWatch Logs client for endpoint with static test credentials.
func NewClient(endpoint string, optFns ...func(*cloudwatchlogs.Options)) *cloudwatchlogs.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret", ""),
		HTTPClient:  awshttp.NewBuildableClient().WithReadTimeout(0),
	}
	return cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		for _, fn := range optFns {
			fn(o)
		}
	})
}
