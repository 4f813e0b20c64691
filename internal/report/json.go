package report

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// renderJSON writes the report as indented JSON, the stored form that
// model.DecodeReport reads back. HTML escaping is off so repro commands
// with "&&" or ">" stay readable and pasteable.
func renderJSON(b *bytes.Buffer, r *model.Report) error {
	enc := json.NewEncoder(b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	return nil
}
