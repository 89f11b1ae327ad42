package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/api"
)

// Every flag of every command has an environment-variable twin, and `logrouter help CMD` documents both.
func TestEveryFlagHasAnEnvironmentTwin(t *testing.T) {
	for _, name := range commandNames() {
		c := commands[name]
		fs := newFlagSet(name)
		c.Setup(fs)
		var help bytes.Buffer
		printCommandHelp(&help, c)
		seen := map[string]string{}
		for _, d := range fs.flags {
			assert.True(t, strings.HasPrefix(d.env, "LOGROUTER_"), "%s --%s has environment twin %q", name, d.name, d.env)
			if other, dup := seen[d.env]; dup {
				t.Errorf("%s: --%s and --%s share %s", name, d.name, other, d.env)
			}
			seen[d.env] = d.name
			assert.Contains(t, help.String(), "--"+d.name, "help %s omits --%s", name, d.name)
			assert.Contains(t, help.String(), d.env, "help %s omits %s", name, d.env)
		}
	}
}

func TestFlagPrecedence(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		"default":               {want: time.Minute},
		"environment":           {env: map[string]string{"LOGROUTER_X": "5s"}, want: 5 * time.Second},
		"flag wins over env":    {args: []string{"--x", "7s"}, env: map[string]string{"LOGROUTER_X": "5s"}, want: 7 * time.Second},
		"bad environment value": {env: map[string]string{"LOGROUTER_X": "soon"}, wantErr: true},
		"bad flag value":        {args: []string{"--x", "soon"}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fs := newFlagSet("t")
			var d time.Duration
			fs.Duration(&d, "x", "LOGROUTER_X", time.Minute, "a duration")
			_, err := fs.Parse(tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr {
				var ue usageError
				require.ErrorAs(t, err, &ue)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, d)
		})
	}
}

func TestUnknownCommandAndHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	sio := stdio{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut}
	assert.Equal(t, 2, run(context.Background(), sio, []string{"nope"}, noEnv))
	assert.Contains(t, errOut.String(), `unknown command "nope"`)
	assert.Equal(t, 0, run(context.Background(), sio, []string{"help"}, noEnv))
	for _, name := range commandNames() {
		assert.Contains(t, out.String(), "  "+name, "help lists %s", name)
	}
	out.Reset()
	assert.Equal(t, 0, run(context.Background(), sio, []string{"version"}, noEnv))
	assert.Contains(t, out.String(), "logrouter dev")
}

func noEnv(string) string { return "" }

func TestFlagsAnywhereAndDoubleDash(t *testing.T) {
	fs := newFlagSet("t")
	var d time.Duration
	var b bool
	fs.Duration(&d, "x", "LOGROUTER_X", time.Minute, "a duration")
	fs.Bool(&b, "flag", "LOGROUTER_FLAG", false, "a switch")
	rest, err := fs.Parse([]string{"a", "--x", "5s", "b", "--flag", "-", "--", "--x", "-y"}, noEnv)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "-", "--x", "-y"}, rest)
	assert.Equal(t, 5*time.Second, d)
	assert.True(t, b)

	fs = newFlagSet("t")
	fs.Duration(&d, "x", "LOGROUTER_X", time.Minute, "a duration")
	_, err = fs.Parse([]string{"a", "--x"}, noEnv)
	var ue usageError
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, ue.msg, "--x needs a value")
}

// usageLine asserts that a usage error printed exactly one line that names the mistake and the help to read.
func usageLine(t *testing.T, r cliResult, cmd string, mistake ...string) {
	t.Helper()
	assert.Equal(t, 2, r.code, "exit code of a usage error")
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	require.Len(t, lines, 1, "a usage error is one line, got:\n%s", r.stderr)
	for _, m := range mistake {
		assert.Contains(t, lines[0], m)
	}
	if cmd != "" {
		assert.Contains(t, lines[0], "run 'logrouter help "+cmd+"'")
	}
}

func TestUsageErrorsAreOneLineWithSuggestions(t *testing.T) {
	obj := "../../examples/objects/1732582800-5f0c2b9e-8d4a-4c1e-9b7a-3e6f1d2c4a80.log.gz"
	keys := cliEnv{"LOGROUTER_API_KEY_ID": "k", "LOGROUTER_API_SECRET": "0123456789abcdef0123", "LOGROUTER_API_URL": "http://127.0.0.1:1"}
	tests := map[string]struct {
		env     cliEnv
		args    []string
		cmd     string
		mistake []string
	}{
		"unknown command":          {args: []string{"inspec", obj}, mistake: []string{`unknown command "inspec"`, "did you mean inspect?", "run 'logrouter help'"}},
		"transposed command":       {args: []string{"confgis"}, mistake: []string{"did you mean configs?"}},
		"unknown verb":             {env: keys, args: []string{"configs", "lsit"}, cmd: "configs", mistake: []string{`unknown verb "lsit"`, "did you mean list?"}},
		"missing verb":             {env: keys, args: []string{"configs"}, cmd: "configs", mistake: []string{"a verb is required", "list, get, create"}},
		"verb arguments":           {env: keys, args: []string{"configs", "get", "acme"}, cmd: "configs", mistake: []string{"configs get TENANT_ID TYPE", "got 1"}},
		"unknown flag after args":  {args: []string{"inspect", obj, "--sumary"}, cmd: "inspect", mistake: []string{"unknown flag --sumary", "did you mean --summary?"}},
		"bad flag value":           {args: []string{"inspect", "--max-line-bytes", "lots", obj}, cmd: "inspect", mistake: []string{"--max-line-bytes", `"lots" is not an integer`}},
		"command arguments":        {args: []string{"inspect", obj, obj}, cmd: "inspect", mistake: []string{"got 2 arguments"}},
		"page size checked here":   {env: keys, args: []string{"configs", "list", "--page-size", "5000"}, cmd: "configs", mistake: []string{"--page-size (LOGROUTER_API_PAGE_SIZE)", "between 1 and 1000", "5000"}},
		"all settings missing":     {env: cliEnv{"LOGROUTER_API_KEY_ID": "", "LOGROUTER_API_SECRET": "", "LOGROUTER_API_SECRET_FILE": "", "LOGROUTER_API_KEY": "", "LOGROUTER_API_KEY_FILE": ""}, args: []string{"configs", "list"}, cmd: "configs", mistake: []string{"--api-key-id (LOGROUTER_API_KEY_ID)", "--api-secret-file (LOGROUTER_API_SECRET_FILE)"}},
		"secret twice":             {env: cliEnv{"LOGROUTER_API_KEY_ID": "k"}, args: []string{"configs", "list", "--api-secret", "0123456789abcdef0123", "--api-key", "0123456789abcdef0123"}, cmd: "configs", mistake: []string{"not both"}},
		"secret holds a keys line": {env: cliEnv{"LOGROUTER_API_KEY_ID": "k", "LOGROUTER_API_SECRET": "k=0123456789abcdef0123"}, args: []string{"configs", "list"}, cmd: "configs", mistake: []string{"key_id=secret line"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := cliEnv{}
			for k, v := range tc.env {
				env[k] = v
			}
			r := runCLI(context.Background(), env, "", tc.args...)
			usageLine(t, r, tc.cmd, tc.mistake...)
			assert.Empty(t, r.stdout)
			assert.NotContains(t, r.stderr, "0123456789abcdef0123", "a secret in an error message")
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		r := runCLI(context.Background(), cliEnv{}, "", args...)
		assert.Equal(t, 0, r.code, "%v", args)
		assert.Contains(t, r.stdout, "logrouter "+version+" (commit "+commit, "%v", args)
	}
	r := runCLI(context.Background(), cliEnv{}, "", "help", "nosuch")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `unknown command "nosuch"`)
	for _, name := range commandNames() {
		assert.Contains(t, r.stderr, "\n  "+name+" ", "help nosuch lists %s", name)
	}
	r = runCLI(context.Background(), cliEnv{}, "", "help", "inpsect")
	assert.Contains(t, r.stderr, "did you mean inspect?")

	// Commands with verbs list them in their help, which "logrouter CMD help" prints as well.
	for _, name := range commandNames() {
		c := commands[name]
		if c.Verbs == nil {
			continue
		}
		var help bytes.Buffer
		printCommandHelp(&help, c)
		r := runCLI(context.Background(), cliEnv{}, "", name, "help")
		assert.Equal(t, 0, r.code, "%s help: %s", name, r.stderr)
		assert.Equal(t, help.String(), r.stdout, "%s help", name)
		for _, v := range c.Verbs() {
			assert.Contains(t, help.String(), "  "+strings.TrimSpace(v.Name+" "+v.Args), "help %s omits verb %s", name, v.Name)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	names := []string{"api", "bench", "configs", "help", "inspect", "lambda", "poll", "process", "version"}
	tests := map[string]string{
		"inspect":   " (did you mean inspect?)",
		"insepct":   " (did you mean inspect?)",
		"pol":       " (did you mean poll?)",
		"proces":    " (did you mean process?)",
		"conf":      " (did you mean configs?)",
		"xyzzy":     "",
		"a":         " (did you mean api?)",
		"versoin":   " (did you mean version?)",
		"frobnicat": "",
	}
	for in, want := range tests {
		assert.Equal(t, want, didYouMean(in, names), in)
	}
	assert.Equal(t, " (did you mean --summary?)", didYouMean("sumary", []string{"summary", "pipeline"}, "--"))
	assert.Equal(t, 1, editDistance("ab", "ba"))
	assert.Equal(t, 3, editDistance("", "abc"))
	assert.Equal(t, 0, editDistance("same", "same"))
}

func TestDeprecatedSecretNames(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte("0123456789abcdef0123\n"), 0o600))
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get(api.HeaderKeyID))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[]}`))
	}))
	defer srv.Close()
	base := cliEnv{"LOGROUTER_API_URL": srv.URL, "LOGROUTER_API_KEY_ID": "k", "LOGROUTER_API_SECRET": "", "LOGROUTER_API_SECRET_FILE": "", "LOGROUTER_API_KEY": "", "LOGROUTER_API_KEY_FILE": ""}
	with := func(kv ...string) cliEnv {
		e := cliEnv{}
		for k, v := range base {
			e[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	tests := map[string]struct {
		env  cliEnv
		args []string
		warn string
	}{
		"new file variable":       {env: with("LOGROUTER_API_SECRET_FILE", secretFile)},
		"old file variable":       {env: with("LOGROUTER_API_KEY_FILE", secretFile), warn: "LOGROUTER_API_KEY_FILE is deprecated; use LOGROUTER_API_SECRET_FILE"},
		"old secret variable":     {env: with("LOGROUTER_API_KEY", "0123456789abcdef0123"), warn: "LOGROUTER_API_KEY is deprecated; use LOGROUTER_API_SECRET"},
		"old flag":                {env: base, args: []string{"--api-key-file", secretFile}, warn: "--api-key-file is deprecated; use --api-secret-file"},
		"new variable wins":       {env: with("LOGROUTER_API_SECRET_FILE", secretFile, "LOGROUTER_API_KEY_FILE", filepath.Join(dir, "nonexistent"))},
		"new flag wins over both": {env: with("LOGROUTER_API_KEY_FILE", filepath.Join(dir, "nonexistent")), args: []string{"--api-secret-file", secretFile}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			seen = nil
			r := runCLI(context.Background(), tc.env, "", append([]string{"configs", "list"}, tc.args...)...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, []string{"k"}, seen, "one signed request")
			if tc.warn == "" {
				assert.Empty(t, r.stderr)
			} else {
				assert.Contains(t, r.stderr, "warning: "+tc.warn)
			}
		})
	}
}

func TestClientSaysWhatWentWrong(t *testing.T) {
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys")
	require.NoError(t, os.WriteFile(keysFile, []byte("# server keys\nops-1=0123456789abcdef0123\nops-2=abcdef0123456789abcd\n"), 0o600))
	secretFile := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte("0123456789abcdef0123"), 0o600))
	badJSON := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(badJSON, []byte("{\n  \"type\": \"s3\",\n  \"bucket_name\": \"b\",\n}\n"), 0o600))
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		switch {
		case r.Header.Get(api.HeaderKeyID) == "wrong":
			w.WriteHeader(http.StatusUnauthorized)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	env := func(keyID, file string) cliEnv {
		return cliEnv{"LOGROUTER_API_URL": srv.URL, "LOGROUTER_API_KEY_ID": keyID, "LOGROUTER_API_SECRET_FILE": file,
			"LOGROUTER_API_SECRET": "", "LOGROUTER_API_KEY": "", "LOGROUTER_API_KEY_FILE": ""}
	}

	t.Run("keys file instead of a secret", func(t *testing.T) {
		r := runCLI(context.Background(), env("ops-1", keysFile), "", "configs", "list")
		usageLine(t, r, "configs", "looks like the server's keys file", "sed -n 's/^ops-1=//p' "+keysFile)
		assert.NotContains(t, r.stderr, "0123456789abcdef0123")
		assert.Zero(t, requests, "nothing was sent")
	})
	t.Run("JSON syntax error names line and column", func(t *testing.T) {
		r := runCLI(context.Background(), env("ops-1", secretFile), "", "configs", "create", "acme", badJSON)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, badJSON+":4:1: not valid JSON")
		assert.Zero(t, requests, "nothing was sent")
	})
	t.Run("delete confirms", func(t *testing.T) {
		r := runCLI(context.Background(), env("ops-1", secretFile), "", "configs", "delete", "acme", "s3")
		require.Equal(t, 0, r.code, r.stderr)
		var out struct {
			Deleted struct {
				TenantID string `json:"tenant_id"`
				Type     string `json:"type"`
			} `json:"deleted"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
		assert.Equal(t, "acme", out.Deleted.TenantID)
		assert.Equal(t, "s3", out.Deleted.Type)
	})
	t.Run("401 lists the usual causes", func(t *testing.T) {
		r := runCLI(context.Background(), env("wrong", secretFile), "", "configs", "get", "acme", "s3")
		assert.Equal(t, 1, r.code)
		for _, cause := range []string{"401 Unauthorized", "clock skew", `wrong key id: "wrong"`, "wrong secret: " + secretFile} {
			assert.Contains(t, r.stderr, cause)
		}
		assert.NotContains(t, r.stderr, "0123456789abcdef0123")
	})
}

func TestLineColumn(t *testing.T) {
	tests := map[string]struct {
		doc       string
		line, col int
	}{
		"first byte":        {"}", 1, 1},
		"second line":       {"{\n  \"a\": x}", 2, 8},
		"trailing comma":    {"{\"a\":1,}", 1, 8},
		"unexpected end":    {"{\"a\":", 1, 5},
		"after blank lines": {"\n\n[1,,2]", 3, 4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := checkJSON([]byte(tc.doc))
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("%d:%d: ", tc.line, tc.col)), "%q: %v", tc.doc, err)
		})
	}
	assert.NoError(t, checkJSON([]byte(`{"a": [1, 2]}`)))
}

func TestInspectWarnsAboutNonVectorInput(t *testing.T) {
	obj := "../../examples/objects/1732582800-5f0c2b9e-8d4a-4c1e-9b7a-3e6f1d2c4a80.log.gz"
	r := runCLI(context.Background(), cliEnv{}, "", "inspect", "--summary", obj)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "warning")

	plain := filepath.Join(t.TempDir(), "app.log")
	require.NoError(t, os.WriteFile(plain, []byte("starting\n{\"level\":\"info\",\"msg\":\"up\"}\nserving\n"), 0o600))
	r = runCLI(context.Background(), cliEnv{}, "", "inspect", plain, "--summary")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "warning: 3 of 3 events are not Vector records")

	mixed := filepath.Join(t.TempDir(), "mixed.ndjson")
	require.NoError(t, os.WriteFile(mixed, []byte(`{"message":"a","namespace":"t"}`+"\nnot json\n"), 0o600))
	r = runCLI(context.Background(), cliEnv{}, "", "inspect", mixed)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "warning", "half is not most")
}
