package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
)

const repoRoot = "../../.."

// buildTools builds the logrouter binary and this tool into a temp dir.
func buildTools(t *testing.T) (logrouter, demo string) {
	t.Helper()
	dir := t.TempDir()
	logrouter, demo = filepath.Join(dir, "logrouter"), filepath.Join(dir, "demo")
	for _, b := range [][]string{{"-o", logrouter, repoRoot + "/cmd/logrouter"}, {"-o", demo, "."}} {
		out, err := exec.Command("go", append([]string{"build"}, b...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	return logrouter, demo
}

// devStack is a running `demo --dev` (what `make dev` runs) and what it prints.
type devStack struct {
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	all   bytes.Buffer
	exit  chan error    // the exit status, once
	done  chan struct{} // closed when the process has exited
}

func startDevStack(t *testing.T, demo, logrouter, envFile string) *devStack {
	t.Helper()
	cmd := exec.Command(demo, "--dev", "--bin", logrouter, "--env-file", envFile,
		"--template", repoRoot+"/deploy/cloudformation/central.yaml", "--examples", repoRoot+"/examples")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a terminal's foreground job
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	s := &devStack{cmd: cmd, lines: make(chan string, 1024), exit: make(chan error, 1), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{s}
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.write(sc.Text() + "\n")
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.exit <- cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { // a failed test still stops the stack
		select {
		case <-s.done:
			return
		default:
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		go func() {
			for range s.lines { // drain
			}
		}()
		select {
		case <-s.done:
		case <-time.After(time.Minute):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	return s
}

type lockedWriter struct{ s *devStack }

func (w *lockedWriter) Write(p []byte) (int, error) { w.s.write(string(p)); return len(p), nil }

func (s *devStack) write(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all.WriteString(p)
}

func (s *devStack) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all.String()
}

// waitFor consumes printed lines until one satisfies match, and returns the lines up to it.
func (s *devStack) waitFor(t *testing.T, ctx context.Context, what string, match func(string) bool) []string {
	t.Helper()
	var seen []string
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("the dev stack ended before %s:\n%s", what, s.output())
			}
			seen = append(seen, l)
			if match(l) {
				return seen
			}
		case <-ctx.Done():
			t.Fatalf("no %s before the test's deadline:\n%s", what, s.output())
		}
	}
}

// interrupt sends SIGINT as Ctrl-C does and waits for a clean exit.
func (s *devStack) interrupt(t *testing.T, ctx context.Context) {
	t.Helper()
	require.NoError(t, syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT))
	go func() {
		for range s.lines { // drain
		}
	}()
	select {
	case err := <-s.exit:
		<-s.done
		require.NoError(t, err, "the dev stack's exit on Ctrl-C:\n%s", s.output())
	case <-ctx.Done():
		t.Fatalf("the dev stack did not stop on SIGINT:\n%s", s.output())
	}
	assert.Contains(t, s.output(), "stopped: everything the stack started was stopped and its files removed")
}

// usage is what the dev stack printed for the user: export lines and numbered next steps.
type usage struct {
	exports []string
	steps   map[int][]string
}

var stepStart = regexp.MustCompile(`^  ([0-9])\. `)

func parseUsage(lines []string) usage {
	u := usage{steps: map[int][]string{}}
	step, next := 0, false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "Next steps"):
			next = true
		case !next && strings.HasPrefix(strings.TrimSpace(l), "export "):
			u.exports = append(u.exports, strings.TrimSpace(l))
		case stepStart.MatchString(l):
			step = int(stepStart.FindStringSubmatch(l)[1][0] - '0')
		case strings.HasPrefix(l, "  More:"):
			step = 0
		case step > 0 && strings.HasPrefix(l, "     "):
			u.steps[step] = append(u.steps[step], strings.TrimPrefix(l, "     "))
		}
	}
	return u
}

func (u usage) env(name string) string {
	for _, e := range u.exports {
		for _, kv := range strings.Fields(strings.TrimPrefix(e, "export ")) {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				return v
			}
		}
	}
	return ""
}

// runScript runs a shell script as a user would paste it into a fresh shell.
func runScript(t *testing.T, ctx context.Context, dir, script string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "script:\n%s\nstdout:\n%s\nstderr:\n%s", script, stdout.String(), stderr.String())
	return stdout.String()
}

// sampleMessages returns the messages of the examples' sample object.
func sampleMessages(t *testing.T) (file string, msgs []string) {
	t.Helper()
	objects, err := filepath.Glob(repoRoot + "/examples/objects/*.log.gz")
	require.NoError(t, err)
	require.NotEmpty(t, objects)
	b, err := os.ReadFile(objects[0])
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		var rec struct {
			Message string `json:"message"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		msgs = append(msgs, rec.Message)
	}
	require.NoError(t, sc.Err())
	return filepath.Base(objects[0]), msgs
}

// waitDelivered waits for the stack's report that the sample object was delivered to CloudWatch Logs.
func (s *devStack) waitDelivered(t *testing.T, ctx context.Context, file string, events int) {
	t.Helper()
	seen := s.waitFor(t, ctx, "a report on "+file, func(l string) bool {
		return strings.Contains(l, "[poll] object ") && strings.Contains(l, file)
	})
	require.Contains(t, seen[len(seen)-1], ": success", "the object was not delivered:\n%s", s.output())
	dest := s.waitFor(t, ctx, "its destination", func(l string) bool { return strings.Contains(l, "→ ") })
	assert.Contains(t, dest[len(dest)-1], fmt.Sprintf("cloudwatch:/aws/logs/acme-corp:kube-apiserver-0 success events=%d", events))
}

// assertNothingLeft checks that no process of the stack runs and its files are gone.
func assertNothingLeft(t *testing.T, u usage, envFile string) {
	t.Helper()
	secretFile := u.env("LOGROUTER_API_SECRET_FILE")
	require.NotEmpty(t, secretFile)
	dir := filepath.Dir(secretFile)
	_, err := os.Stat(dir)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the stack's folder %s is still there", dir)
	_, err = os.Stat(envFile)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the env file %s is still there", envFile)
	for _, name := range []string{"AWS_ENDPOINT_URL", "LOGROUTER_API_URL"} {
		u, err := url.Parse(u.env(name))
		require.NoError(t, err)
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
			t.Errorf("%s (%s) still accepts connections", name, u.Host)
		}
	}
	// api and poll ran with the folder in their environment; moto with its port on its command line.
	motoURL, _ := url.Parse(u.env("AWS_ENDPOINT_URL"))
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		env, _ := os.ReadFile(p + "/environ")
		cmdline, _ := os.ReadFile(p + "/cmdline")
		if bytes.Contains(env, []byte(dir)) || (bytes.Contains(cmdline, []byte("moto_server")) &&
			bytes.Contains(cmdline, []byte("\x00"+motoURL.Port()+"\x00"))) {
			t.Errorf("process %s of the stack still runs: %q", filepath.Base(p), bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
}

// readyDevStack builds the tools, starts the dev stack as `make dev` does and waits for its ready line.
func readyDevStack(t *testing.T) (context.Context, *devStack, usage, string) {
	t.Helper()
	testaws.Endpoint(t) // integration gate: the stack starts its own emulator
	_, err := exec.LookPath("aws")
	require.NoError(t, err, "the next steps use the AWS CLI (aws) on the PATH")
	logrouter, demo := buildTools(t)
	ctx := testaws.Context(t, 4*time.Minute)
	envFile := filepath.Join(t.TempDir(), "dev.env")
	s := startDevStack(t, demo, logrouter, envFile)
	u := parseUsage(s.waitFor(t, ctx, "the ready line", func(l string) bool { return strings.HasPrefix(l, readyLine) }))
	return ctx, s, u, envFile
}

// `make dev`: the stack starts, prints its settings and three next steps; the steps work as printed
// (create a config from an example, upload the sample object, read the delivered logs back through the
// customer's role); Ctrl-C stops everything and leaves nothing behind.
func TestDevStackNextSteps(t *testing.T) {
	ctx, s, u, envFile := readyDevStack(t)
	require.Len(t, u.steps, 3, "three next steps:\n%s", s.output())
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"LOGROUTER_API_URL", "LOGROUTER_API_KEY_ID", "LOGROUTER_API_SECRET_FILE", "LOGROUTER_CENTRAL_BUCKET",
		"LOGROUTER_SOURCE_BUCKETS", "LOGROUTER_QUEUE_URL", "LOGROUTER_REPLAY_KEYS_FILE"} {
		assert.NotEmpty(t, u.env(k), "export of %s", k)
	}
	env, err := os.ReadFile(envFile)
	require.NoError(t, err)
	assert.Equal(t, strings.Join(u.exports, "\n")+"\n", string(env), "the env file holds the printed exports")

	exports := strings.Join(u.exports, "\n") + "\n"
	created := runScript(t, ctx, t.TempDir(), exports+strings.Join(u.steps[1], "\n"))
	var cfg struct {
		TenantID string `json:"tenant_id"`
		Type     string `json:"type"`
	}
	require.NoError(t, json.Unmarshal([]byte(created), &cfg), created)
	assert.Equal(t, "acme-corp", cfg.TenantID)

	file, msgs := sampleMessages(t)
	runScript(t, ctx, t.TempDir(), exports+strings.Join(u.steps[2], "\n"))
	s.waitDelivered(t, ctx, file, len(msgs))

	read := runScript(t, ctx, t.TempDir(), exports+strings.Join(u.steps[3], "\n"))
	for _, m := range msgs {
		assert.Contains(t, read, m, "the logs read back hold every message of the sample object")
	}
	// The stack records delivery status (poll writes it every second): the API serves it.
	for {
		var st struct {
			Destinations []struct {
				Type   string `json:"type"`
				Health string `json:"health"`
			} `json:"destinations"`
		}
		status := runScript(t, ctx, t.TempDir(), exports+"logrouter configs status acme-corp --json")
		require.NoError(t, json.Unmarshal([]byte(status), &st), status)
		require.Len(t, st.Destinations, 1, status)
		require.Equal(t, "cloudwatch", st.Destinations[0].Type)
		if st.Destinations[0].Health == "healthy" {
			break
		}
		require.Equal(t, "unknown", st.Destinations[0].Health, "before its first write the status is unknown:\n%s", status)
		select {
		case <-ctx.Done():
			t.Fatalf("the delivery status never became healthy:\n%s", status)
		case <-time.After(500 * time.Millisecond):
		}
	}
	// The README's replay commands work with the exported settings: the dry run lists the uploaded object,
	// `logrouter replay` enqueues it signed with the stack's replay keys, and the API runs a replay job.
	listed := runScript(t, ctx, t.TempDir(), exports+"logrouter replay --tenant acme-corp --since 48h --dry-run")
	assert.Contains(t, listed, `"key":"dev-cluster/acme-corp/kube-apiserver/kube-apiserver-0/`+file+`"`, listed)
	assert.Contains(t, listed, `"out_of_cloudwatch_window":false`, listed)
	enqueued := runScript(t, ctx, t.TempDir(), exports+"logrouter replay --tenant acme-corp --since 48h --type cloudwatch --progress never")
	assert.Contains(t, enqueued, `"objects_enqueued":1`, enqueued)
	job := runScript(t, ctx, t.TempDir(), exports+"logrouter configs replay acme-corp --since 48h --type cloudwatch")
	assert.Contains(t, job, `"tenant_id": "acme-corp"`, job)

	// Without the customer's role the group is not visible: the assume-role step is needed.
	withoutRole := exec.CommandContext(ctx, "bash", "-c", exports+"aws logs filter-log-events --log-group-name /aws/logs/acme-corp")
	withoutRole.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := withoutRole.CombinedOutput()
	assert.Error(t, err, "the central account sees the customer's log group:\n%s", out)

	s.interrupt(t, ctx)
	assertNothingLeft(t, u, envFile)
}

// readmeBlock returns the README's shell block marked `<!-- readme-test: NAME -->`.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(repoRoot + "/README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)<!-- readme-test: " + regexp.QuoteMeta(name) + " -->\n```sh\n(.*?)```").FindSubmatch(b)
	require.NotNil(t, m, "README lost its %q example", name)
	return string(m[1])
}

// The README's "Try it by hand" runs as written against `make dev`'s stack (its env file is the test's).
func TestReadmeTryItByHand(t *testing.T) {
	ctx, s, u, envFile := readyDevStack(t)

	send := readmeBlock(t, "by-hand")
	read := readmeBlock(t, "by-hand-read")
	for _, b := range []string{send, read} {
		require.Contains(t, b, "source bin/dev.env")
	}
	file, msgs := sampleMessages(t)
	runScript(t, ctx, repoRoot, strings.ReplaceAll(send, "bin/dev.env", envFile))
	s.waitDelivered(t, ctx, file, len(msgs))
	out := runScript(t, ctx, repoRoot, strings.ReplaceAll(read, "bin/dev.env", envFile))
	for _, m := range msgs {
		assert.Contains(t, out, m)
	}
	s.interrupt(t, ctx)
	assertNothingLeft(t, u, envFile)
}
