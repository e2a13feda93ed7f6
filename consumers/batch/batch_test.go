package batch_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mrhub/mrhub/consumers/batch"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// countingReader counts FetchMessage calls made after it was closed.
type countingReader struct {
	*kafka.Reader
	closed      atomic.Bool
	afterClose  atomic.Int64
	fetchErrors atomic.Int64
}

func (r *countingReader) FetchMessage(ctx context.Context) (kafka.Message, error) {
	if r.closed.Load() {
		r.afterClose.Add(1)
	}
	m, err := r.Reader.FetchMessage(ctx)
	if err != nil {
		r.fetchErrors.Add(1)
	}
	return m, err
}

// TestRunStopsFetchingWhenItReturns: a handler error ends Run, and the fetcher stops with it, so
// that closing the kafka-go reader afterwards (as the hub does) leaves nothing retrying on it. A
// closed kafka-go reader answers io.EOF, which Run retries for group readers (kafka-go also
// returns io.EOF from a failed group rejoin, and that one must not end the consumer).
func TestRunStopsFetchingWhenItReturns(t *testing.T) {
	b := testenv.Broker(t, 2)
	brokers := b.Addrs()
	values := make([][]byte, 20)
	for i := range values {
		values[i] = []byte(fmt.Sprintf(`{"n":%d}`, i))
	}
	testenv.Publish(t, brokers, config.TopicReports, testenv.HospitalA, func(i int) string { return fmt.Sprint(i) }, values...)

	kr, err := bus.NewReader(bus.ReaderConfig{Brokers: brokers, GroupID: "batch-test", Topic: config.TopicReports})
	if err != nil {
		t.Fatal(err)
	}
	r := &countingReader{Reader: kr}
	var retries atomic.Int64
	l := &batch.Loop{Reader: r, Size: 5, Wait: 50 * time.Millisecond,
		OnRetry: func(string, error, time.Duration) { retries.Add(1) }}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	boom := errors.New("handler failed")
	var got int
	err = l.Run(ctx, func(msgs []kafka.Message) error {
		got += len(msgs)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want the handler's error", err)
	}
	if got == 0 {
		t.Fatal("the handler saw no message")
	}
	r.closed.Store(true)
	if err := kr.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // longer than the first retry backoffs
	if n := r.afterClose.Load(); n != 0 {
		t.Errorf("%d fetches after Run returned and the reader was closed", n)
	}
	if n := retries.Load(); n != 0 {
		t.Errorf("%d fetch retries: the fetcher outlived Run", n)
	}
}
