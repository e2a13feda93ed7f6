// Package fhirschema validates JSON documents against the official HL7 FHIR
// R4 JSON Schema, shipped in the repository's shared directory as
// ../shared/fhir/fhir-r4.schema.json (relative to the module root), or
// found at $MRHUB_FHIR_SCHEMA.
//
// The schema is patched in memory in one way only: "4.0.1" is added to
// every enum that lists "4.0.0" (its fhirVersion enums stop at 4.0.0). It is
// compiled once per process. It is meant for tests of what the hub serves:
// it checks unknown elements, enums, primitive formats, nulls and JSON types,
// not required primitives, invariants or references.
package fhirschema

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// EnvSchema names the environment variable that overrides the schema path.
const EnvSchema = "MRHUB_FHIR_SCHEMA"

const schemaURL = "http://hl7.org/fhir/json-schema/4.0"

// ErrNoSchema is returned (wrapped) when the schema file cannot be found.
var ErrNoSchema = errors.New("fhirschema: FHIR R4 schema file not found")

// ModuleRoot walks up from the working directory to the directory holding
// go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("fhirschema: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// SharedDir returns the repository's shared FHIR directory
// (<module root>/../shared/fhir), or an error wrapping ErrNoSchema if absent.
func SharedDir() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "..", "shared", "fhir")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoSchema, err)
	}
	return filepath.Clean(dir), nil
}

// SchemaPath returns $MRHUB_FHIR_SCHEMA if set, else
// <module root>/../shared/fhir/fhir-r4.schema.json.
func SchemaPath() (string, error) {
	if p := os.Getenv(EnvSchema); p != "" {
		return p, nil
	}
	dir, err := SharedDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "fhir-r4.schema.json"), nil
}

var (
	once     sync.Once
	compiled *jsonschema.Schema
	loadErr  error
)

// Load returns the compiled, patched R4 schema (compiled once).
func Load() (*jsonschema.Schema, error) {
	once.Do(func() { compiled, loadErr = load() })
	return compiled, loadErr
}

func load() (*jsonschema.Schema, error) {
	path, err := SchemaPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoSchema, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("fhirschema: parsing %s: %w", path, err)
	}
	patchVersions(doc)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft6)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("fhirschema: adding schema: %w", err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("fhirschema: compiling schema: %w", err)
	}
	return s, nil
}

// patchVersions adds "4.0.1" to every enum that contains "4.0.0".
func patchVersions(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if enum, ok := c.([]any); ok && k == "enum" {
				has0, has1 := false, false
				for _, e := range enum {
					has0 = has0 || e == "4.0.0"
					has1 = has1 || e == "4.0.1"
				}
				if has0 && !has1 {
					x[k] = append(enum, "4.0.1")
				}
				continue
			}
			patchVersions(c)
		}
	case []any:
		for _, c := range x {
			patchVersions(c)
		}
	}
}

// Validate validates a JSON document (a resource or Bundle) against the
// schema.
func Validate(doc []byte) error {
	s, err := Load()
	if err != nil {
		return err
	}
	return validate(s, doc)
}

func validate(s *jsonschema.Schema, doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("fhirschema: not JSON: %w", err)
	}
	return s.Validate(inst)
}

// Validator validates documents against the loaded schema.
type Validator struct{ s *jsonschema.Schema }

// Validate validates doc.
func (v *Validator) Validate(doc []byte) error { return validate(v.s, doc) }

// Require returns a Validator for tests, skipping the test (with the reason)
// when the schema file is absent and failing it when the schema does not
// compile.
func Require(t testing.TB) *Validator {
	t.Helper()
	s, err := Load()
	if errors.Is(err, ErrNoSchema) {
		t.Skipf("skipping: FHIR R4 schema not available (../shared/fhir/fhir-r4.schema.json or $%s): %v", EnvSchema, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &Validator{s: s}
}
