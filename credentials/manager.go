// Package credentials assumes logrouter's roles and hands out AWS clients built on them.
//
// Two hops: logrouter's own credentials (the base aws.Config: default chain, IRSA, Lambda execution role)
// assume the central log distribution role (single hop, used for S3 delivery); with the central role's
// credentials logrouter assumes a customer's log distribution role with an ExternalId (double hop, used for
// CloudWatch Logs delivery in the customer's account).
//
// Credentials come from stscreds.AssumeRoleProvider behind aws.CredentialsCache, which refreshes them
// shortly before they expire and lets one AssumeRole call serve all concurrent callers. The customer
// provider's STS client signs with the central provider, so each hop refreshes on its own schedule.
// Clients are derived from the base aws.Config, so the SDK's endpoint configuration (AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_<SERVICE>, shared config files) applies to STS, CloudWatch Logs and S3 alike.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/sync/singleflight"
)

// maxRegions bounds the clients kept per credentials (one per region).
const maxRegions = 64

// Manager hands out clients with central-role and customer-role credentials. Safe for concurrent use.
type Manager struct {
	base aws.Config
	opts Options

	central    aws.CredentialsProvider // the central role's cached credentials, or the base credentials
	centralSTS *sts.Client             // signs with central: the customer hop and GetCallerIdentity

	customerDuration time.Duration
	cwlHTTP, s3HTTP  aws.HTTPClient // one connection pool per service, shared by every tenant's client

	account   atomic.Pointer[string] // the central account id, once discovered
	accountSF singleflight.Group

	providers *lru[providerKey, *customerEntry]
	s3Clients *lru[string, *s3.Client]
}

type providerKey struct{ roleARN, externalID, tenantID string }

// customerEntry is one customer role's credentials and the clients built on them.
type customerEntry struct {
	creds   *aws.CredentialsCache
	mu      sync.Mutex
	clients map[string]*cloudwatchlogs.Client // by region
}

// New returns a Manager assuming roles with base's credentials. base must have a region and credentials; its
// endpoint, retry and HTTP settings are kept for every client. No AWS call is made here.
func New(base aws.Config, opts Options) (*Manager, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("credentials options: %w", err)
	}
	opts.setDefaults()
	if base.Region == "" {
		return nil, errors.New("credentials: the base AWS config has no region (set AWS_REGION)")
	}
	if base.Credentials == nil {
		return nil, errors.New("credentials: the base AWS config has no credentials provider")
	}
	if base.HTTPClient == nil {
		base.HTTPClient = awshttp.NewBuildableClient()
	}
	m := &Manager{
		base:             base,
		opts:             opts,
		customerDuration: min(opts.SessionDuration, maxChainedDuration),
		providers:        newLRU[providerKey, *customerEntry](opts.MaxEntries),
		s3Clients:        newLRU[string, *s3.Client](maxRegions),
	}
	// Each service client would otherwise get its own copy of a buildable HTTP client, hence its own
	// connection pool: take the one the SDK resolves for the service once and share it.
	m.cwlHTTP = cloudwatchlogs.NewFromConfig(base).Options().HTTPClient
	m.s3HTTP = s3.NewFromConfig(base).Options().HTTPClient

	m.central = base.Credentials
	if opts.CentralRoleARN != "" {
		assume := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), opts.CentralRoleARN,
			func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = centralSessionName
				o.Duration = opts.SessionDuration
			})
		m.central = newCredentialsCache(&hopProvider{
			hop: HopCentral, roleARN: opts.CentralRoleARN, retrieve: assume.Retrieve,
			metrics: opts.Metrics, ttl: opts.NegativeTTL, now: opts.Now,
		}, opts.ExpiryWindow)
	}
	m.centralSTS = sts.NewFromConfig(base, func(o *sts.Options) { o.Credentials = m.central })
	return m, nil
}

// S3 returns an S3 client with the central role's credentials (single hop) for region ("" = the base
// region). Credential errors surface when the client is used.
func (m *Manager) S3(ctx context.Context, region string) (*s3.Client, error) {
	if region == "" {
		region = m.base.Region
	} else if err := validateRegion(region); err != nil {
		return nil, err
	}
	c, hit, evicted := m.s3Clients.getOrCreate(region, func() *s3.Client {
		return s3.NewFromConfig(m.base, func(o *s3.Options) {
			o.Region = region
			o.Credentials = m.central
			o.HTTPClient = m.s3HTTP
			o.UsePathStyle = m.opts.S3UsePathStyle
		})
	})
	m.opts.Metrics.lookup(cacheClient, hit, evicted)
	return c, nil
}

// CloudWatchLogs returns a client with the customer role's credentials (double hop) for region ("" = the
// base region), and the scope key of the destination account and region ("PARTITION:ACCOUNT:REGION", for
// caches of per-account state such as log group existence). externalID "" means the default (Options.
// ExternalID, else the central account id). tenantID goes into the session name.
//
// Providers are cached per (role ARN, external id, tenant id) and clients per provider and region; no AWS
// call is made here. Credential errors surface when the client is used, as *AccessDeniedError or
// *AssumeRoleError wrapped in the SDK's operation error. Invalid arguments are reported here.
func (m *Manager) CloudWatchLogs(ctx context.Context, roleARN, externalID, tenantID, region string) (*cloudwatchlogs.Client, string, error) {
	partition, account, err := parseRoleARN(roleARN)
	if err != nil {
		return nil, "", fmt.Errorf("tenant %q: log distribution role: %w", truncate(tenantID, 200), err)
	}
	if externalID != "" {
		if err := validateExternalID(externalID); err != nil {
			return nil, "", fmt.Errorf("tenant %q: %w", truncate(tenantID, 200), err)
		}
	}
	if region == "" {
		region = m.base.Region
	} else if err := validateRegion(region); err != nil {
		return nil, "", fmt.Errorf("tenant %q: %w", truncate(tenantID, 200), err)
	}

	key := providerKey{roleARN: roleARN, externalID: externalID, tenantID: tenantID}
	entry, hit, evicted := m.providers.getOrCreate(key, func() *customerEntry { return m.newCustomerEntry(key) })
	m.opts.Metrics.lookup(cacheProvider, hit, evicted)

	entry.mu.Lock()
	c, ok := entry.clients[region]
	if !ok {
		if len(entry.clients) >= maxRegions {
			clear(entry.clients)
		}
		c = cloudwatchlogs.NewFromConfig(m.base, func(o *cloudwatchlogs.Options) {
			o.Region = region
			o.Credentials = entry.creds
			o.HTTPClient = m.cwlHTTP
		})
		entry.clients[region] = c
	}
	entry.mu.Unlock()
	m.opts.Metrics.lookup(cacheClient, ok, 0)
	return c, partition + ":" + account + ":" + region, nil
}

func (m *Manager) newCustomerEntry(key providerKey) *customerEntry {
	session := sessionName(key.tenantID)
	hp := &hopProvider{
		hop: HopCustomer, roleARN: key.roleARN, tenantID: key.tenantID,
		metrics: m.opts.Metrics, ttl: m.opts.NegativeTTL, now: m.opts.Now,
		retrieve: func(ctx context.Context) (aws.Credentials, error) {
			externalID := key.externalID
			if externalID == "" {
				var err error
				if externalID, err = m.DefaultExternalID(ctx); err != nil {
					return aws.Credentials{}, err
				}
			}
			return stscreds.NewAssumeRoleProvider(m.centralSTS, key.roleARN, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = session
				o.Duration = m.customerDuration
				o.ExternalID = aws.String(externalID)
			}).Retrieve(ctx)
		},
	}
	return &customerEntry{creds: newCredentialsCache(hp, m.opts.ExpiryWindow), clients: make(map[string]*cloudwatchlogs.Client, 1)}
}

// DefaultExternalID returns the ExternalId sent for configs without one: Options.ExternalID, else the
// central account id, discovered with GetCallerIdentity as the central identity on first use and kept
// (failures are not kept). This is the value customers put in their role's trust policy.
func (m *Manager) DefaultExternalID(ctx context.Context) (string, error) {
	if m.opts.ExternalID != "" {
		return m.opts.ExternalID, nil
	}
	if id := m.account.Load(); id != nil {
		return *id, nil
	}
	ch := m.accountSF.DoChan("", func() (any, error) {
		if id := m.account.Load(); id != nil {
			return *id, nil
		}
		// Shared by concurrent callers: not bound to the first caller's cancellation.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), retrieveTimeout)
		defer cancel()
		out, err := m.centralSTS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			_, _, typed := classifyHop(HopCentral, m.opts.CentralRoleARN, "", err)
			return "", fmt.Errorf("discover the central account id: %w", typed)
		}
		id := aws.ToString(out.Account)
		if !accountPattern.MatchString(id) {
			return "", &AssumeRoleError{Hop: HopCentral, RoleARN: m.opts.CentralRoleARN, Code: "other",
				Err: fmt.Errorf("GetCallerIdentity returned account id %q, not 12 digits", truncate(id, 64))}
		}
		m.account.Store(&id)
		return id, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
