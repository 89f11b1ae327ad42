// Package vector holds the Vector collector configuration (vector.yaml) that writes the objects logrouter reads,
// and the test that keeps it in step with the engine's key layout and the parser's input format.
// It has no Go API.
package vector
