// Package tenant holds the delivery-configuration model: one item per (tenant, delivery type) in the
// DynamoDB table of the design, its validation, the application groups, the DynamoDB store and the
// processor's read-through cache.
package tenant

import (
	"strings"
)

// Type is a delivery type, the table's sort key.
type Type string

// Delivery types.
const (
	TypeCloudWatch Type = "cloudwatch"
	TypeS3         Type = "s3"
)

// Types lists the delivery types in a stable order.
var Types = []Type{TypeCloudWatch, TypeS3}

// Valid reports whether t is a known delivery type.
func (t Type) Valid() bool { return t == TypeCloudWatch || t == TypeS3 }

// DefaultBucketPrefix is the S3 prefix used when bucket_prefix is empty.
const DefaultBucketPrefix = "ROSA/cluster-logs/"

// SSE values for S3 copies.
const (
	SSEAES256 = "AES256"
	SSEKMS    = "aws:kms"
)

// Config is one delivery configuration. Its JSON and DynamoDB attribute names are the design table's, so an
// existing table works unchanged. Optional attributes are omitted when empty.
type Config struct {
	TenantID string `json:"tenant_id,omitempty" dynamodbav:"tenant_id" doc:"Tenant identifier (a Kubernetes namespace name: lowercase DNS label, 1-63 characters). Optional in request bodies; when given it must match the path."`
	Type     Type   `json:"type,omitempty" dynamodbav:"type" enum:"cloudwatch,s3" doc:"Delivery type. Required in POST bodies; when given elsewhere it must match the path."`
	// Enabled: absent means true to readers; writers (Normalize) always store it.
	Enabled      *bool    `json:"enabled,omitempty" dynamodbav:"enabled,omitempty" doc:"Whether logs are delivered (default true; always stored explicitly)."`
	DesiredLogs  []string `json:"desired_logs,omitempty" dynamodbav:"desired_logs,omitempty" doc:"Application names to deliver (case-sensitive)."`
	Groups       []string `json:"groups,omitempty" dynamodbav:"groups,omitempty" doc:"Application group names (case-insensitive): API, Authentication, Controller Manager, Scheduler. With desired_logs they form the allowed set; when both are empty every application is delivered."`
	TargetRegion string   `json:"target_region,omitempty" dynamodbav:"target_region,omitempty" doc:"AWS region of the destination (default: the processor's region)."`
	// TTL is the Unix time (seconds) after which the configuration is ignored and DynamoDB may delete it.
	TTL       *int64 `json:"ttl,omitempty" dynamodbav:"ttl,omitempty" doc:"Unix time in seconds after which the configuration expires; must be in the future when written."`
	CreatedAt string `json:"created_at,omitempty" dynamodbav:"created_at,omitempty" readOnly:"true" doc:"Set by the server (RFC 3339); ignored in request bodies."`
	UpdatedAt string `json:"updated_at,omitempty" dynamodbav:"updated_at,omitempty" readOnly:"true" doc:"Set by the server (RFC 3339); ignored in request bodies."`

	// cloudwatch
	LogDistributionRoleARN string `json:"log_distribution_role_arn,omitempty" dynamodbav:"log_distribution_role_arn,omitempty" doc:"cloudwatch (required): the customer's IAM role ARN assumed for delivery."`
	LogGroupName           string `json:"log_group_name,omitempty" dynamodbav:"log_group_name,omitempty" doc:"cloudwatch (required): the destination log group."`
	ExternalID             string `json:"external_id,omitempty" dynamodbav:"external_id,omitempty" doc:"cloudwatch: STS ExternalId for the customer role (default: the deployment's)."`
	RetentionInDays        *int32 `json:"retention_in_days,omitempty" dynamodbav:"retention_in_days,omitempty" doc:"cloudwatch: retention applied to log groups the processor creates (a CloudWatch Logs retention value)."`
	KMSKeyID               string `json:"kms_key_id,omitempty" dynamodbav:"kms_key_id,omitempty" doc:"cloudwatch: KMS key ARN for created log groups; s3: KMS key for sse aws:kms."`

	// s3
	BucketName   string `json:"bucket_name,omitempty" dynamodbav:"bucket_name,omitempty" doc:"s3 (required): the destination bucket."`
	BucketPrefix string `json:"bucket_prefix,omitempty" dynamodbav:"bucket_prefix,omitempty" doc:"s3: key prefix (default ROSA/cluster-logs/; a trailing / is added)."`
	SSE          string `json:"sse,omitempty" dynamodbav:"sse,omitempty" enum:"AES256,aws:kms" doc:"s3: server-side encryption of the copies."`

	// RateLimit bounds the tenant's delivery rate (see RateLimit).
	RateLimit *RateLimit `json:"rate_limit,omitempty" dynamodbav:"rate_limit,omitempty" doc:"Optional: the tenant's delivery rate limit in each processor replica (events/s, bytes/s, burst); the smallest value set on any of the tenant's enabled configs applies. Default none."`
}

// IsEnabled reports whether the configuration delivers logs (an absent enabled means true).
func (c Config) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// Expired reports whether the configuration's ttl has passed at now. DynamoDB deletes expired items lazily,
// so readers must treat them as absent themselves.
func (c Config) Expired(nowUnix int64) bool { return c.TTL != nil && *c.TTL <= nowUnix }

// EffectiveBucketPrefix is the S3 key prefix to use: the default when empty, and always ending in "/".
func (c Config) EffectiveBucketPrefix() string { return normalizePrefix(c.BucketPrefix) }

func normalizePrefix(p string) string {
	if p == "" {
		return DefaultBucketPrefix
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// Normalize applies the write-time defaults in place, so that stored items carry them explicitly for every
// reader of the table: enabled is set (true when absent) and an s3 bucket_prefix gets its default and a
// trailing "/".
func (c *Config) Normalize() {
	if c.Enabled == nil {
		t := true
		c.Enabled = &t
	}
	if c.Type == TypeS3 {
		c.BucketPrefix = normalizePrefix(c.BucketPrefix)
	}
}

// Admits reports whether logs of application are delivered: application is in desired_logs or in one of the
// named groups. When desired_logs and groups are both empty every application is admitted. Unknown group
// names contribute nothing (UnknownGroups lists them). Application names are case-sensitive.
func (c Config) Admits(application string) bool {
	if len(c.DesiredLogs) == 0 && len(c.Groups) == 0 {
		return true
	}
	for _, a := range c.DesiredLogs {
		if a == application {
			return true
		}
	}
	for _, g := range c.Groups {
		for _, a := range GroupApplications(g) {
			if a == application {
				return true
			}
		}
	}
	return false
}

// AllowedApplications returns the de-duplicated union of desired_logs and the groups' applications in first-
// seen order, or nil when every application is admitted.
func (c Config) AllowedApplications() []string {
	if len(c.DesiredLogs) == 0 && len(c.Groups) == 0 {
		return nil
	}
	seen := map[string]bool{}
	out := []string{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range c.DesiredLogs {
		add(a)
	}
	for _, g := range c.Groups {
		for _, a := range GroupApplications(g) {
			add(a)
		}
	}
	return out
}

// UnknownGroups returns the group names that name no known group, in order.
func (c Config) UnknownGroups() []string {
	var out []string
	for _, g := range c.Groups {
		if !KnownGroup(g) {
			out = append(out, g)
		}
	}
	return out
}

// Warnings returns human-readable notes about accepted but suspicious settings (unknown groups).
func (c Config) Warnings() []string {
	var out []string
	for _, g := range c.UnknownGroups() {
		out = append(out, "groups: unknown group "+quote(g)+" is ignored (known: "+strings.Join(GroupNames(), ", ")+")")
	}
	return out
}

func quote(s string) string { return `"` + s + `"` }
