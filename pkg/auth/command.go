package auth

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// Command runs `mrhub token <create|revoke|list> …` against db, writing to stdout.
func Command(ctx context.Context, db DB, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: mrhub token create|revoke|list [flags]")
	}
	switch args[0] {
	case "create":
		return CreateCommand(ctx, db, args[1:], stdout)
	case "revoke":
		return RevokeCommand(ctx, db, args[1:], stdout)
	case "list":
		return ListCommand(ctx, db, args[1:], stdout)
	}
	return fmt.Errorf("unknown token subcommand %q: want create, revoke or list", args[0])
}

// CreateCommand runs `mrhub token create --role R --org CODE [--ttl 2160h] [--label L]`. It prints
// a description line, then the token alone on the last line.
func CreateCommand(ctx context.Context, db DB, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stdout)
	role := fs.String("role", "", "his|clinician|bureau|admin")
	org := fs.String("org", "", "institution code (USCC or region code); bureau: district code")
	ttl := fs.Duration("ttl", DefaultTTL, "lifetime, e.g. 720h")
	label := fs.String("label", "", "free-text label (who holds it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token create: unexpected arguments %v", fs.Args())
	}
	tok, t, err := CreateToken(ctx, db, *role, *org, *ttl, *label)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token id=%d role=%s org=%s expires=%s (shown once; store it now)\n", t.ID, t.Role, t.Org, t.ExpiresAt.UTC().Format(time.RFC3339))
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// RevokeCommand runs `mrhub token revoke --id N` (or `mrhub token revoke N`).
func RevokeCommand(ctx context.Context, db DB, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	fs.SetOutput(stdout)
	id := fs.Int64("id", 0, "token id (see `mrhub token list`)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == 0 && fs.NArg() == 1 {
		n, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil {
			return fmt.Errorf("token revoke: %q is not a token id", fs.Arg(0))
		}
		*id = n
	}
	if *id == 0 {
		return errors.New("token revoke: --id is required")
	}
	if err := Revoke(ctx, db, *id); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "token %d revoked\n", *id)
	return err
}

// ListCommand runs `mrhub token list`.
func ListCommand(ctx context.Context, db DB, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token list", flag.ContinueOnError)
	fs.SetOutput(stdout)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token list: unexpected arguments %v", fs.Args())
	}
	ts, err := List(ctx, db)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tORG\tEXPIRES\tREVOKED\tLABEL")
	for _, t := range ts {
		rev := "-"
		if t.RevokedAt != nil {
			rev = t.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.Org, t.ExpiresAt.UTC().Format(time.RFC3339), rev, t.Label)
	}
	return tw.Flush()
}
