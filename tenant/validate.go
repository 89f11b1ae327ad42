package tenant

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ValidationError lists what is wrong with a configuration, one message per field (keyed by the JSON name).
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return "invalid delivery configuration: " + strings.Join(parts, "; ")
}

type fieldErrors map[string]string

func (f fieldErrors) add(field, format string, a ...any) {
	if _, dup := f[field]; !dup {
		f[field] = fmt.Sprintf(format, a...)
	}
}

var (
	dnsLabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	roleARNRE      = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role/(.+)$`)
	iamNameRE      = regexp.MustCompile(`^[\w+=,.@-]+$`)
	logGroupRE     = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	bucketRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionRE       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	externalIDRE   = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	kmsKeyARNRE    = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[\w/+=,.@-]+$`)
	kmsKeyIDOrName = regexp.MustCompile(`^(alias/[\w/+=,.@-]{1,250}|[0-9a-fA-F-]{1,128}|mrk-[0-9a-f]{32})$`)
)

// retentionDays are the values CloudWatch Logs accepts for PutRetentionPolicy.
var retentionDays = map[int32]bool{1: true, 3: true, 5: true, 7: true, 14: true, 30: true, 60: true, 90: true,
	120: true, 150: true, 180: true, 365: true, 400: true, 545: true, 731: true, 1096: true, 1827: true,
	2192: true, 2557: true, 2922: true, 3288: true, 3653: true}

// ValidateTenantID checks a tenant id: a Kubernetes namespace name (lowercase DNS label, 1–63 characters).
func ValidateTenantID(id string) error {
	if id == "" {
		return fmt.Errorf("is required")
	}
	if len(id) > 63 || !dnsLabelRE.MatchString(id) {
		return fmt.Errorf("must be a lowercase DNS label (1-63 of a-z, 0-9, '-', starting and ending alphanumeric)")
	}
	return nil
}

// Validate checks the configuration as written by a client at now: required fields per type, formats of ARNs,
// names, regions and prefixes, fields that belong to the other type, and a ttl in the future. It returns nil or
// a *ValidationError naming each bad field. Unknown group names are not errors (see Warnings).
func (c Config) Validate(now time.Time) error {
	fe := fieldErrors{}
	if err := ValidateTenantID(c.TenantID); err != nil {
		fe.add("tenant_id", "%v", err)
	}
	switch c.Type {
	case TypeCloudWatch:
		c.validateCloudWatch(fe)
	case TypeS3:
		c.validateS3(fe)
	case "":
		fe.add("type", "is required (cloudwatch or s3)")
	default:
		fe.add("type", "must be cloudwatch or s3")
	}
	for i, a := range c.DesiredLogs {
		if strings.TrimSpace(a) == "" {
			fe.add("desired_logs", "entry %d is empty", i)
		} else if len(a) > 253 {
			fe.add("desired_logs", "entry %d is longer than 253 characters", i)
		}
	}
	for i, g := range c.Groups {
		if strings.TrimSpace(g) == "" {
			fe.add("groups", "entry %d is empty", i)
		}
	}
	if c.TargetRegion != "" && !regionRE.MatchString(c.TargetRegion) {
		fe.add("target_region", "must be an AWS region name such as us-east-1")
	}
	if c.TTL != nil && *c.TTL <= now.Unix() {
		fe.add("ttl", "must be a Unix time in seconds in the future")
	}
	if c.RateLimit != nil {
		c.RateLimit.validate(fe)
	}
	if len(fe) == 0 {
		return nil
	}
	return &ValidationError{Fields: fe}
}

func (c Config) validateCloudWatch(fe fieldErrors) {
	if c.LogDistributionRoleARN == "" {
		fe.add("log_distribution_role_arn", "is required for type cloudwatch")
	} else if err := validateRoleARN(c.LogDistributionRoleARN); err != nil {
		fe.add("log_distribution_role_arn", "%v", err)
	}
	if c.LogGroupName == "" {
		fe.add("log_group_name", "is required for type cloudwatch")
	} else if !logGroupRE.MatchString(c.LogGroupName) {
		fe.add("log_group_name", "must be 1-512 characters of A-Z a-z 0-9 . - _ / #")
	}
	if c.ExternalID != "" && (len(c.ExternalID) < 2 || len(c.ExternalID) > 1224 || !externalIDRE.MatchString(c.ExternalID)) {
		fe.add("external_id", "must be 2-1224 characters of letters, digits and +=,.@:/-_")
	}
	if c.RetentionInDays != nil && !retentionDays[*c.RetentionInDays] {
		fe.add("retention_in_days", "must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)")
	}
	if c.KMSKeyID != "" && !kmsKeyARNRE.MatchString(c.KMSKeyID) {
		fe.add("kms_key_id", "must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) for type cloudwatch")
	}
	for field, set := range map[string]bool{"bucket_name": c.BucketName != "", "bucket_prefix": c.BucketPrefix != "", "sse": c.SSE != ""} {
		if set {
			fe.add(field, "applies only to type s3")
		}
	}
}

func (c Config) validateS3(fe fieldErrors) {
	if c.BucketName == "" {
		fe.add("bucket_name", "is required for type s3")
	} else if err := validateBucketName(c.BucketName); err != nil {
		fe.add("bucket_name", "%v", err)
	}
	if err := validateBucketPrefix(c.BucketPrefix); err != nil {
		fe.add("bucket_prefix", "%v", err)
	}
	switch c.SSE {
	case "", SSEAES256:
		if c.KMSKeyID != "" {
			fe.add("kms_key_id", "requires sse aws:kms")
		}
	case SSEKMS:
		if c.KMSKeyID != "" && !kmsKeyARNRE.MatchString(c.KMSKeyID) && !kmsKeyIDOrName.MatchString(c.KMSKeyID) {
			fe.add("kms_key_id", "must be a KMS key id, key ARN, alias name or alias ARN")
		}
	default:
		fe.add("sse", "must be AES256 or aws:kms")
	}
	for field, set := range map[string]bool{"log_distribution_role_arn": c.LogDistributionRoleARN != "",
		"log_group_name": c.LogGroupName != "", "external_id": c.ExternalID != "", "retention_in_days": c.RetentionInDays != nil} {
		if set {
			fe.add(field, "applies only to type cloudwatch")
		}
	}
}

func validateRoleARN(arn string) error {
	m := roleARNRE.FindStringSubmatch(arn)
	if m == nil {
		return fmt.Errorf("must be an IAM role ARN: arn:{aws|aws-cn|aws-us-gov}:iam::<12-digit account>:role/[path/]name")
	}
	segs := strings.Split(m[3], "/")
	name := segs[len(segs)-1]
	if len(name) < 1 || len(name) > 64 || !iamNameRE.MatchString(name) {
		return fmt.Errorf("role name must be 1-64 characters of letters, digits and +=,.@_-")
	}
	if len(m[3])-len(name) > 512 {
		return fmt.Errorf("role path is longer than 512 characters")
	}
	for _, s := range segs[:len(segs)-1] {
		if s == "" || !iamNameRE.MatchString(s) {
			return fmt.Errorf("role path segments must be non-empty and use letters, digits and +=,.@_-")
		}
	}
	return nil
}

func validateBucketName(b string) error {
	switch {
	case len(b) < 3 || len(b) > 63:
		return fmt.Errorf("must be 3-63 characters long")
	case !bucketRE.MatchString(b):
		return fmt.Errorf("must use only lowercase letters, digits, '.' and '-', and begin and end with a letter or digit")
	case strings.Contains(b, ".."), strings.Contains(b, ".-"), strings.Contains(b, "-."):
		return fmt.Errorf("must not contain adjacent periods or a period next to a hyphen")
	case net.ParseIP(b) != nil:
		return fmt.Errorf("must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return fmt.Errorf("must not start with %q", p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return fmt.Errorf("must not end with %q", s)
		}
	}
	return nil
}

func validateBucketPrefix(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > 512 {
		return fmt.Errorf("must be at most 512 characters")
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("must not start with /")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("must not contain control characters")
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("must not contain . or .. segments")
		}
	}
	if strings.Contains(strings.TrimSuffix(p, "/"), "//") {
		return fmt.Errorf("must not contain empty segments (//)")
	}
	return nil
}
