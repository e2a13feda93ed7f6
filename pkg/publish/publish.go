package publish

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/segmentio/kafka-go/protocol"
)

// Writer is the part of a kafka-go Writer publish needs.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Options configure a run.
type Options struct {
	Source   string // publishing institution code (header mrhub-source)
	MaxBytes int    // larger documents are refused locally (default 1 MiB, Kafka's default)
	Progress io.Writer
	// Decoder, when set, decodes each document as the hub does (the hub's FHIR decoder, in the
	// hub's zone): one the hub would dead-letter as invalid FHIR, or as holding no
	// DiagnosticReport, is refused locally with the hub's dead-letter code and path.
	Decoder *fhir.Decoder
}

// Item is one document found in the inputs.
type Item struct {
	Name   string // file, or file:line for NDJSON
	Value  []byte
	Key    string
	Reason string // non-empty: refused locally, with why
}

// Summary is what a run did.
type Summary struct {
	Sent, Refused int
	Bytes         int64
	Refusals      []Item
	Elapsed       time.Duration
}

// Collect expands paths (files and directories, recursively; *.json and *.ndjson) into items,
// checking each locally.
func Collect(paths []string, o Options) ([]Item, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".ndjson")) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	var items []Item
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			items = append(items, Item{Name: f, Reason: "cannot read: " + err.Error()})
			continue
		}
		if strings.HasSuffix(f, ".ndjson") {
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(make([]byte, 64<<10), 64<<20)
			line := 0
			for sc.Scan() {
				line++
				l := bytes.TrimSpace(sc.Bytes())
				if len(l) == 0 {
					continue
				}
				items = append(items, check(fmt.Sprintf("%s:%d", f, line), bytes.Clone(l), o))
			}
			if err := sc.Err(); err != nil {
				items = append(items, Item{Name: f, Reason: "reading NDJSON: " + err.Error()})
			}
			continue
		}
		items = append(items, check(f, b, o))
	}
	return items, nil
}

type head struct {
	ResourceType string          `json:"resourceType"`
	ID           string          `json:"id"`
	Identifier   json.RawMessage `json:"identifier"` // an array in DiagnosticReport, an object in Bundle
	Entry        []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

func check(name string, b []byte, o Options) Item {
	it := Item{Name: name, Value: b}
	if len(b) > o.MaxBytes {
		it.Reason = fmt.Sprintf("too big: %d bytes, limit %d (Kafka's message size): send presentedForm by URL", len(b), o.MaxBytes)
		return it
	}
	var h head
	if err := json.Unmarshal(b, &h); err != nil {
		it.Reason = "not JSON: " + err.Error()
		return it
	}
	switch h.ResourceType {
	case "":
		it.Reason = "not FHIR: no resourceType"
		return it
	case "Bundle", "DiagnosticReport":
	default:
		it.Reason = fmt.Sprintf("not a report: resourceType %s (publish a Bundle or a DiagnosticReport)", h.ResourceType)
		return it
	}
	if o.Decoder != nil {
		if _, err := o.Decoder.ParseMessage(b); err != nil {
			var fe *fhir.Error
			if errors.As(err, &fe) {
				it.Reason = "the hub would dead-letter it: " + fe.Code + ": " + fe.Error()
			} else {
				it.Reason = "the hub would dead-letter it: " + err.Error()
			}
			return it
		}
	}
	it.Key = o.Source + "|" + reportKey(h)
	return it
}

// reportKey is the first report identifier found (or the resource id) for the message key.
func reportKey(h head) string {
	if h.ResourceType == "DiagnosticReport" {
		var ids []struct{ System, Value string }
		if json.Unmarshal(h.Identifier, &ids) == nil && len(ids) > 0 {
			return ids[0].System + "|" + ids[0].Value
		}
		return h.ID
	}
	for _, e := range h.Entry {
		var inner head
		if json.Unmarshal(e.Resource, &inner) == nil && (inner.ResourceType == "DiagnosticReport" || inner.ResourceType == "Bundle") {
			if k := reportKey(inner); k != "" {
				return k
			}
		}
	}
	return h.ID
}

// Send publishes the accepted items and reports progress.
func Send(ctx context.Context, w Writer, items []Item, o Options) (*Summary, error) {
	start := time.Now()
	s := &Summary{}
	var batch []kafka.Message
	var total int
	for _, it := range items {
		if it.Reason == "" {
			total++
		}
	}
	bar := newProgress(o.Progress, total)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("publishing: %w", err)
		}
		s.Sent += len(batch)
		bar.update(s.Sent, s.Bytes)
		batch = batch[:0]
		return nil
	}
	for _, it := range items {
		if it.Reason != "" {
			s.Refused++
			s.Refusals = append(s.Refusals, it)
			continue
		}
		batch = append(batch, kafka.Message{Key: []byte(it.Key), Value: it.Value,
			Headers: []protocol.Header{{Key: "mrhub-source", Value: []byte(o.Source)}}})
		s.Bytes += int64(len(it.Value))
		if len(batch) >= 200 {
			if err := flush(); err != nil {
				return s, err
			}
		}
	}
	if err := flush(); err != nil {
		return s, err
	}
	bar.done(s.Sent, s.Bytes)
	s.Elapsed = time.Since(start)
	return s, nil
}

// Print writes the summary.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "sent %d, refused %d (%.1f MB in %v)\n", s.Sent, s.Refused, float64(s.Bytes)/1e6, s.Elapsed.Round(time.Millisecond))
	for _, r := range s.Refusals {
		fmt.Fprintf(w, "refused %s: %s\n", r.Name, r.Reason)
	}
}
