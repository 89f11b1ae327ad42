package credentials

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
)

const (
	baseAccessKey = "AKIABASEKEY000000001"
	baseSecret    = "base-secret-do-not-leak"
	baseAccount   = "999999999999"
	centralARN    = "arn:aws:iam::111111111111:role/logrouter-central"
	customerARN   = "arn:aws:iam::222222222222:role/LogDistributionRole"
)

// stsCall is one request the fake STS received.
type stsCall struct {
	Action, RoleARN, SessionName, ExternalID, Duration string
	AccessKeyID, SecurityToken                         string // how the request was signed
}

// issued is a set of credentials the fake handed out.
type issued struct{ roleARN, secret, token string }

// fakeAWS speaks enough of STS's query protocol (AssumeRole, GetCallerIdentity) and CloudWatch Logs'
// JSON protocol to follow credentials end to end. It records every request.
type fakeAWS struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	sts      []stsCall
	logs     []string // access key ids signing CloudWatch Logs requests
	s3       []string // access key ids signing S3 requests
	keys     map[string]issued
	lifetime map[string]time.Duration // per role ARN; default 1h
	fail     map[string]failure       // per role ARN ("" = GetCallerIdentity)
	delay    time.Duration
}

type failure struct {
	status int
	code   string
}

func newFakeAWS(t testing.TB) *fakeAWS {
	f := &fakeAWS{t: t, keys: map[string]issued{}, lifetime: map[string]time.Duration{}, fail: map[string]failure{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// config returns a base aws.Config aimed at the fake with static base credentials and no retries.
func (f *fakeAWS) config() aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      awscreds.NewStaticCredentialsProvider(baseAccessKey, baseSecret, ""),
		BaseEndpoint:     aws.String(f.srv.URL),
		RetryMaxAttempts: 1,
	}
}

var credentialPattern = regexp.MustCompile(`Credential=([^/]+)/`)

func signingKey(r *http.Request) string {
	m := credentialPattern.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return ""
	}
	return m[1]
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	key := signingKey(r)
	switch {
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), "Logs_"):
		f.mu.Lock()
		f.logs = append(f.logs, key)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, "{}")
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		f.serveSTS(w, r, key)
	default: // S3, path style
		f.mu.Lock()
		f.s3 = append(f.s3, key)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>`)
	}
}

func (f *fakeAWS) serveSTS(w http.ResponseWriter, r *http.Request, key string) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := stsCall{
		Action: r.PostForm.Get("Action"), RoleARN: r.PostForm.Get("RoleArn"),
		SessionName: r.PostForm.Get("RoleSessionName"), ExternalID: r.PostForm.Get("ExternalId"),
		Duration: r.PostForm.Get("DurationSeconds"), AccessKeyID: key,
		SecurityToken: r.Header.Get("X-Amz-Security-Token"),
	}
	f.mu.Lock()
	f.sts = append(f.sts, c)
	n := len(f.sts)
	fail, failing := f.fail[c.RoleARN]
	lifetime, ok := f.lifetime[c.RoleARN]
	if !ok {
		lifetime = time.Hour
	}
	caller, known := f.keys[key]
	delay := f.delay
	f.mu.Unlock()

	time.Sleep(delay)
	if failing {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(fail.status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>`+
			`<Code>%s</Code><Message>not allowed: %s</Message></Error><RequestId>req-%d</RequestId></ErrorResponse>`,
			fail.code, c.RoleARN, n)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	switch c.Action {
	case "GetCallerIdentity":
		account, arn := baseAccount, "arn:aws:iam::"+baseAccount+":user/base"
		if known {
			account = strings.Split(caller.roleARN, ":")[4]
			arn = "arn:aws:sts::" + account + ":assumed-role/x/y"
		}
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`+
			`<Arn>%s</Arn><UserId>AIDEXAMPLE</UserId><Account>%s</Account></GetCallerIdentityResult>`+
			`<ResponseMetadata><RequestId>req-%d</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, arn, account, n)
	case "AssumeRole":
		akid := fmt.Sprintf("ASIAFAKE%012d", n)
		cred := issued{roleARN: c.RoleARN, secret: fmt.Sprintf("secret-%d-do-not-leak", n), token: fmt.Sprintf("token-%d-do-not-leak", n)}
		f.mu.Lock()
		f.keys[akid] = cred
		f.mu.Unlock()
		account := strings.Split(c.RoleARN, ":")[4]
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(c.SessionName))
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>`+
			`<AssumedRoleUser><Arn>arn:aws:sts::%s:assumed-role/r/%s</Arn><AssumedRoleId>AROAFAKE:%s</AssumedRoleId></AssumedRoleUser>`+
			`<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken>`+
			`<Expiration>%s</Expiration></Credentials></AssumeRoleResult>`+
			`<ResponseMetadata><RequestId>req-%d</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			account, b.String(), b.String(), akid, cred.secret, cred.token,
			time.Now().Add(lifetime).UTC().Format(time.RFC3339), n)
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>%s</Message></Error></ErrorResponse>`, c.Action)
	}
}

// stsCalls returns the recorded STS requests with the given action and role ("" = any role).
func (f *fakeAWS) stsCalls(action, roleARN string) []stsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []stsCall
	for _, c := range f.sts {
		if c.Action == action && (roleARN == "" || c.RoleARN == roleARN) {
			out = append(out, c)
		}
	}
	return out
}

// issuedTo returns the role the access key was issued for ("" if the fake did not issue it).
func (f *fakeAWS) issuedTo(akid string) issued {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys[akid]
}

// secrets returns every secret the fake knows of: the base secret and all issued secrets and tokens.
func (f *fakeAWS) secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{baseSecret}
	for _, c := range f.keys {
		out = append(out, c.secret, c.token)
	}
	return out
}

func (f *fakeAWS) set(fn func(f *fakeAWS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}
