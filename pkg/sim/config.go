package sim

import (
	"errors"
	"fmt"
	"time"
)

// Config controls a Generator. Start from DefaultConfig and override what you need: zero
// Patients, Start and MeanGap take their defaults, but zero mess rates mean no mess.
type Config struct {
	Seed     int64         // same seed, same region, same config: byte-identical stream
	Patients int           // size of the synthetic population (default 10,000)
	Start    time.Time     // clock of the first report (default 2026-01-05 08:00 China time)
	MeanGap  time.Duration // mean simulated time between two reports (default 60s)

	// Mess rates: the probability that a Next call emits this instead of a new report.
	Redeliver    float64 // exact copy of one of the last 64 messages
	Amend        float64 // a new version of a recent report, status amended, changed values
	Correct      float64 // same, status corrected
	Withdraw     float64 // a recent report withdrawn: status entered-in-error or cancelled
	OutOfOrder   float64 // two new versions of a recent report, the newer sent first
	CrossPublish float64 // a recent report re-published by another member of its community
	Malformed    float64 // truncated JSON, wrong resourceType, missing subject, unknown element

	// MRNOnly is the share of (patient, institution) relations whose first report(s) carry
	// only the institution's MRN, no resident ID or insurance number; later reports do.
	MRNOnly float64

	// Decisions is the probability that a Next call emits a clinician's recognition decision
	// (topic mrhub.decisions.v1) instead of a report message, when a recognisable prior result
	// is available (see doc.go). 0 (the default) keeps the stream to reports only.
	Decisions float64
	// TargetRate is the recognition rate the decisions aim at: recognised ÷ (recognised +
	// declined with a counting reason), over the region (default 0.80; 0 means the default).
	TargetRate float64
	// Revoke is the probability that a decision is revoked a few messages later.
	Revoke float64

	// Now, when set, is the wall clock: the simulated clock never runs past it (once it has
	// caught up from Start, it follows real time), so no report or decision is dated in the
	// future. Leave nil for a stream that depends on the seed and config only.
	Now func() time.Time
}

// DefaultConfig returns the defaults: 10,000 patients from 2026-01-05 08:00 China time, a report
// every 60 simulated seconds on average, and modest mess.
func DefaultConfig() Config {
	return Config{
		Seed:         1,
		Patients:     10000,
		Start:        time.Date(2026, 1, 5, 8, 0, 0, 0, chinaTime),
		MeanGap:      60 * time.Second,
		Redeliver:    0.02,
		Amend:        0.02,
		Correct:      0.01,
		Withdraw:     0.005,
		OutOfOrder:   0.01,
		CrossPublish: 0.02,
		Malformed:    0.005,
		MRNOnly:      0.10,
		TargetRate:   0.80,
		Revoke:       0.01,
	}
}

func (c *Config) applyDefaults() {
	d := DefaultConfig()
	if c.Patients == 0 {
		c.Patients = d.Patients
	}
	if c.Start.IsZero() {
		c.Start = d.Start
	}
	if c.MeanGap == 0 {
		c.MeanGap = d.MeanGap
	}
	if c.TargetRate == 0 {
		c.TargetRate = d.TargetRate
	}
}

// Validate checks the config after defaults: a positive population and gap, rates in [0, 1],
// and per-message mess rates summing to at most 1.
func (c Config) Validate() error {
	c.applyDefaults()
	var errs []error
	if c.Patients < 1 || c.Patients > 10_000_000 {
		errs = append(errs, fmt.Errorf("sim: Patients %d must be in 1..10,000,000", c.Patients))
	}
	if c.MeanGap < 0 {
		errs = append(errs, fmt.Errorf("sim: MeanGap %s must be positive", c.MeanGap))
	}
	sum := 0.0
	for _, r := range []struct {
		name string
		v    float64
	}{{"Redeliver", c.Redeliver}, {"Amend", c.Amend}, {"Correct", c.Correct}, {"Withdraw", c.Withdraw},
		{"OutOfOrder", c.OutOfOrder}, {"CrossPublish", c.CrossPublish}, {"Malformed", c.Malformed},
		{"MRNOnly", c.MRNOnly}, {"Decisions", c.Decisions}, {"TargetRate", c.TargetRate}, {"Revoke", c.Revoke}} {
		if !(r.v >= 0 && r.v <= 1) {
			errs = append(errs, fmt.Errorf("sim: %s rate %v must be in [0, 1]", r.name, r.v))
		}
		switch r.name {
		case "MRNOnly", "Decisions", "TargetRate", "Revoke":
		default:
			sum += r.v
		}
	}
	if sum > 1 {
		errs = append(errs, fmt.Errorf("sim: mess rates sum to %v, must be at most 1", sum))
	}
	return errors.Join(errs...)
}
