package tiering

import "github.com/stratalog/strata/tiering/coldfile"

// Row and Header are the cold file's row (package coldfile): the record
// decoding (convert.go) and the batch rebuilding (rebuild.go) speak them.
type (
	Row    = coldfile.Row
	Header = coldfile.Header
)
