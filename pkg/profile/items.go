package profile

import "github.com/mrhub/mrhub/pkg/catalog"

// ItemSystem is the code system of the region's catalogue item codes (互认项目目录): a coding
// {system: ItemSystem, code: "JY001"} names catalogue item JY001 directly.
const ItemSystem = "http://mrhub.example/CodeSystem/item"

// Coding is a code system and code.
type Coding struct{ System, Code string }

// MapItem maps the codings of one code (a report's code, an order's code) of institution to a
// catalogue item the way Report maps a DiagnosticReport's code: the first coding, in order, that
// the catalogue maps for institution (its own code map, then a standard code; catalog.MapCode)
// wins. A coding in ItemSystem names the item itself. It returns the item and the index of the
// coding that mapped, or nil and -1.
func MapItem(cat *catalog.Catalog, institution string, codings []Coding) (*catalog.Item, int) {
	for i, c := range codings {
		if c.System == ItemSystem {
			if it, ok := cat.Item(c.Code); ok {
				return it, i
			}
			continue
		}
		if it, ok := cat.MapCode(institution, c.System, c.Code); ok {
			return it, i
		}
	}
	return nil, -1
}
