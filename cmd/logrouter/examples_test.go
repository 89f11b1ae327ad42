package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/tenant"
)

// vectorFileName is the object name Vector writes (vector/vector.yaml: filename_time_format "%s",
// filename_append_uuid, filename_extension log.gz).
var vectorFileName = regexp.MustCompile(`^[0-9]{10}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.log\.gz$`)

// Every file under examples/ is checked: delivery configs pass the API's validation (strict JSON, no
// warnings), sample objects are Vector objects that `logrouter inspect` reads cleanly, and notification
// bodies parse and name a sample object by its real size and ETag.
func TestExamples(t *testing.T) {
	root := filepath.Join("..", "..", "examples")
	var files []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	}))
	objects := map[string][]byte{}
	checked := map[string]bool{}
	for _, f := range files {
		if strings.HasPrefix(f, "objects/") {
			b, err := os.ReadFile(filepath.Join(root, f))
			require.NoError(t, err)
			objects[path.Base(f)] = b
		}
	}
	require.NotEmpty(t, objects, "examples/objects holds no sample object")

	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f))
		switch {
		case f == "README.md":
			checked[f] = true
		case strings.HasPrefix(f, "configs/") && strings.HasSuffix(f, ".json"):
			t.Run(f, func(t *testing.T) { checkExampleConfig(t, p) })
			checked[f] = true
		case strings.HasPrefix(f, "objects/"):
			t.Run(f, func(t *testing.T) { checkExampleObject(t, p) })
			checked[f] = true
		case strings.HasPrefix(f, "notifications/") && strings.HasSuffix(f, ".json"):
			t.Run(f, func(t *testing.T) { checkExampleNotification(t, p, objects) })
			checked[f] = true
		}
	}
	for _, f := range files {
		assert.True(t, checked[f], "examples/%s is of no kind this test checks", f)
	}
	for _, want := range []string{"configs/cloudwatch-groups.json", "configs/s3-prefix-kms.json", "configs/dual/cloudwatch.json", "configs/dual/s3.json"} {
		assert.True(t, checked[want], "examples/%s is missing", want)
	}
	readme := readRepoFile(t, "examples/README.md")
	for _, f := range files {
		if f != "README.md" && !strings.HasPrefix(f, "objects/") {
			assert.Contains(t, readme, f, "examples/README.md does not mention %s", f)
		}
	}
}

func checkExampleConfig(t *testing.T, p string) {
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, checkJSON(b))
	var c tenant.Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // the API rejects unknown fields
	require.NoError(t, dec.Decode(&c))
	if c.TenantID == "" {
		c.TenantID = "acme-corp"
	}
	assert.NoError(t, c.Validate(time.Now()))
	assert.Empty(t, c.Warnings(), "the processor would ignore part of the example")
}

func checkExampleObject(t *testing.T, p string) {
	assert.Regexp(t, vectorFileName, filepath.Base(p), "not a file name Vector writes")
	r := runCLI(context.Background(), cliEnv{}, "", "inspect", p)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "warning")
	assert.Contains(t, r.stderr, "format=gzip")
	assert.Contains(t, r.stderr, "malformed=0 oversized=0")
	evs := decodeEvents(t, r.stdout)
	for i, ev := range evs {
		assert.NotEqual(t, "fallback", ev.TimestampSource, "event %d has no timestamp of its own", i)
		assert.NotEmpty(t, ev.Message)
		for _, v := range []*string{ev.ClusterID, ev.Namespace, ev.Application, ev.PodName} {
			if assert.NotNil(t, v, "event %d lacks Vector metadata", i) {
				assert.NotEmpty(t, *v)
			}
		}
	}
	events := len(evs)
	assert.Greater(t, events, 0)
}

func checkExampleNotification(t *testing.T, p string, objects map[string][]byte) {
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	n, err := engine.ParseNotification(b)
	require.NoError(t, err)
	require.Empty(t, n.Invalid)
	require.NotEmpty(t, n.Objects)
	for _, o := range n.Objects {
		key, err := engine.ParseObjectKey(o.Key)
		require.NoError(t, err)
		body, ok := objects[key.File]
		if assert.True(t, ok, "%s names %s, which is not in examples/objects", p, key.File) {
			sum := md5.Sum(body)
			assert.Equal(t, int64(len(body)), o.Size, "size of %s", key.File)
			assert.Equal(t, hex.EncodeToString(sum[:]), o.ETag, "ETag of %s", key.File)
		}
	}
}
