package fhir

// SetRescanFast turns skipValid in scanTop on or off and returns the previous setting.
func SetRescanFast(on bool) bool {
	old := rescanFast
	rescanFast = on
	return old
}
