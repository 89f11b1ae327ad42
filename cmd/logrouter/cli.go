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
	// Verbs, when set, lists the verbs the first argument must be one of (configs list, configs get, ...).
	// run checks the verb and its number of arguments before the command runs, suggests the closest verb
	// for a misspelt one, and `logrouter help NAME` lists them. It is a function so that verbs registered
	// by other files (in any init order) are seen.
	Verbs func() []verb
}

// verb is one subcommand of a command whose first argument is a VERB.
type verb struct {
	Name    string
	Args    string // synopsis of the verb's own arguments, e.g. "TENANT_ID TYPE [FILE]"
	Summary string
	MinArgs int
	MaxArgs int // -1: no limit
}

// checkVerb returns the named verb of verbs, or a usage error that suggests the closest names.
func checkVerb(cmd string, verbs []verb, args []string) error {
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.Name
	}
	if len(args) == 0 {
		return usagef("a verb is required: %s", strings.Join(names, ", "))
	}
	for _, v := range verbs {
		if v.Name != args[0] {
			continue
		}
		n := len(args) - 1
		if n < v.MinArgs || (v.MaxArgs >= 0 && n > v.MaxArgs) {
			synopsis := strings.TrimSpace(cmd + " " + v.Name + " " + v.Args)
			if v.Args == "" {
				return usagef("%s takes no arguments, got %d", synopsis, n)
			}
			return usagef("%s: wrong number of arguments (got %d)", synopsis, n)
		}
		return nil
	}
	return usagef("unknown verb %q%s; the verbs are %s", args[0], didYouMean(args[0], names), strings.Join(names, ", "))
}

// hasVerb reports whether verbs has one called name.
func hasVerb(verbs []verb, name string) bool {
	for _, v := range verbs {
		if v.Name == name {
			return true
		}
	}
	return false
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
// Precedence: command-line flag, then environment variable, then default. Flags may come before, between or
// after the positional arguments; "--" ends the flags.
type flagSet struct {
	fs    *flag.FlagSet
	flags []flagDoc
	// warnings collects what Parse found worth telling (deprecated names); run prints them.
	warnings []string
}

type flagDoc struct {
	name, env, def, usage string
	// replacedBy names the flag a deprecated name stands for ("" for a current flag).
	replacedBy string
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

// Deprecated declares old (with its environment variable oldEnv) as a deprecated name of the declared flag
// current: it still sets current, with a warning. current and its own variable win over the old names.
func (f *flagSet) Deprecated(old, oldEnv, current string) {
	target := f.fs.Lookup(current)
	if target == nil {
		panic("deprecated name for undeclared flag " + current)
	}
	f.fs.Var(target.Value, old, "deprecated: use --"+current)
	f.flags = append(f.flags, flagDoc{name: old, env: oldEnv, def: target.DefValue,
		usage: "deprecated name of --" + current + " (" + f.envOf(current) + ")", replacedBy: current})
}

func (f *flagSet) envOf(name string) string {
	for _, d := range f.flags {
		if d.name == name {
			return d.env
		}
	}
	return ""
}

func (f *flagSet) doc(name string) (flagDoc, bool) {
	for _, d := range f.flags {
		if d.name == name {
			return d, true
		}
	}
	return flagDoc{}, false
}

// Parse parses args — flags anywhere among the positional arguments, "--" ending the flags — then fills
// every flag not given on the command line from its environment variable. It returns the positional
// arguments in order.
func (f *flagSet) Parse(args []string, getenv func(string) string) ([]string, error) {
	var positional []string
	set := map[string]bool{}    // flags given on the command line (current names)
	viaOld := map[string]bool{} // ... of which those given by a deprecated name
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		if a == "--" {
			positional = append(positional, args...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if name == "h" || name == "help" {
			return nil, flag.ErrHelp
		}
		fl := f.fs.Lookup(name)
		if fl == nil {
			return nil, usagef("unknown flag --%s%s", name, didYouMean(name, f.names(), "--"))
		}
		if bf, ok := fl.Value.(interface{ IsBoolFlag() bool }); !hasValue && ok && bf.IsBoolFlag() {
			value, hasValue = "true", true
		}
		if !hasValue {
			if len(args) == 0 {
				return nil, usagef("flag --%s needs a value", name)
			}
			value, args = args[0], args[1:]
		}
		d, _ := f.doc(name)
		old := d.replacedBy != ""
		if old {
			f.warnings = append(f.warnings, fmt.Sprintf("--%s is deprecated; use --%s", name, d.replacedBy))
			name = d.replacedBy
		}
		if set[name] && viaOld[name] != old {
			return nil, usagef("give --%s, not both it and its deprecated name", name)
		}
		if err := f.fs.Set(name, value); err != nil {
			return nil, usagef("flag --%s: %v", name, err)
		}
		set[name], viaOld[name] = true, old
	}
	fromEnv := map[string]bool{}
	for _, current := range []bool{true, false} { // current names first: they win over deprecated ones
		for _, d := range f.flags {
			if (d.replacedBy == "") != current || d.env == "" {
				continue
			}
			target := d.name
			if !current {
				target = d.replacedBy
			}
			if set[target] || fromEnv[target] {
				continue
			}
			v, ok := lookupEnv(getenv, d.env)
			if !ok {
				continue
			}
			if err := f.fs.Set(target, v); err != nil {
				return nil, usageError{fmt.Sprintf("environment variable %s: %v", d.env, err)}
			}
			fromEnv[target] = true
			if !current {
				f.warnings = append(f.warnings, fmt.Sprintf("%s is deprecated; use %s", d.env, f.envOf(target)))
			}
		}
	}
	return positional, nil
}

func (f *flagSet) names() []string {
	out := make([]string, 0, len(f.flags))
	for _, d := range f.flags {
		if d.replacedBy == "" {
			out = append(out, d.name)
		}
	}
	return out
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
	if c.Verbs != nil {
		fmt.Fprintln(w, "\nVerbs:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, v := range c.Verbs() {
			fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(v.Name+" "+v.Args), v.Summary)
		}
		tw.Flush()
	}
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

// run dispatches args (without the program name) and returns the process exit code: 0, 1 for a failure,
// 2 for a usage error (printed as one line naming the mistake and the help to read).
func run(ctx context.Context, sio stdio, args []string, getenv func(string) string) int {
	if len(args) == 0 {
		printOverview(sio.Stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		printOverview(sio.Stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(sio.Stderr, "logrouter: unknown command %q%s; run 'logrouter help' for the list\n", name, didYouMean(name, commandNames()))
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
		for _, w := range fs.warnings {
			fmt.Fprintf(sio.Stderr, "logrouter %s: warning: %s\n", name, w)
		}
	}
	if err == nil && c.Verbs != nil {
		if len(rest) == 1 && rest[0] == "help" && !hasVerb(c.Verbs(), "help") { // "logrouter configs help"
			printCommandHelp(sio.Stdout, c)
			return 0
		}
		err = checkVerb(name, c.Verbs(), rest)
	}
	if err == nil {
		err = runner(ctx, sio, rest)
	}
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(sio.Stderr, "logrouter %s: %s; run 'logrouter help %s'\n", name, strings.ReplaceAll(err.Error(), "\n", "; "), name)
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

// didYouMean returns " (did you mean X?)" naming the candidates closest to s (prefix, e.g. "--", is put
// before each), or "" when none is close: at most a third of s's length in edits (at least 1, at most 3),
// a transposition counting as one edit, or s a prefix of the candidate.
func didYouMean(s string, candidates []string, prefix ...string) string {
	p := strings.Join(prefix, "")
	limit := min(max(len(s)/3, 1), 3)
	best, bestD := []string(nil), limit+1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d > limit && len(s) >= 2 && strings.HasPrefix(c, s) {
			d = limit
		}
		switch {
		case d < bestD:
			best, bestD = []string{p + c}, d
		case d == bestD:
			best = append(best, p+c)
		}
	}
	if len(best) == 0 {
		return ""
	}
	sort.Strings(best)
	return " (did you mean " + strings.Join(best, " or ") + "?)"
}

// editDistance is the optimal-string-alignment distance: insertions, deletions, substitutions and
// transpositions of adjacent bytes each cost 1.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
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
