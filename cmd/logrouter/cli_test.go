package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	noEnv := func(string) string { return "" }
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
