package main

import (
	"context"
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
						return usagef("unknown command %q", args[0])
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
