package bench

import (
	"bytes"
	"fmt"
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
