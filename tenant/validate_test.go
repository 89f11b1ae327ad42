package tenant

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func validCW() Config {
	return Config{TenantID: "acme-corp", Type: TypeCloudWatch,
		LogDistributionRoleARN: "arn:aws:iam::123456789012:role/LogDistributionRole",
		LogGroupName:           "/aws/logs/acme-corp"}
}

func validS3() Config {
	return Config{TenantID: "acme-corp", Type: TypeS3, BucketName: "acme-corp-logs"}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		cfg   Config
		field string // "" = valid
	}{
		"cloudwatch minimal": {validCW(), ""},
		"s3 minimal":         {validS3(), ""},
		"cloudwatch full": {func() Config {
			c := validCW()
			c.Enabled, c.DesiredLogs, c.Groups, c.TargetRegion = ptr(false), []string{"a"}, []string{"api"}, "us-gov-west-1"
			c.ExternalID, c.RetentionInDays, c.TTL = "ext-id:1", ptr[int32](30), ptr(testNow.Unix()+10)
			c.KMSKeyID = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
			return c
		}(), ""},
		"s3 with kms": {func() Config {
			c := validS3()
			c.SSE, c.KMSKeyID, c.BucketPrefix = SSEKMS, "alias/logs", "logs/archive"
			return c
		}(), ""},
		"role arn with path": {func() Config {
			c := validCW()
			c.LogDistributionRoleARN = "arn:aws:iam::123456789012:role/a/b/R+=,.@-"
			return c
		}(), ""},
		"role arn china partition": {func() Config {
			c := validCW()
			c.LogDistributionRoleARN = "arn:aws-cn:iam::123456789012:role/R"
			return c
		}(), ""},
		"role arn bad partition": {func() Config {
			c := validCW()
			c.LogDistributionRoleARN = "arn:aws-xx:iam::123456789012:role/R"
			return c
		}(), "log_distribution_role_arn"},
		"role arn short account": {func() Config { c := validCW(); c.LogDistributionRoleARN = "arn:aws:iam::12345678901:role/R"; return c }(), "log_distribution_role_arn"},
		"role arn user not role": {func() Config { c := validCW(); c.LogDistributionRoleARN = "arn:aws:iam::123456789012:user/R"; return c }(), "log_distribution_role_arn"},
		"role arn empty path segment": {func() Config {
			c := validCW()
			c.LogDistributionRoleARN = "arn:aws:iam::123456789012:role//R"
			return c
		}(), "log_distribution_role_arn"},
		"role arn name too long": {func() Config {
			c := validCW()
			c.LogDistributionRoleARN = "arn:aws:iam::123456789012:role/" + strings.Repeat("r", 65)
			return c
		}(), "log_distribution_role_arn"},
		"role arn missing":          {func() Config { c := validCW(); c.LogDistributionRoleARN = ""; return c }(), "log_distribution_role_arn"},
		"log group missing":         {func() Config { c := validCW(); c.LogGroupName = ""; return c }(), "log_group_name"},
		"log group bad char":        {func() Config { c := validCW(); c.LogGroupName = "a b"; return c }(), "log_group_name"},
		"log group 512":             {func() Config { c := validCW(); c.LogGroupName = strings.Repeat("g", 512); return c }(), ""},
		"log group 513":             {func() Config { c := validCW(); c.LogGroupName = strings.Repeat("g", 513); return c }(), "log_group_name"},
		"log group allowed chars":   {func() Config { c := validCW(); c.LogGroupName = "/a.b-c_d#e/F9"; return c }(), ""},
		"cloudwatch with bucket":    {func() Config { c := validCW(); c.BucketName = "b-b-b"; return c }(), "bucket_name"},
		"cloudwatch with sse":       {func() Config { c := validCW(); c.SSE = SSEAES256; return c }(), "sse"},
		"cloudwatch kms not arn":    {func() Config { c := validCW(); c.KMSKeyID = "alias/x"; return c }(), "kms_key_id"},
		"bad retention":             {func() Config { c := validCW(); c.RetentionInDays = ptr[int32](2); return c }(), "retention_in_days"},
		"external id too short":     {func() Config { c := validCW(); c.ExternalID = "x"; return c }(), "external_id"},
		"s3 with role":              {func() Config { c := validS3(); c.LogDistributionRoleARN = "arn:aws:iam::123456789012:role/R"; return c }(), "log_distribution_role_arn"},
		"s3 with retention":         {func() Config { c := validS3(); c.RetentionInDays = ptr[int32](1); return c }(), "retention_in_days"},
		"bucket missing":            {func() Config { c := validS3(); c.BucketName = ""; return c }(), "bucket_name"},
		"bucket uppercase":          {func() Config { c := validS3(); c.BucketName = "Acme"; return c }(), "bucket_name"},
		"bucket too short":          {func() Config { c := validS3(); c.BucketName = "ab"; return c }(), "bucket_name"},
		"bucket too long":           {func() Config { c := validS3(); c.BucketName = strings.Repeat("b", 64); return c }(), "bucket_name"},
		"bucket adjacent dots":      {func() Config { c := validS3(); c.BucketName = "a..b"; return c }(), "bucket_name"},
		"bucket ip address":         {func() Config { c := validS3(); c.BucketName = "192.168.5.4"; return c }(), "bucket_name"},
		"bucket xn-- prefix":        {func() Config { c := validS3(); c.BucketName = "xn--abc"; return c }(), "bucket_name"},
		"bucket -s3alias suffix":    {func() Config { c := validS3(); c.BucketName = "abc-s3alias"; return c }(), "bucket_name"},
		"bucket ends with hyphen":   {func() Config { c := validS3(); c.BucketName = "abc-"; return c }(), "bucket_name"},
		"bucket dotted ok":          {func() Config { c := validS3(); c.BucketName = "logs.example.com"; return c }(), ""},
		"prefix leading slash":      {func() Config { c := validS3(); c.BucketPrefix = "/logs/"; return c }(), "bucket_prefix"},
		"prefix dotdot segment":     {func() Config { c := validS3(); c.BucketPrefix = "logs/../x/"; return c }(), "bucket_prefix"},
		"prefix dotdot inside name": {func() Config { c := validS3(); c.BucketPrefix = "logs..x/"; return c }(), ""},
		"prefix control char":       {func() Config { c := validS3(); c.BucketPrefix = "logs\n/"; return c }(), "bucket_prefix"},
		"sse unknown":               {func() Config { c := validS3(); c.SSE = "aes256"; return c }(), "sse"},
		"kms without sse kms":       {func() Config { c := validS3(); c.KMSKeyID = "alias/x"; return c }(), "kms_key_id"},
		"tenant empty":              {func() Config { c := validS3(); c.TenantID = ""; return c }(), "tenant_id"},
		"tenant uppercase":          {func() Config { c := validS3(); c.TenantID = "Acme"; return c }(), "tenant_id"},
		"tenant leading hyphen":     {func() Config { c := validS3(); c.TenantID = "-acme"; return c }(), "tenant_id"},
		"tenant 63":                 {func() Config { c := validS3(); c.TenantID = strings.Repeat("a", 63); return c }(), ""},
		"tenant 64":                 {func() Config { c := validS3(); c.TenantID = strings.Repeat("a", 64); return c }(), "tenant_id"},
		"tenant underscore":         {func() Config { c := validS3(); c.TenantID = "a_b"; return c }(), "tenant_id"},
		"type missing":              {Config{TenantID: "a"}, "type"},
		"type unknown":              {Config{TenantID: "a", Type: "kinesis"}, "type"},
		"region bad":                {func() Config { c := validS3(); c.TargetRegion = "US-EAST-1"; return c }(), "target_region"},
		"region gov":                {func() Config { c := validS3(); c.TargetRegion = "us-gov-east-1"; return c }(), ""},
		"desired_logs empty entry":  {func() Config { c := validS3(); c.DesiredLogs = []string{"a", " "}; return c }(), "desired_logs"},
		"groups empty entry":        {func() Config { c := validS3(); c.Groups = []string{""}; return c }(), "groups"},
		"unknown group is no error": {func() Config { c := validS3(); c.Groups = []string{"Schedulr"}; return c }(), ""},
		"ttl now":                   {func() Config { c := validS3(); c.TTL = ptr(testNow.Unix()); return c }(), "ttl"},
		"ttl past":                  {func() Config { c := validS3(); c.TTL = ptr(testNow.Unix() - 100); return c }(), "ttl"},
		"ttl future":                {func() Config { c := validS3(); c.TTL = ptr(testNow.Unix() + 1); return c }(), ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate(testNow)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError on %s, got %v", tc.field, err)
			}
			if _, ok := ve.Fields[tc.field]; !ok {
				t.Fatalf("want an error on %s, got %v", tc.field, ve.Fields)
			}
			if !strings.Contains(err.Error(), tc.field+": ") {
				t.Fatalf("message %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	err := Config{TenantID: "Bad", Type: TypeCloudWatch, TargetRegion: "mars"}.Validate(testNow)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	for _, f := range []string{"tenant_id", "log_distribution_role_arn", "log_group_name", "target_region"} {
		if ve.Fields[f] == "" {
			t.Errorf("no error for %s in %v", f, ve.Fields)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"empty gets default":     {"", DefaultBucketPrefix},
		"trailing slash added":   {"logs/archive", "logs/archive/"},
		"trailing slash kept":    {"logs/", "logs/"},
		"default prefix is kept": {DefaultBucketPrefix, DefaultBucketPrefix},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := validS3()
			c.BucketPrefix = tc.in
			c.Normalize()
			if c.BucketPrefix != tc.want || c.EffectiveBucketPrefix() != tc.want {
				t.Fatalf("got %q / %q, want %q", c.BucketPrefix, c.EffectiveBucketPrefix(), tc.want)
			}
		})
	}
	cw := validCW()
	cw.Normalize()
	if cw.BucketPrefix != "" {
		t.Fatalf("cloudwatch config got a bucket prefix %q", cw.BucketPrefix)
	}
}
