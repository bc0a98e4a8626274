package iceberg

import (
	"encoding/json"
	"fmt"

	"github.com/apache/iceberg-go/table"
)

// jsonMetadata is the metadata file's bytes (Iceberg's table metadata JSON).
func jsonMetadata(md table.Metadata) ([]byte, error) {
	b, err := json.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("iceberg: encode metadata: %w", err)
	}
	return b, nil
}
