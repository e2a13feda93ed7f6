package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/replay"
)

func runReindex(ctx context.Context, args []string) error {
	var fromOffset int64
	var fromTime string
	var republish bool
	cfg, _, err := loadConfig("reindex", args, func(fs *flag.FlagSet) {
		fs.Int64Var(&fromOffset, "from-offset", kafka.FirstOffset, "offset to start from in every partition (-2 = the beginning)")
		fs.StringVar(&fromTime, "from-time", "", "start at the first message at or after this RFC 3339 time instead")
		fs.BoolVar(&republish, "republish", false, "afterwards queue a fresh mrhub.index.v1 event for every report (rebuild the index topic)")
	})
	if err != nil {
		return err
	}
	o := replay.RunOptions{Options: replay.Options{Brokers: cfg.KafkaBrokers, Topic: cfg.TopicReports, FromOffset: fromOffset},
		Republish: republish, Progress: os.Stdout}
	if fromTime != "" {
		if o.FromTime, err = time.Parse(time.RFC3339, fromTime); err != nil {
			return fmt.Errorf("--from-time: %w", err)
		}
	}
	h, err := openHub(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	return replay.Run(ctx, h, o)
}

// runOnStoredReports runs one of the commands that rework the stored reports (rehash, refile):
// it loads the command's configuration, opens the hub, and gives fn the hub and a progress
// printer that writes at most every two seconds, prefixed with the time since the start.
func runOnStoredReports(ctx context.Context, name string, args []string, fn func(h *hub.Hub, progress func(format string, a ...any)) error) error {
	cfg, _, err := loadConfig(name, args, nil)
	if err != nil {
		return err
	}
	h, err := openHub(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	start := time.Now()
	last := start
	return fn(h, func(format string, a ...any) {
		if time.Since(last) >= 2*time.Second {
			last = time.Now()
			fmt.Printf("%6.1fs  "+format+"\n", append([]any{time.Since(start).Seconds()}, a...)...)
		}
	})
}

func runRehash(ctx context.Context, args []string) error {
	start := time.Now()
	return runOnStoredReports(ctx, "rehash", args, func(h *hub.Hub, progress func(string, ...any)) error {
		st, err := profile.Rehash(ctx, h.Pool, h.Decoder, func(st profile.RehashStats) {
			progress("%d reports read, %d rehashed", st.Reports, st.Rehashed)
		})
		if err != nil {
			return fmt.Errorf("rehash: %w", err)
		}
		fmt.Printf("rehash: %d reports read in %s: %d rehashed, %d unchanged, %d withdrawn kept as they were\n",
			st.Reports, time.Since(start).Round(time.Millisecond), st.Rehashed, st.Unchanged, st.Skipped)
		return nil
	})
}

func runRefile(ctx context.Context, args []string) error {
	start := time.Now()
	return runOnStoredReports(ctx, "refile", args, func(h *hub.Hub, progress func(string, ...any)) error {
		st, err := profile.Refile(ctx, h.Pool, h.Decoder, h.Profiler(), h.Store, func(st profile.RefileStats) {
			progress("%d report versions read", st.Versions)
		})
		if err != nil {
			return fmt.Errorf("refile: %w", err)
		}
		fmt.Printf("refile: %d report versions read in %s: %d MRNs re-filed under their issuer, %d no longer filed (assigner outside the region), %d patients linked, %d conflicts opened for review\n",
			st.Versions, time.Since(start).Round(time.Millisecond), st.Moved, st.Dropped, st.Linked, st.Conflicts)
		if st.NoSubject > 0 || st.Ambiguous > 0 {
			fmt.Printf("refile: %d versions keep their patient in another entry of the message and %d MRNs were filed as one for several issuers: the stored data cannot tell their issuers; rebuild the index with `mrhub reindex` into a new database (docs/operations.md)\n",
				st.NoSubject, st.Ambiguous)
		}
		return nil
	})
}

func runReview(ctx context.Context, args []string) error {
	if err := groupUsage("review", args); err != nil {
		return err
	}
	var status, by string
	nargs := 1 // accept ID, reject ID
	if args[0] == "list" {
		nargs = 0
	}
	cfg, fs, err := loadConfigArgs("review "+args[0], args[1:], nargs, func(fs *flag.FlagSet) {
		fs.StringVar(&status, "status", "open", "which reviews to list (open, accepted, rejected, all)")
		fs.StringVar(&by, "by", os.Getenv("USER"), "who decides (recorded with the decision)")
	})
	if err != nil {
		return err
	}
	var id int64
	if nargs == 1 {
		if id, err = strconv.ParseInt(fs.Arg(0), 10, 64); err != nil {
			return fmt.Errorf("review id %q: want the number `mrhub review list` shows", fs.Arg(0))
		}
	}
	switch status {
	case "open", "accepted", "rejected", "all":
	default:
		return fmt.Errorf("--status %q: want open, accepted, rejected or all", status)
	}
	h, err := openHub(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	switch args[0] {
	case "list":
		if status == "all" {
			status = ""
		}
		rs, err := h.Store.Reviews(ctx, status, 1000)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tSTATUS\tPATIENT A\tIDENTIFIERS A\tPATIENT B\tIDENTIFIERS B\tREASON\tOPENED")
		for _, r := range rs {
			fmt.Fprintf(w, "%d\t%s\tp%d\t%s\tp%d\t%s\t%s\t%s\n", r.ID, r.Status, r.PatientA, strings.Join(r.MaskedA, ", "),
				r.PatientB, strings.Join(r.MaskedB, ", "), r.Reason, r.CreatedAt.Format(time.RFC3339))
		}
		return w.Flush()
	default: // accept, reject
		if by == "" {
			by = "cli"
		}
		if err := h.Store.DecideReview(ctx, id, args[0] == "accept", by); err != nil {
			return err
		}
		fmt.Printf("review %d %sed\n", id, args[0])
		return nil
	}
}

// openHub opens the hub of cfg for an administrative command, with its logger; a database it
// cannot reach is explained.
func openHub(ctx context.Context, cfg config.Config) (*hub.Hub, error) {
	log, err := newLogger(cfg)
	if err != nil {
		return nil, err
	}
	h, err := hub.Open(ctx, cfg, log)
	if err != nil {
		return nil, explainDB(err)
	}
	return h, nil
}
