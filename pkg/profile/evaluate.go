package profile

import (
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/mrhub/mrhub/pkg/index"
)

// Evaluate is what the report consumer does with one message before the index sees it: the
// size limit (kafka.too_large), then fn (the FHIR decoder and the indexing profile: a
// Profiler's Func). A panic becomes the rejection internal.panic, and is returned as panicked so
// that the caller can log it. The consumer, POST /fhir/$validate and `mrhub check` (package
// verdict) all call it, so a verdict given before publishing is the one ingest gives the same
// bytes.
func Evaluate(fn func(kafka.Message) ([]*index.Entry, *Rejection), maxBytes int, m kafka.Message) (es []*index.Entry, rej *Rejection, panicked any) {
	defer func() {
		if p := recover(); p != nil { // a bug must not stall the partition; the message is kept in the DLQ
			es, panicked = nil, p
			rej = &Rejection{Code: "internal.panic", Message: fmt.Sprintf("the hub failed on this message (%v); report it to the hub operators", p)}
		}
	}()
	if len(m.Value) > maxBytes {
		return nil, &Rejection{Code: "kafka.too_large", Message: fmt.Sprintf("message is %d bytes; the hub accepts at most %d: send attachments (presentedForm) by URL instead of inline", len(m.Value), maxBytes)}, nil
	}
	es, rej = fn(m)
	return es, rej, nil
}
