package main

import "testing"

func TestPlural(t *testing.T) {
	for n, want := range map[int64]string{0: "0 consecutive failures", 1: "1 consecutive failure", 3: "3 consecutive failures"} {
		if got := plural(n, "consecutive failure"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
}
