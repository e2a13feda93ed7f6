package fhir_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/fhir/fhirschema"
)

// sortKeys re-encodes a JSON document with every object's keys sorted, as publishers that
// marshal maps send it: resourceType then comes after entry, contained, code, … and the decoder
// has to look ahead for it.
func sortKeys(t *testing.T, data []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type outcome struct {
	Msg *fhir.Message
	Err error
}

func parseBoth(data []byte) (fast, slow outcome) {
	fhir.SetRescanFast(true)
	fast.Msg, fast.Err = fhir.ParseMessage(data)
	fhir.SetRescanFast(false)
	slow.Msg, slow.Err = fhir.ParseMessage(data)
	fhir.SetRescanFast(true)
	return fast, slow
}

// The look-ahead for a late resourceType skips already-validated values with skipValid, which
// only finds their ends. Every outcome — the message, or the error's code, path and text — must
// be the one the validating scanner gives: on the examples as published and with their keys
// sorted, and on sorted messages cut short or with a byte overwritten at many places.
func TestRescanFastChangesNoOutcome(t *testing.T) {
	inputs := map[string][]byte{}
	bench, err := os.ReadFile("testdata/bench-cbc-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	inputs["bench-cbc-bundle.json"] = bench
	if dir, err := sharedExamples(); err == nil {
		_ = filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() && strings.HasSuffix(p, ".json") {
				if b, err := os.ReadFile(p); err == nil {
					rel, _ := filepath.Rel(dir, p)
					inputs[rel] = b
				}
			}
			return nil
		})
	} else {
		t.Logf("shared FHIR examples not available (%v): checking the bench bundle only", err)
	}
	// A string with escaped quotes and backslashes right before its end, inside an entry that
	// comes before a late resourceType.
	tricky := bytes.Replace(sortKeys(t, bench), []byte(`"benchmark`), []byte(`"x\\\\\" \\\\\\\" \" \\\\ benchmark`), 1)
	inputs["tricky-escapes"] = tricky
	// Shapes the damaged examples do not reach: nesting at the depth limit before a late type,
	// escaped keys and types, types that are not non-empty strings, roots of other types.
	deep := strings.Repeat("[", 256) + strings.Repeat("]", 256)
	for i, s := range []string{
		`{"a":` + deep + `,"b":x,"resourceType":"Patient"}`,
		`{"a":` + deep + `,"resourceType":"Bundle","type":"collection"}`,
		`{"entry":[{"resource":{"a":` + deep + `,"resourceType":"Observation"}}],"resourceType":"Bundle","type":"collection"}`,
		`{"resource\u0054ype":"Bundle","type":"collection"}`,
		`{"id":"x","resourceType":"Diagnostic\u0052eport"}`,
		`{"id":"x","resourceType":"Bundle","resource\u0054ype":"Patient"}`,
		`{"id":"x","resource\u0054ype":"Patient","resourceType":"Bundle"}`,
		`{"id":"x","resourceType":""}`, `{"id":"x","resourceType":7}`, `{"id":"x","resourceType":null}`,
		`{"id":"x","resourceType":"Patient"}`, `{"id":"x","resourceType":"Nope"}`, `{"id":"x"}`, `{}`, `[]`, `"x"`,
		`{"id":"x\"","resourceType":"Bundle","type":"collection","entry":[{"resource":{"id":"y\\","resourceType":"DiagnosticReport"}}]}`,
		`{"id":"x","resourceType":"Bundle"} trailing`, `{"id":"x","resourceType":"Bundle"`, `{"id":tru,"resourceType":"Bundle"}`,
	} {
		inputs["shape-"+strconv.Itoa(i)] = []byte(s)
	}

	checked, sortedOK := 0, 0
	check := func(name string, data []byte) {
		fast, slow := parseBoth(data)
		checked++
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: outcome differs with the fast rescan:\n fast: %v\n slow: %v", name, fast.Err, slow.Err)
		}
	}
	for name, data := range inputs {
		check(name, data)
		sorted := sortKeys(t, data)
		if sorted == nil {
			continue
		}
		check(name+" (sorted)", sorted)
		if _, err := fhir.ParseMessage(sorted); err == nil {
			sortedOK++
		}
		// Damage the sorted message: cut it short, or overwrite one byte, at ~25 places.
		step := max(len(sorted)/25, 1)
		for at := 1; at < len(sorted); at += step {
			check(name+" (sorted, cut)", sorted[:at])
			for _, c := range []byte{'"', '}', '\\', 'x', 0x80} {
				bad := bytes.Clone(sorted)
				bad[at] = c
				check(name+" (sorted, overwritten)", bad)
			}
		}
	}
	if sortedOK == 0 {
		t.Fatal("no sorted message parsed: the fast path was never taken")
	}
	t.Logf("%d inputs compared (%d sorted messages accepted)", checked, sortedOK)
}

func sharedExamples() (string, error) {
	dir, err := fhirschema.SharedDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "examples"), nil
}
