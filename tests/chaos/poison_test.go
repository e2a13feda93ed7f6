package chaos

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/sim"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// poison is a message the hub must dead-letter, with the code it must give.
type poison struct {
	kind, code string
	msg        kafka.Message
	secret     string // an identity number the dead letter must not quote
}

func poisonMessages(i int, good []byte) poison {
	key := "poison-" + strconv.Itoa(i)
	hdr := []protocol.Header{{Key: bus.HeaderSource, Value: []byte(testenv.HospitalA)}, {Key: "x-test-poison", Value: []byte(strconv.Itoa(i))}}
	rep := testenv.Report{Performer: testenv.HospitalA, ID: key, NID: testenv.NID(100000 + i), Name: "毒 测试"}
	var p poison
	switch i % 4 {
	case 0:
		p = poison{kind: "malformed JSON", code: "fhir.not_json", msg: kafka.Message{Value: good[:len(good)/2]}}
	case 1:
		v := bytes.Replace(rep.JSON(), []byte(`"resourceType":"Bundle"`), []byte(`"resourceType":"DiagnosticRequest"`), 1)
		p = poison{kind: "wrong resourceType", code: "fhir.resource_type", msg: kafka.Message{Value: v}}
	case 2:
		v := bytes.Replace(rep.JSON(), []byte(`"resourceType":"DiagnosticReport"`), []byte(`"reportNumber":"R-1","resourceType":"DiagnosticReport"`), 1)
		p = poison{kind: "unknown element", code: "fhir.unknown_element", msg: kafka.Message{Value: v}}
	case 3:
		nid := []byte(rep.NID)
		last := nid[len(nid)-1]
		if last == '0' {
			nid[len(nid)-1] = '1'
		} else {
			nid[len(nid)-1] = '0'
		}
		rep.NID = string(nid) // GB 11643 check digit wrong
		p = poison{kind: "bad resident ID", code: "identity.invalid_resident_id", msg: kafka.Message{Value: rep.JSON()}, secret: rep.NID}
	}
	p.msg.Key, p.msg.Headers = []byte(key), hdr
	return p
}

// TestPoisonMessagesAreDeadLetteredWithoutStalling interleaves 1% poison messages (malformed
// JSON, wrong resourceType, unknown element, invalid resident ID check digit) into a stream of
// valid ones (with the usual redeliveries and versions) and runs it through a hub process: every
// poison message is in mrhub.dlq.v1 with its reason in the headers and its original bytes, and
// every valid message after it on its partition is indexed.
func TestPoisonMessagesAreDeadLetteredWithoutStalling(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the poison process test in -short mode")
	}
	start := time.Now()
	const n = 3000
	good := toKafka(generate(t, 21, n, func(c *sim.Config) { c.Malformed = 0 }))
	rng := rand.New(rand.NewPCG(21, 1))
	var stream []kafka.Message
	poisons := map[string]poison{} // key -> poison
	for _, m := range good {
		stream = append(stream, m)
		if rng.IntN(100) == 0 {
			p := poisonMessages(len(poisons), m.Value)
			poisons[string(p.msg.Key)] = p
			stream = append(stream, p.msg)
		}
	}

	c := newCluster(t, 6)
	c.startHub(0)
	c.waitStable(2, 60*time.Second)
	w := writer(c.brokers())
	defer w.Close()
	ctx := context.Background()
	for lo := 0; lo < len(stream); lo += 500 {
		if _, err := publish(ctx, w, stream[lo:min(lo+500, len(stream))]); err != nil {
			t.Fatal(err)
		}
	}
	c.waitDrained(120 * time.Second) // every partition's offset reaches its end: nothing stalled

	ref := cleanPass(t, c.key, stream)
	for k, p := range poisons { // the profile agrees on what each poison message is
		if _, rej := ref.profile(p.msg); rej == nil || rej.Code != p.code {
			t.Fatalf("poison %s (%s): profile gives %+v, want code %s", k, p.kind, rej, p.code)
		}
	}
	published := readTopic(t, c.brokers(), config.TopicReports)
	dlq := readTopic(t, c.brokers(), config.TopicDLQ)
	acc := accountFor(t, ctx, c.pool, ref.profile, published, dlq)
	if acc.Lost != 0 || acc.DeadLettered != len(poisons) || acc.Published != len(stream) {
		t.Errorf("accounting %s; want %d dead-lettered, %d published, none lost", acc, len(poisons), len(stream))
	}
	if d := compareSnapshots(t, ref.snap, takeSnapshot(t, ctx, c.pool)); d > 0 {
		t.Errorf("%d reports differ from the clean pass", d)
	}

	// Each poison message's dead letter: reason, path of origin, original bytes and headers.
	srcOf := map[string]kafka.Message{}
	for _, m := range published {
		if _, ok := poisons[string(m.Key)]; ok {
			srcOf[string(m.Key)] = m
		}
	}
	byKind := map[string]int{}
	for _, d := range dlq {
		p, ok := poisons[string(d.Key)]
		if !ok {
			t.Errorf("unexpected dead letter %s: %s", bus.Header(d, bus.HeaderErrorCode), bus.Header(d, bus.HeaderErrorMessage))
			continue
		}
		src := srcOf[string(d.Key)]
		checks := map[string][2]string{
			bus.HeaderErrorCode:    {bus.Header(d, bus.HeaderErrorCode), p.code},
			bus.HeaderSourceTopic:  {bus.Header(d, bus.HeaderSourceTopic), config.TopicReports},
			bus.HeaderSourcePart:   {bus.Header(d, bus.HeaderSourcePart), strconv.Itoa(src.Partition)},
			bus.HeaderSourceOffset: {bus.Header(d, bus.HeaderSourceOffset), strconv.FormatInt(src.Offset, 10)},
			bus.HeaderSource:       {bus.Header(d, bus.HeaderSource), testenv.HospitalA},
			"x-test-poison":        {bus.Header(d, "x-test-poison"), bus.Header(p.msg, "x-test-poison")},
		}
		for h, v := range checks {
			if v[0] != v[1] {
				t.Errorf("dead letter of %s (%s): header %s = %q, want %q", d.Key, p.kind, h, v[0], v[1])
			}
		}
		msg := bus.Header(d, bus.HeaderErrorMessage)
		if msg == "" || bus.Header(d, bus.HeaderDeadLetteredAt) == "" {
			t.Errorf("dead letter of %s (%s): no error message or dead-lettered-at", d.Key, p.kind)
		}
		if p.secret != "" && strings.Contains(msg+bus.Header(d, bus.HeaderErrorPath), p.secret) {
			t.Errorf("dead letter of %s: message quotes an identity number: %s", d.Key, msg)
		}
		if !bytes.Equal(d.Value, p.msg.Value) {
			t.Errorf("dead letter of %s (%s): value is not the original bytes", d.Key, p.kind)
		}
		byKind[p.kind]++
	}
	// Good messages behind the first poison message of each partition were indexed (the account
	// above already found every one of them in the index).
	firstPoison := map[int]int64{}
	for _, m := range published {
		if _, ok := poisons[string(m.Key)]; ok {
			if f, seen := firstPoison[m.Partition]; !seen || m.Offset < f {
				firstPoison[m.Partition] = m.Offset
			}
		}
	}
	behind := 0
	for _, m := range published {
		if f, ok := firstPoison[m.Partition]; ok && m.Offset > f {
			if _, isPoison := poisons[string(m.Key)]; !isPoison {
				behind++
			}
		}
	}
	if len(firstPoison) < 3 || behind < n/4 {
		t.Errorf("poison spread over %d partitions with %d valid messages behind them: the test does not exercise stalling", len(firstPoison), behind)
	}
	if !maps.Equal(acc.DLQByCode, ref.rejected) {
		t.Errorf("dead letters by code %v, clean pass %v", acc.DLQByCode, ref.rejected)
	}
	fmt.Printf("poison: %d valid + %d poison messages (%v) over %d partitions: all poison dead-lettered with code, message, source position and original bytes; %d valid messages behind poison all indexed; %s; %s\n",
		n, len(poisons), byKind, len(firstPoison), behind, acc, time.Since(start).Round(time.Second))
}
