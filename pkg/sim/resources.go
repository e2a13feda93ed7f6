package sim

// Minimal FHIR R4 JSON shapes for what the generator writes. Only real R4 elements; every
// optional field is omitempty because FHIR JSON forbids empty strings, arrays and objects.

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	Use    string           `json:"use,omitempty"`
	Type   *codeableConcept `json:"type,omitempty"`
	System string           `json:"system,omitempty"`
	Value  string           `json:"value,omitempty"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type meta struct {
	VersionID   string `json:"versionId,omitempty"`
	LastUpdated string `json:"lastUpdated,omitempty"`
}

type extension struct {
	URL         string `json:"url"`
	ValueString string `json:"valueString"`
}

type quantity struct {
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
	System string  `json:"system,omitempty"`
	Code   string  `json:"code,omitempty"`
}

type referenceRange struct {
	Low  *quantity `json:"low,omitempty"`
	High *quantity `json:"high,omitempty"`
}

type humanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

type contactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Use    string `json:"use,omitempty"`
}

type patientRes struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id,omitempty"`
	Identifier   []identifier   `json:"identifier,omitempty"`
	Name         []humanName    `json:"name,omitempty"`
	Telecom      []contactPoint `json:"telecom,omitempty"`
	Gender       string         `json:"gender,omitempty"`
	BirthDate    string         `json:"birthDate,omitempty"`
}

type organizationRes struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id,omitempty"`
	Identifier   []identifier `json:"identifier,omitempty"`
	Name         string       `json:"name,omitempty"`
}

type observationRes struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id,omitempty"`
	Status            string            `json:"status"`
	Category          []codeableConcept `json:"category,omitempty"`
	Code              codeableConcept   `json:"code"`
	Subject           *reference        `json:"subject,omitempty"`
	EffectiveDateTime string            `json:"effectiveDateTime,omitempty"`
	Issued            string            `json:"issued,omitempty"`
	Performer         []reference       `json:"performer,omitempty"`
	ValueQuantity     *quantity         `json:"valueQuantity,omitempty"`
	Interpretation    []codeableConcept `json:"interpretation,omitempty"`
	ReferenceRange    []referenceRange  `json:"referenceRange,omitempty"`
}

type imagingStudyRes struct {
	ResourceType      string       `json:"resourceType"`
	ID                string       `json:"id,omitempty"`
	Identifier        []identifier `json:"identifier,omitempty"`
	Status            string       `json:"status"`
	Modality          []coding     `json:"modality,omitempty"`
	Subject           reference    `json:"subject"`
	Started           string       `json:"started,omitempty"`
	NumberOfSeries    int          `json:"numberOfSeries,omitempty"`
	NumberOfInstances int          `json:"numberOfInstances,omitempty"`
	Description       string       `json:"description,omitempty"`
}

type diagnosticReportRes struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id,omitempty"`
	Meta              *meta             `json:"meta,omitempty"`
	Contained         []any             `json:"contained,omitempty"`
	Extension         []extension       `json:"extension,omitempty"`
	Identifier        []identifier      `json:"identifier,omitempty"`
	Status            string            `json:"status"`
	Category          []codeableConcept `json:"category,omitempty"`
	Code              codeableConcept   `json:"code"`
	Subject           *reference        `json:"subject,omitempty"`
	EffectiveDateTime string            `json:"effectiveDateTime,omitempty"`
	Issued            string            `json:"issued,omitempty"`
	Performer         []reference       `json:"performer,omitempty"`
	Result            []reference       `json:"result,omitempty"`
	ImagingStudy      []reference       `json:"imagingStudy,omitempty"`
	Conclusion        string            `json:"conclusion,omitempty"`
}

type bundleRes struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Type         string        `json:"type"`
	Timestamp    string        `json:"timestamp,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleEntry struct {
	FullURL  string         `json:"fullUrl,omitempty"`
	Resource any            `json:"resource,omitempty"`
	Request  *bundleRequest `json:"request,omitempty"`
}

type bundleRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}
