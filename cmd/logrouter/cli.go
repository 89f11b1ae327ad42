package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// stdio is what a command may read from and write to; tests substitute buffers.
type stdio struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// runFunc runs a command after its flags have been parsed. args are the positional arguments.
type runFunc func(ctx context.Context, io stdio, args []string) error

// command is one `logrouter` subcommand. Each lives in its own cmd_*.go file and registers itself.
type command struct {
	Name    string
	Summary string // one line, shown by `logrouter help`
	Args    string // positional-argument synopsis, e.g. "FILE"
	Doc     string // longer description shown by `logrouter help NAME`
	// Setup declares the command's flags on fs and returns the function that runs it.
	Setup func(fs *flagSet) runFunc
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.Name]; dup {
		panic("duplicate command " + c.Name)
	}
	commands[c.Name] = c
}

// usageError marks a mistake in how the command was called; main prints the command's usage with it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// flagSet is a flag.FlagSet whose flags each have an environment-variable twin.
// Precedence: command-line flag, then environment variable, then default.
type flagSet struct {
	fs    *flag.FlagSet
	flags []flagDoc
}

type flagDoc struct {
	name, env, def, usage string
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flagSet{fs: fs}
}

func (f *flagSet) add(v flag.Value, name, env, usage string) {
	f.fs.Var(v, name, usage)
	f.flags = append(f.flags, flagDoc{name: name, env: env, def: v.String(), usage: usage})
}

// String declares a string flag.
func (f *flagSet) String(p *string, name, env, def, usage string) {
	*p = def
	f.add((*stringValue)(p), name, env, usage)
}

// Int declares an int flag.
func (f *flagSet) Int(p *int, name, env string, def int, usage string) {
	*p = def
	f.add((*intValue)(p), name, env, usage)
}

// Bool declares a boolean flag.
func (f *flagSet) Bool(p *bool, name, env string, def bool, usage string) {
	*p = def
	f.add((*boolValue)(p), name, env, usage)
}

// Duration declares a duration flag (Go syntax: 60s, 5m).
func (f *flagSet) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	*p = def
	f.add((*durationValue)(p), name, env, usage)
}

// Var declares a flag of any flag.Value type; its current value is the default.
func (f *flagSet) Var(v flag.Value, name, env, usage string) { f.add(v, name, env, usage) }

// Parse parses args, then fills every flag not given on the command line from its environment variable.
func (f *flagSet) Parse(args []string, getenv func(string) string) ([]string, error) {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, d := range f.flags {
		if set[d.name] || d.env == "" {
			continue
		}
		if v, ok := lookupEnv(getenv, d.env); ok {
			if err := f.fs.Set(d.name, v); err != nil {
				return nil, usageError{fmt.Sprintf("environment variable %s: %v", d.env, err)}
			}
		}
	}
	return f.fs.Args(), nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// PrintDefaults writes the flag reference: each flag, its environment twin, default and meaning.
func (f *flagSet) PrintDefaults(w io.Writer) {
	if len(f.flags) == 0 {
		fmt.Fprintln(w, "  (no flags)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  FLAG\tENVIRONMENT\tDEFAULT\tMEANING")
	for _, d := range f.flags {
		env := d.env
		if env == "" {
			env = "-"
		}
		def := d.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "  --%s\t%s\t%s\t%s\n", d.name, env, def, d.usage)
	}
	tw.Flush()
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// printCommandHelp writes `logrouter help NAME`.
func printCommandHelp(w io.Writer, c *command) {
	fs := newFlagSet(c.Name)
	c.Setup(fs)
	synopsis := "logrouter " + c.Name + " [flags]"
	if c.Args != "" {
		synopsis += " " + c.Args
	}
	fmt.Fprintf(w, "%s\n\n%s\n", synopsis, c.Summary)
	if c.Doc != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Doc))
	}
	fmt.Fprintln(w, "\nFlags (a flag given on the command line wins over its environment variable):")
	fs.PrintDefaults(w)
}

func printOverview(w io.Writer) {
	fmt.Fprintln(w, "logrouter delivers tenants' Kubernetes logs from a central S3 bucket to their CloudWatch Logs and S3.")
	fmt.Fprintln(w, "\nUsage: logrouter COMMAND [flags] [args]\n\nCommands:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range commandNames() {
		fmt.Fprintf(tw, "  %s\t%s\n", n, commands[n].Summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nRun 'logrouter help COMMAND' for a command's flags and their environment variables.")
}

// run dispatches args (without the program name) and returns the process exit code.
func run(ctx context.Context, sio stdio, args []string, getenv func(string) string) int {
	if len(args) == 0 {
		printOverview(sio.Stderr)
		return 2
	}
	name := args[0]
	c, ok := commands[name]
	if !ok {
		if name == "-h" || name == "--help" {
			printOverview(sio.Stdout)
			return 0
		}
		fmt.Fprintf(sio.Stderr, "logrouter: unknown command %q\n\n", name)
		printOverview(sio.Stderr)
		return 2
	}
	fs := newFlagSet(name)
	runner := c.Setup(fs)
	rest, err := fs.Parse(args[1:], getenv)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(sio.Stdout, c)
		return 0
	}
	if err == nil {
		err = runner(ctx, sio, rest)
	}
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(sio.Stderr, "logrouter %s: %v\n\n", name, err)
		printCommandHelp(sio.Stderr, c)
		return 2
	}
	var ec exitCodeError
	if errors.As(err, &ec) {
		if ec.err != nil {
			fmt.Fprintf(sio.Stderr, "logrouter %s: %v\n", name, ec.err)
		}
		return ec.code
	}
	fmt.Fprintf(sio.Stderr, "logrouter %s: %v\n", name, err)
	return 1
}

// exitCodeError lets a command choose its exit status; err may be nil when the command already reported.
type exitCodeError struct {
	code int
	err  error
}

func (e exitCodeError) Error() string {
	if e.err == nil {
		return "exit status " + strconv.Itoa(e.code)
	}
	return e.err.Error()
}

func (e exitCodeError) Unwrap() error { return e.err }

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

type intValue int

func (i *intValue) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not an integer", v)
	}
	*i = intValue(n)
	return nil
}
func (i *intValue) String() string { return strconv.Itoa(int(*i)) }

type boolValue bool

func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a boolean (true/false)", v)
	}
	*b = boolValue(x)
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. 30s, 5m)", v)
	}
	*d = durationValue(x)
	return nil
}
func (d *durationValue) String() string { return time.Duration(*d).String() }
