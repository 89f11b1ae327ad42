package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// WriteFiles writes results.json, results.md, table.txt and chart.svg into dir (created if missing).
func WriteFiles(dir string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"results.json", func(b *bytes.Buffer) error { return rep.WriteJSON(b) }},
		{"results.md", func(b *bytes.Buffer) error { return rep.WriteMarkdown(b) }},
		{"table.txt", func(b *bytes.Buffer) error { return rep.WriteTable(b) }},
		{"chart.svg", func(b *bytes.Buffer) error { return rep.WriteSVG(b) }},
	}
	for _, f := range files {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			return fmt.Errorf("render %s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// FindFakeLogs looks for the fakelogs binary next to exe, then on PATH; "" when there is none.
func FindFakeLogs(exe string) string {
	next := filepath.Join(filepath.Dir(exe), "fakelogs")
	if st, err := os.Stat(next); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return next
	}
	if p, err := exec.LookPath("fakelogs"); err == nil {
		return p
	}
	return ""
}

// BuildFakeLogs builds internal/tools/fakelogs into dir when the working directory is this module's source
// tree and a go command is at hand (e.g. under `go run ./cmd/logrouter bench`); it returns the binary's path.
func BuildFakeLogs(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join("internal", "tools", "fakelogs", "main.go")); err != nil {
		return "", fmt.Errorf("not in the logrouter source tree: %w", err)
	}
	out := filepath.Join(dir, "fakelogs")
	cmd := exec.Command("go", "build", "-o", out, "./internal/tools/fakelogs")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build fakelogs: %w: %s", err, bytes.TrimSpace(msg))
	}
	return out, nil
}

// Commit returns stamped unless it is empty or "unknown", else asks git for the working tree's commit
// (suffixed "-dirty" when it has changes); "" when neither knows.
func Commit(stamped string) string {
	if stamped != "" && stamped != "unknown" {
		return stamped
	}
	out, err := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Markers delimit the generated parts of a Markdown document that UpdateMarkdown rewrites: the per-size
// results, and the cost scenario's runs.
const (
	MarkdownBegin     = "<!-- bench:results:begin -->"
	MarkdownEnd       = "<!-- bench:results:end -->"
	CostMarkdownBegin = "<!-- bench:cost:begin -->"
	CostMarkdownEnd   = "<!-- bench:cost:end -->"
)

// UpdateMarkdown rewrites the blocks of the file at path that the report has results for: the per-size
// results between MarkdownBegin and MarkdownEnd, the cost runs between CostMarkdownBegin and CostMarkdownEnd.
// The rest of the document, and a block the run has nothing for, are left alone.
func UpdateMarkdown(path string, rep *Report) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(doc)
	if len(rep.Results) > 0 {
		if s, err = replaceBlock(s, path, MarkdownBegin, MarkdownEnd, rep.writeResultsMarkdown); err != nil {
			return err
		}
	}
	if rep.costRan() {
		if s, err = replaceBlock(s, path, CostMarkdownBegin, CostMarkdownEnd, rep.writeCostMarkdown); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func replaceBlock(s, path, begin, end string, write func(io.Writer) error) (string, error) {
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("%s has no %s ... %s block", path, begin, end)
	}
	var b bytes.Buffer
	b.WriteString(s[:i+len(begin)])
	b.WriteString("\n")
	if err := write(&b); err != nil {
		return "", err
	}
	b.WriteString(s[j:])
	return b.String(), nil
}
