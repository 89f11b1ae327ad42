package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/tenant"
)

// Settings are the processor's deployment settings (the LOGROUTER_* variables of poll, lambda and process).
type Settings struct {
	TenantTable       string
	CentralRoleARN    string
	ExternalID        string
	SourceBuckets     []string
	Workers           int
	TenantInFlight    int
	LogStreamTemplate string
	ConfigCacheTTL    time.Duration
	MaxEventBytes     int
	OutOfWindow       string
	// StreamProbe: auto (default), put-first or create-first (batcher.StreamProbe).
	StreamProbe string
	S3PathStyle bool
	// ProgressTable is the DynamoDB table of delivery progress; "" keeps progress in memory only.
	ProgressTable    string
	TenantMetrics    bool
	BreakerThreshold int
	BreakerCooldown  time.Duration
	DetachAfter      time.Duration
	// ReplayKeys authenticate replay markers (Options.ReplayKeys).
	ReplayKeys map[string][]byte
}

// ParseBuckets splits a comma-separated bucket list, dropping blanks.
func ParseBuckets(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Validate reports every setting that cannot work.
func (s Settings) Validate() error {
	var errs []error
	if s.CentralRoleARN == "" {
		errs = append(errs, errors.New("the central role ARN is required"))
	}
	if len(s.SourceBuckets) == 0 {
		errs = append(errs, errors.New("at least one source bucket is required"))
	}
	if s.TenantTable == "" {
		errs = append(errs, errors.New("the tenant table is required"))
	}
	if s.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d is negative", s.Workers))
	}
	if s.MaxEventBytes != 0 && s.MaxEventBytes != batcher.DefaultMaxEventBytes && s.MaxEventBytes != batcher.LegacyMaxEventBytes {
		errs = append(errs, fmt.Errorf("max event bytes %d is neither %d nor %d", s.MaxEventBytes, batcher.DefaultMaxEventBytes, batcher.LegacyMaxEventBytes))
	}
	if s.OutOfWindow != "" {
		if _, err := batcher.ParsePolicy(s.OutOfWindow); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := batcher.ParseStreamProbe(s.StreamProbe); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseStreamTemplate(orDefault(s.LogStreamTemplate, "{pod_name}")); err != nil {
		errs = append(errs, err)
	}
	if s.ConfigCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("config cache TTL %s is negative", s.ConfigCacheTTL))
	}
	return errors.Join(errs...)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Runtime is a wired processor with its AWS clients and metrics.
type Runtime struct {
	Processor *Processor
	Metrics   *Metrics
	SQS       *sqs.Client
	Region    string
}

// NewRuntime wires a Processor from base (the execution role's configuration, with endpoint overrides):
// the tenant table through a read-through cache, central and customer credentials, progress and metrics
// registered on reg. optFns adjust the processor's options last.
func NewRuntime(ctx context.Context, base aws.Config, s Settings, reg prometheus.Registerer, log *slog.Logger, optFns ...func(*Options)) (*Runtime, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if base.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION")
	}
	m := NewMetrics(reg, s.TenantMetrics)
	creds, err := credentials.New(base, credentials.Options{
		CentralRoleARN: s.CentralRoleARN,
		ExternalID:     s.ExternalID,
		S3UsePathStyle: s.S3PathStyle,
		Metrics:        credentials.NewMetrics(reg),
	})
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	ddb := dynamodb.NewFromConfig(base)
	cache := tenant.NewCache(tenant.NewStore(ddb, s.TenantTable), tenant.CacheOptions{
		TTL: s.ConfigCacheTTL, Logger: log, Metrics: tenant.NewCacheMetrics(reg),
	})
	var progress ProgressStore
	if s.ProgressTable != "" {
		progress = NewDynamoDBProgress(ddb, s.ProgressTable, 0)
	} else {
		log.Warn("delivery progress is kept in memory only: a crash may re-send parts of objects; set LOGROUTER_PROGRESS_TABLE")
		progress = NewMemoryProgress()
	}
	policy := batcher.PolicyClamp
	if s.OutOfWindow != "" {
		policy, _ = batcher.ParsePolicy(s.OutOfWindow)
	}
	o := Options{
		SourceBuckets:     s.SourceBuckets,
		Region:            base.Region,
		LogStreamTemplate: s.LogStreamTemplate,
		Workers:           s.Workers,
		TenantInFlight:    s.TenantInFlight,
		BreakerThreshold:  s.BreakerThreshold,
		BreakerCooldown:   s.BreakerCooldown,
		DetachAfter:       s.DetachAfter,
		Progress:          progress,
		ReplayKeys:        s.ReplayKeys,
		Batcher: func(o *batcher.Options) {
			if s.MaxEventBytes != 0 {
				o.MaxEventBytes = s.MaxEventBytes
			}
			o.OutOfWindow = policy
			o.StreamProbe, _ = batcher.ParseStreamProbe(s.StreamProbe)
		},
		Metrics: m,
		Logger:  log,
	}
	for _, f := range optFns {
		f(&o)
	}
	p, err := NewProcessor(ManagerClients(creds), cache, o)
	if err != nil {
		return nil, err
	}
	_ = ctx
	return &Runtime{Processor: p, Metrics: m, SQS: sqs.NewFromConfig(base), Region: base.Region}, nil
}
