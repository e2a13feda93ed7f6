package seeds

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/mrhub/mrhub/pkg/catalog"
)

//go:generate go run gen.go

//go:embed region.json
var regionJSON []byte

// RegionJSON returns the embedded region.json bytes.
func RegionJSON() []byte { return bytes.Clone(regionJSON) }

// Region decodes and validates the embedded demo region. Every call returns a fresh copy.
func Region() (*catalog.Region, error) {
	var r catalog.Region
	dec := json.NewDecoder(bytes.NewReader(regionJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding seeds/region.json: %w", err)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("seeds/region.json: %w", err)
	}
	return &r, nil
}
