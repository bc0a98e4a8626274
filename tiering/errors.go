package tiering

import "github.com/stratalog/strata/tiering/coldfile"

// ErrCorrupt is wrapped by errors about bytes that do not decode: record
// batches of a segment, or a Parquet object (it is coldfile.ErrCorrupt).
var ErrCorrupt = coldfile.ErrCorrupt
