package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/logrouter/logrouter/parser"
)

func init() {
	register(&command{
		Name:    "inspect",
		Summary: "show the events a Vector object yields, with their timestamps and the rule that found each",
		Args:    "FILE|-",
		Doc: `Reads a Vector object — a local .json.gz or uncompressed NDJSON file (recognised by content), or - for
stdin — exactly as delivery does, and prints one JSON object per event on stdout:
  {"timestamp":<Unix ms>,"timestamp_source":"<rule>","message":"<string>","cluster_id":...,"namespace":...,
   "application":...,"pod_name":...}
(absent metadata is null), then a summary of the parser's counters on stderr. --summary prints only the
summary. Events with no timestamp of their own get the fallback: the file's modification time, as an S3
object's LastModified would be; stdin has no modification time, so there the fallback is the current time.
A corrupt or truncated gzip stream prints the events before the damage, the summary and the error, and
exits 1. When most events are not Vector records (lines that are not JSON, or records without any of
cluster_id, namespace, application, pod_name) a warning says so: usually the wrong file.`,
		Setup: func(fs *flagSet) runFunc {
			var summaryOnly, pipeline bool
			var maxLine int
			fs.Bool(&summaryOnly, "summary", "LOGROUTER_INSPECT_SUMMARY", false, "print only the summary of counters (stderr)")
			fs.Int(&maxLine, "max-line-bytes", "LOGROUTER_MAX_LINE_BYTES", parser.DefaultMaxLineBytes, "longest line accepted; longer lines are skipped and counted as oversized")
			fs.Bool(&pipeline, "pipeline", "LOGROUTER_PARSE_PIPELINE", true, "decompress on a second goroutine (uses two cores)")
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) != 1 {
					return usagef("inspect takes one FILE (or - for stdin), got %d arguments", len(args))
				}
				if maxLine <= 0 {
					return usagef("--max-line-bytes must be positive, got %d", maxLine)
				}
				return inspect(ctx, sio, args[0], inspectOptions{summaryOnly: summaryOnly, maxLineBytes: maxLine, pipeline: pipeline})
			}
		},
	})
}

type inspectOptions struct {
	summaryOnly  bool
	maxLineBytes int
	pipeline     bool
}

func inspect(ctx context.Context, sio stdio, name string, o inspectOptions) error {
	var in io.Reader
	var fallback time.Time
	if name == "-" {
		in, fallback = sio.Stdin, time.Now()
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory", name)
		}
		in, fallback = f, fi.ModTime()
	}
	r := parser.NewReader(in, fallback, func(po *parser.Options) {
		po.MaxLineBytes, po.Pipeline = o.maxLineBytes, o.pipeline
	})
	defer r.Close()

	out := bufio.NewWriterSize(sio.Stdout, 64<<10)
	var line []byte
	var err error
	var foreign int64 // events that are not Vector records: not JSON, or without any of Vector's metadata fields
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		var ev *parser.Event
		ev, err = r.Next()
		if err != nil {
			break
		}
		if ev.ClusterID == nil && ev.Namespace == nil && ev.Application == nil && ev.PodName == nil {
			foreign++
		}
		if o.summaryOnly {
			continue
		}
		line = appendEventJSON(line[:0], ev)
		if _, werr := out.Write(line); werr != nil {
			err = werr
			break
		}
	}
	if ferr := out.Flush(); ferr != nil && (err == nil || errors.Is(err, io.EOF)) {
		err = ferr
	}
	st := r.Stats()
	writeSummary(sio.Stderr, name, fallback, st)
	if st.Events > 0 && 2*foreign > st.Events {
		fmt.Fprintf(sio.Stderr, "%s: warning: %d of %d events are not Vector records (not JSON, or without cluster_id, namespace, "+
			"application and pod_name): is this the object Vector wrote? (they would be delivered as shown)\n", name, foreign, st.Events)
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// appendEventJSON appends the event as one line of JSON.
func appendEventJSON(dst []byte, ev *parser.Event) []byte {
	dst = append(dst, `{"timestamp":`...)
	dst = strconv.AppendInt(dst, ev.Timestamp, 10)
	dst = append(dst, `,"timestamp_source":"`...)
	dst = append(dst, ev.Source.String()...)
	dst = append(dst, `","message":`...)
	if ev.Escaped {
		// the parser guarantees an escaped body is valid JSON string content
		dst = append(dst, '"')
		dst = append(dst, ev.Message...)
		dst = append(dst, '"')
	} else {
		dst = appendJSONString(dst, ev.Message)
	}
	for _, f := range [...]struct {
		name string
		v    []byte
	}{{"cluster_id", ev.ClusterID}, {"namespace", ev.Namespace}, {"application", ev.Application}, {"pod_name", ev.PodName}} {
		dst = append(dst, `,"`...)
		dst = append(dst, f.name...)
		dst = append(dst, `":`...)
		if f.v == nil {
			dst = append(dst, "null"...)
		} else {
			dst = appendJSONString(dst, f.v)
		}
	}
	return append(dst, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

func writeSummary(w io.Writer, name string, fallback time.Time, st parser.Stats) {
	format := "ndjson"
	if st.Gzip {
		format = "gzip"
	}
	fmt.Fprintf(w, "%s: format=%s bytes_in=%d bytes_out=%d lines=%d events=%d blank=%d malformed=%d oversized=%d empty_arrays=%d\n",
		name, format, st.BytesIn, st.BytesOut, st.Lines, st.Events, st.BlankLines, st.MalformedLines, st.OversizedLines, st.EmptyArrayLines)
	fmt.Fprintf(w, "%s: timestamp_source", name)
	for s := range parser.NumSources {
		fmt.Fprintf(w, " %s=%d", s, st.BySource[s])
	}
	fmt.Fprintf(w, " (fallback %s)\n", fallback.UTC().Format(time.RFC3339))
}
