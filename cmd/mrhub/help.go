package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mrhub/mrhub/pkg/telemetry"
)

// subcommands are the subcommands of the commands that have them.
var subcommands = map[string][]string{
	"bench":  {"ingest", "query", "stats"},
	"review": {"list", "accept", "reject"},
	"token":  {"create", "list", "revoke"},
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// runHelp runs `mrhub help [command [subcommand]]`: the command list, or what `mrhub command
// [subcommand] -h` prints.
func runHelp(ctx context.Context, args []string) int {
	if len(args) == 0 || isHelp(args[0]) {
		usage(os.Stdout)
		return 0
	}
	if _, ok := commands[args[0]]; !ok {
		fmt.Fprintf(os.Stderr, "mrhub help: unknown command %q\n\n", args[0])
		usage(os.Stderr)
		return 2
	}
	if len(args) > 2 {
		fmt.Fprintf(os.Stderr, "mrhub help: want a command and at most one subcommand, got %q\n", args)
		return 2
	}
	return run(ctx, append(append([]string{}, args...), "-h"))
}

// groupUsage handles the first argument of a command with subcommands: with none it returns
// the usage as an error; when it asks for help it prints the usage and returns flag.ErrHelp;
// an unknown subcommand is an error. Otherwise it returns nil.
func groupUsage(name string, args []string) error {
	subs := subcommands[name]
	line := fmt.Sprintf("usage: mrhub %s %s [flags]", name, strings.Join(subs, "|"))
	if len(args) == 0 {
		return errors.New(line)
	}
	if isHelp(args[0]) {
		fmt.Printf("%s\n\n`mrhub %s <subcommand> -h` lists a subcommand's flags; `mrhub help` lists the commands.\n", line, name)
		return flag.ErrHelp
	}
	for _, s := range subs {
		if s == args[0] {
			return nil
		}
	}
	return fmt.Errorf("unknown subcommand %q (have: %s)\n%s", args[0], strings.Join(subs, ", "), line)
}

func runVersion(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("mrhub version", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: mrhub version\n\nPrints the module version, the commit and its time, and the Go version the binary was built with.")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return argCountError(fs, 0)
	}
	fmt.Print(telemetry.ReadBuild())
	return nil
}
