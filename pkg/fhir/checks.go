package fhir

import (
	"encoding/json"
	"strconv"
)

func appendInt(b []byte, v int) []byte { return strconv.AppendInt(b, int64(v), 10) }

// checkReference: a Reference must carry at least one of reference,
// identifier or display (ref-1 and common sense); extensions alone are not
// a reference either.
func (d *decoder) checkReference(v *Reference) {
	if v.Reference == "" && v.Identifier == nil && v.Display == "" && v.ReferenceExt == nil && v.DisplayExt == nil {
		d.fail(CodeInvalid, "reference has none of reference, identifier or display")
	}
}

// checkPeriod: per-1, start SHALL be <= end (compared at their precision).
func (d *decoder) checkPeriod(v *Period) {
	if v.Start == "" || v.End == "" {
		return
	}
	if periodInverted(v.Start, v.End) {
		d.fail(CodeInvalid, "period start "+v.Start+" is after end "+v.End+" (per-1)")
	}
}

func periodInverted(start, end string) bool {
	s, _, err1 := ParseDateTime(start, nil)
	e, ep, err2 := ParseDateTime(end, nil)
	if err1 != nil || err2 != nil {
		return false
	}
	// Inverted when start's first instant is not before the end of end's period.
	return !s.Before(UpperBound(e, ep))
}

// checkContained: dom-2, contained resources cannot contain resources; and
// their ids must be unique within the container.
func (d *decoder) checkContained(rs []Resource) {
	if len(rs) == 0 {
		return
	}
	seen := make(map[string]bool, len(rs))
	for i, r := range rs {
		if hasContained(r) {
			d.pushContained(i)
			d.fail(CodeInvalid, "a contained resource cannot contain resources (dom-2)")
		}
		id := resourceID(r)
		if id == "" {
			continue
		}
		if seen[id] {
			d.pushContained(i)
			d.fail(CodeInvalid, "duplicate contained resource id \""+id+"\"")
		}
		seen[id] = true
	}
}

func (d *decoder) pushContained(i int) {
	d.push([]byte("contained"))
	d.pushIdx(i)
}

func hasContained(r Resource) bool {
	switch x := r.(type) {
	case *DiagnosticReport:
		return len(x.Contained) > 0
	case *Observation:
		return len(x.Contained) > 0
	case *ImagingStudy:
		return len(x.Contained) > 0
	case *Specimen:
		return len(x.Contained) > 0
	case *ServiceRequest:
		return len(x.Contained) > 0
	case *Patient:
		return len(x.Contained) > 0
	case *Organization:
		return len(x.Contained) > 0
	case *Practitioner:
		return len(x.Contained) > 0
	case *PractitionerRole:
		return len(x.Contained) > 0
	}
	return false
}

// resourceID returns the logical id of r ("" if none).
func resourceID(r Resource) string {
	switch x := r.(type) {
	case *Bundle:
		return x.ID
	case *DiagnosticReport:
		return x.ID
	case *Observation:
		return x.ID
	case *ImagingStudy:
		return x.ID
	case *Specimen:
		return x.ID
	case *ServiceRequest:
		return x.ID
	case *Patient:
		return x.ID
	case *Organization:
		return x.ID
	case *Practitioner:
		return x.ID
	case *PractitionerRole:
		return x.ID
	case *RawResource:
		return x.ID
	}
	return ""
}

// resourceMeta returns r's meta (nil if none or untyped).
func resourceMeta(r Resource) *Meta {
	switch x := r.(type) {
	case *Bundle:
		return x.Meta
	case *DiagnosticReport:
		return x.Meta
	case *Observation:
		return x.Meta
	case *ImagingStudy:
		return x.Meta
	case *Specimen:
		return x.Meta
	case *ServiceRequest:
		return x.Meta
	case *Patient:
		return x.Meta
	case *Organization:
		return x.Meta
	case *Practitioner:
		return x.Meta
	case *PractitionerRole:
		return x.Meta
	}
	return nil
}

// resourceIdentifiers returns r's business identifiers.
func resourceIdentifiers(r Resource) []Identifier {
	switch x := r.(type) {
	case *Bundle:
		if x.Identifier != nil {
			return []Identifier{*x.Identifier}
		}
	case *DiagnosticReport:
		return x.Identifier
	case *Observation:
		return x.Identifier
	case *ImagingStudy:
		return x.Identifier
	case *Specimen:
		return x.Identifier
	case *ServiceRequest:
		return x.Identifier
	case *Patient:
		return x.Identifier
	case *Organization:
		return x.Identifier
	case *Practitioner:
		return x.Identifier
	case *PractitionerRole:
		return x.Identifier
	}
	return nil
}

// containedOf returns r's contained resources.
func containedOf(r Resource) []Resource {
	switch x := r.(type) {
	case *DiagnosticReport:
		return x.Contained
	case *Observation:
		return x.Contained
	case *ImagingStudy:
		return x.Contained
	case *Specimen:
		return x.Contained
	case *ServiceRequest:
		return x.Contained
	case *Patient:
		return x.Contained
	case *Organization:
		return x.Contained
	case *Practitioner:
		return x.Contained
	case *PractitionerRole:
		return x.Contained
	}
	return nil
}

// rawOf returns the resource's JSON as received.
func rawOf(r Resource) []byte {
	if x, ok := r.(interface{ Raw() json.RawMessage }); ok {
		return x.Raw()
	}
	return nil
}
