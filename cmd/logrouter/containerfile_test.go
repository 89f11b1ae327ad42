package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The image must be built exactly as `make build` builds the binary, run as non-root, and stamp the
// variables `logrouter version` prints. No container engine is needed to check that.
func TestContainerfileMatchesMakeBuild(t *testing.T) {
	containerfile := readRepoFile(t, "Containerfile")
	makefile := readRepoFile(t, "Makefile")

	ldflags := makeVariable(t, makefile, "LDFLAGS")
	buildRecipe := regexp.MustCompile(`(?m)^build:.*\n\t(.+)$`).FindStringSubmatch(makefile)
	require.NotNil(t, buildRecipe, "Makefile has no build recipe")
	makeBuild := strings.ReplaceAll(buildRecipe[1], "$(LDFLAGS)", ldflags)
	makeBuild = strings.NewReplacer("$(GO)", "go", "$(VERSION)", "${VERSION}", "$(COMMIT)", "${COMMIT}").Replace(makeBuild)

	runLines := regexp.MustCompile(`(?m)^RUN (go build .+)$`).FindAllStringSubmatch(containerfile, -1)
	require.Len(t, runLines, 1, "Containerfile must have exactly one `RUN go build` line")
	imageBuild := runLines[0][1]

	assert.Equal(t, buildArgs(t, makeBuild), buildArgs(t, imageBuild),
		"the Containerfile's go build differs from make build:\n  make:  %s\n  image: %s", makeBuild, imageBuild)
	assert.Contains(t, makeBuild, "CGO_ENABLED=0")
	assert.Regexp(t, `(?m)^ENV .*CGO_ENABLED=0`, containerfile, "the image build must be static like make build")

	// The -X targets exist in this package, so `logrouter version` shows what was stamped.
	for _, m := range regexp.MustCompile(`-X main\.(\w+)=`).FindAllStringSubmatch(ldflags, -1) {
		assert.Regexp(t, `(?m)^\s+`+m[1]+`\s+= "`, readRepoFile(t, "cmd/logrouter/cmd_version.go"), "ldflags stamps main.%s, which is not declared", m[1])
	}

	stages := strings.Split(containerfile, "\nFROM ")[1:]
	require.Len(t, stages, 2, "want a build stage and a run stage")
	assert.Contains(t, stages[0], "AS build")
	run := stages[1]
	assert.Regexp(t, `(?m)^USER 65532(:65532)?$`, run, "the run stage must not run as root")
	assert.Regexp(t, `(?m)^ENTRYPOINT \["/usr/local/bin/logrouter"\]$`, run, "the entrypoint is the binary; the command picks the mode")
	assert.Contains(t, run, "COPY --from=build /out/logrouter /usr/local/bin/logrouter")
	assert.NotContains(t, run, "RUN ", "the minimal run stage has no shell to RUN anything")
}

// buildArgs returns the `go build` flags and package, without the output path, which differs by design.
func buildArgs(t *testing.T, line string) []string {
	t.Helper()
	var out []string
	fields := splitShellWords(line)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		switch {
		case strings.Contains(f, "=") && !strings.HasPrefix(f, "-"):
			continue // environment assignment
		case f == "-o":
			i++
			continue
		}
		out = append(out, f)
	}
	return out
}

// splitShellWords splits on spaces outside double quotes and drops the quotes.
func splitShellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inQuote := false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case r == ' ' && !inQuote:
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}

func makeVariable(t *testing.T, makefile, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` :?= (.+)$`).FindStringSubmatch(makefile)
	require.NotNil(t, m, "Makefile does not define %s", name)
	return strings.TrimSpace(m[1])
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + rel)
	require.NoError(t, err)
	return string(b)
}
