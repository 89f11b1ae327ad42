package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// readmeBlocks returns the README's shell blocks marked `<!-- readme-test: NAME -->`, by name.
func readmeBlocks(t *testing.T) map[string]string {
	t.Helper()
	re := regexp.MustCompile("(?s)<!-- readme-test: ([a-z-]+) -->\n```sh\n(.*?)```")
	blocks := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(readRepoFile(t, "README.md"), -1) {
		blocks[m[1]] = m[2]
	}
	return blocks
}

// The README's examples work as written: the curl + openssl signing recipe against a real `logrouter api`, the
// `logrouter configs` commands, and `logrouter inspect`. The only change made to them is the API's address
// (the examples use the default 127.0.0.1:8080, also LOGROUTER_API_URL's; the test's server listens on a free port).
func TestReadmeExamples(t *testing.T) {
	blocks := readmeBlocks(t)
	for _, name := range []string{"signing", "configs", "inspect"} {
		require.Contains(t, blocks, name, "README lost its %q example marker", name)
	}
	cfg := testaws.Config(t)
	ctx := testaws.Context(t, 2*time.Minute)
	work := t.TempDir()
	binDir := filepath.Join(work, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "logrouter"), ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	table := testaws.Name("readme")
	ddb := dynamodb.NewFromConfig(cfg)
	require.NoError(t, tenant.CreateTable(ctx, ddb, table))
	audit := testaws.Name("readme-audit")
	require.NoError(t, tenant.CreateAuditTable(ctx, ddb, audit))
	secret := hex.EncodeToString([]byte("readme-example-secret-0123456789"))
	require.NoError(t, os.WriteFile(filepath.Join(work, "keys"), []byte("ops-1="+secret+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(work, "secret"), []byte(secret), 0o600))
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	require.NoError(t, err)
	require.NoError(t, os.Symlink(examples, filepath.Join(work, "examples")), "the README's examples name files under examples/")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	env := append(os.Environ(),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"AWS_REGION="+testaws.Region, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_ENDPOINT_URL="+testaws.Endpoint(t), "AWS_EC2_METADATA_DISABLED=true",
		"LOGROUTER_TENANT_TABLE="+table, "LOGROUTER_AUDIT_TABLE="+audit,
	)
	api := exec.Command(filepath.Join(binDir, "logrouter"), "api")
	api.Env = append(env, "LOGROUTER_API_ADDR="+addr, "LOGROUTER_API_KEYS_FILE="+filepath.Join(work, "keys"))
	var apiLog bytes.Buffer
	api.Stdout, api.Stderr = &apiLog, &apiLog
	require.NoError(t, api.Start())
	t.Cleanup(func() {
		_ = api.Process.Signal(os.Interrupt)
		_ = api.Wait()
		if t.Failed() {
			t.Logf("api log:\n%s", apiLog.String())
		}
	})
	waitForURL(t, ctx, "http://"+addr+"/api/v1/ready")
	apiURL := "http://" + addr
	store := tenant.NewStore(ddb, table)

	runBlock := func(t *testing.T, name string, extraEnv ...string) (string, string) {
		script := strings.ReplaceAll(blocks[name], "http://127.0.0.1:8080", apiURL)
		cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
		cmd.Dir = work
		cmd.Env = append(append([]string(nil), env...), extraEnv...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "README %s example failed\nstdout:\n%s\nstderr:\n%s", name, stdout.String(), stderr.String())
		return stdout.String(), stderr.String()
	}

	t.Run("signing with curl and openssl", func(t *testing.T) {
		stdout, _ := runBlock(t, "signing")
		var created tenant.Config
		require.NoError(t, json.Unmarshal([]byte(stdout), &created), "curl printed %q", stdout)
		assert.Equal(t, "acme-corp", created.TenantID)
		assert.Equal(t, tenant.TypeS3, created.Type)
		stored, err := store.Get(ctx, "acme-corp", tenant.TypeS3)
		require.NoError(t, err)
		assert.Equal(t, "acme-corp-logs", stored.BucketName)
	})

	t.Run("configs CLI", func(t *testing.T) {
		stdout, stderr := runBlock(t, "configs",
			"LOGROUTER_API_URL="+apiURL, "LOGROUTER_API_KEY_ID=ops-1", "LOGROUTER_API_SECRET_FILE="+filepath.Join(work, "secret"))
		assert.Contains(t, stdout, "/aws/logs/acme-corp")
		assert.Contains(t, stdout, `"deleted"`)
		assert.NotContains(t, stderr, "deprecated")

		cw, err := store.Get(ctx, "acme-corp", tenant.TypeCloudWatch)
		require.NoError(t, err)
		assert.False(t, cw.IsEnabled(), "the patch example disables the cloudwatch config")
		assert.Equal(t, []string{"API", "Authentication"}, cw.Groups, "created from examples/configs/cloudwatch-groups.json")
		_, err = store.Get(ctx, "acme-corp", tenant.TypeS3)
		assert.ErrorIs(t, err, tenant.ErrNotFound, "the delete example removes the s3 config")

		// The history example prints the s3 config's changes, newest first, recorded with the CLI's key.
		start := strings.LastIndex(stdout, "{\n  \"items\"")
		require.GreaterOrEqual(t, start, 0, "no history output in %s", stdout)
		var hist struct {
			Items []tenant.HistoryEntry `json:"items"`
		}
		require.NoError(t, json.Unmarshal([]byte(stdout[start:]), &hist))
		var ops []string
		for _, e := range hist.Items {
			ops = append(ops, e.Operation)
			assert.Equal(t, "ops-1", e.KeyID)
			assert.NotEmpty(t, e.RequestID)
		}
		// The signing example created acme-corp/s3 first; this block replaced and deleted it.
		assert.Equal(t, []string{"delete", "replace", "create"}, ops)
	})

	t.Run("inspect", func(t *testing.T) {
		objects, err := filepath.Glob(filepath.Join(work, "examples", "objects", "*.log.gz"))
		require.NoError(t, err)
		require.NotEmpty(t, objects)
		gz, err := os.ReadFile(objects[0])
		require.NoError(t, err)
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		require.NoError(t, err)
		plain, err := io.ReadAll(zr)
		require.NoError(t, err)
		objectLines := bytes.Count(plain, []byte("\n"))
		stdout, stderr := runBlock(t, "inspect")
		lines := 0
		sc := bufio.NewScanner(strings.NewReader(stdout))
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			var ev struct {
				Timestamp       int64  `json:"timestamp"`
				TimestampSource string `json:"timestamp_source"`
				Namespace       string `json:"namespace"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "line %q", sc.Text())
			assert.NotZero(t, ev.Timestamp)
			assert.NotEmpty(t, ev.TimestampSource)
			lines++
		}
		assert.Equal(t, min(10, objectLines), lines, "`| head` shows the first ten events")
		assert.Contains(t, stderr, fmt.Sprintf("lines=%d events=%d", objectLines, objectLines), "the summary goes to stderr")
		assert.NotContains(t, stderr, "warning")
	})
}

func waitForURL(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never became healthy", url)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
