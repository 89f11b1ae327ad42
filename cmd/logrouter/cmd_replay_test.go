package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Without a source bucket the usage error names the setting to give, also when --bucket is given (the bucket
// must be one of the source buckets), instead of "no central bucket" that no flag or variable is called.
func TestReplayWithoutSourceBucketsNamesTheSetting(t *testing.T) {
	for name, args := range map[string][]string{
		"no bucket":         {"replay", "--tenant", "acme-corp", "--since", "48h", "--dry-run"},
		"bucket, no source": {"replay", "--tenant", "acme-corp", "--since", "48h", "--dry-run", "--bucket", "central"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, stderr := runCmd(t, map[string]string{"LOGROUTER_CENTRAL_BUCKET": "central"}, "", args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			assert.Contains(t, stderr, "--source-buckets (LOGROUTER_SOURCE_BUCKETS)")
		})
	}
}

// `logrouter help` must not present a partial list of the configs verbs as if it were all of them: a verb
// list in the command's summary names every verb.
func TestConfigsSummaryListsNoPartialVerbs(t *testing.T) {
	code, out, _ := runCmd(t, nil, "", "help")
	assert.Equal(t, 0, code)
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "configs ") {
			line = l
		}
	}
	if !assert.NotEmpty(t, line, "help lists configs:\n%s", out) {
		return
	}
	if open := strings.Index(line, "("); open >= 0 {
		listed := strings.Split(strings.TrimSuffix(line[open+1:], ")"), ", ")
		for _, v := range configsVerbList() {
			assert.Contains(t, listed, v.Name, "the configs summary lists verbs but not %s: %s", v.Name, line)
		}
	}
}

// The engine commands name the flag and variable of each missing required setting, all at once.
func TestEngineCommandsNameMissingRequiredSettings(t *testing.T) {
	for name, args := range map[string][]string{
		"process":        {"process", "--bucket", "b", "--key", "k"},
		"poll":           {"poll", "--queue-url", "http://127.0.0.1:1/q"},
		"replay --local": {"replay", "--tenant", "acme-corp", "--since", "48h", "--local", "--force", "--bucket", "b"},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"AWS_REGION": "us-east-1"}
			if name == "replay --local" {
				env["LOGROUTER_SOURCE_BUCKETS"] = "b" // replay itself needs the bucket before the engine's settings
			}
			code, _, stderr := runCmd(t, env, "", args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, "--central-role-arn (LOGROUTER_CENTRAL_ROLE_ARN)")
			if name != "replay --local" {
				assert.Contains(t, stderr, "--source-buckets (LOGROUTER_SOURCE_BUCKETS)")
			}
		})
	}
}

// A usage error with several problems (errors.Join) keeps them apart on its one line.
func TestUsageErrorSeparatesSeveralProblems(t *testing.T) {
	env := map[string]string{"LOGROUTER_CENTRAL_ROLE_ARN": "arn:aws:iam::123456789012:role/c", "LOGROUTER_SOURCE_BUCKETS": "b", "AWS_REGION": "us-east-1"}
	code, _, stderr := runCmd(t, env, "", "process", "--max-event-bytes", "5000", "--out-of-window", "keep", "--bucket", "b", "--key", "k")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "max event bytes 5000 is neither 1048576 nor 262144; ")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
}
