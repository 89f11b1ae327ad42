package main

import (
	"context"
	"fmt"
)

func init() {
	register(&command{
		Name:    "help",
		Summary: "list the commands, or document one command's flags and environment variables",
		Args:    "[COMMAND]",
		Setup: func(fs *flagSet) runFunc {
			return func(_ context.Context, sio stdio, args []string) error {
				switch len(args) {
				case 0:
					printOverview(sio.Stdout)
					return nil
				case 1:
					c, ok := commands[args[0]]
					if !ok {
						fmt.Fprintf(sio.Stderr, "logrouter help: unknown command %q%s\n\n", args[0], didYouMean(args[0], commandNames()))
						printOverview(sio.Stderr)
						return exitCodeError{code: 2}
					}
					printCommandHelp(sio.Stdout, c)
					return nil
				default:
					return usagef("help takes at most one command name, got %d", len(args))
				}
			}
		},
	})
}
