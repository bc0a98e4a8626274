package iceberg

import (
	"encoding/binary"
	"fmt"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/stratalog/strata/tiering/coldfile"
)

// Field ids of the table schema. They are the Parquet field ids the cold
// file format writes (coldfile.Row's id(n) tags, docs/format/parquet.md):
// an engine maps the Parquet columns by them, never by name.
const (
	FieldOffset          = 1
	FieldTimestamp       = 2
	FieldKey             = 3
	FieldValue           = 4
	FieldHeaders         = 5
	FieldProducerID      = 6
	FieldProducerEpoch   = 7
	FieldSequence        = 8
	FieldIsTransactional = 9
	FieldIsControl       = 10
	FieldAborted         = 11
	FieldPartition       = 12
	FieldLeaderEpoch     = 13
	FieldTimestampType   = 14
	FieldHeaderElement   = 15
	FieldHeaderKey       = 16
	FieldHeaderValue     = 17

	// PartitionFieldID is the id of the partition spec's one field
	// (identity of `partition`); Iceberg numbers partition fields from 1000.
	PartitionFieldID = 1000
)

// Schema is the table schema: one row per record, as the cold file holds it.
func Schema() *ice.Schema {
	p := ice.PrimitiveTypes
	return ice.NewSchemaWithIdentifiers(0, []int{FieldPartition, FieldOffset},
		ice.NestedField{ID: FieldOffset, Name: coldfile.ColOffset, Type: p.Int64, Required: true,
			Doc: "Kafka offset of the record in its partition"},
		ice.NestedField{ID: FieldTimestamp, Name: coldfile.ColTimestamp, Type: p.TimestampTz, Required: true,
			Doc: "record timestamp (stored as Parquet TIMESTAMP(MILLIS, UTC)); CreateTime or, if timestamp_type = 1, the broker's LogAppendTime"},
		ice.NestedField{ID: FieldKey, Name: coldfile.ColKey, Type: p.Binary, Required: false,
			Doc: "record key; null when the producer sent none"},
		ice.NestedField{ID: FieldValue, Name: coldfile.ColValue, Type: p.Binary, Required: false,
			Doc: "record value; null for a tombstone"},
		ice.NestedField{ID: FieldHeaders, Name: coldfile.ColHeaders, Required: true,
			Type: &ice.ListType{ElementID: FieldHeaderElement, ElementRequired: true, Element: &ice.StructType{FieldList: []ice.NestedField{
				{ID: FieldHeaderKey, Name: "key", Type: p.String, Required: true, Doc: "header key"},
				{ID: FieldHeaderValue, Name: "value", Type: p.Binary, Required: false, Doc: "header value; null when sent as null"},
			}}},
			Doc: "record headers, in the order produced"},
		ice.NestedField{ID: FieldProducerID, Name: coldfile.ColProducerID, Type: p.Int64, Required: true,
			Doc: "idempotent/transactional producer id; -1 for a plain producer"},
		ice.NestedField{ID: FieldProducerEpoch, Name: coldfile.ColProducerEpoch, Type: p.Int32, Required: true,
			Doc: "producer epoch (Parquet INT(16)); -1 for a plain producer"},
		ice.NestedField{ID: FieldSequence, Name: coldfile.ColSequence, Type: p.Int32, Required: true,
			Doc: "producer sequence number of the record; -1 for a plain producer"},
		ice.NestedField{ID: FieldIsTransactional, Name: coldfile.ColIsTransactional, Type: p.Bool, Required: true,
			Doc: "the record was written in a transaction"},
		ice.NestedField{ID: FieldIsControl, Name: coldfile.ColIsControl, Type: p.Bool, Required: true,
			Doc: "a transaction marker (commit/abort control record), not data"},
		ice.NestedField{ID: FieldAborted, Name: coldfile.ColAborted, Type: p.Bool, Required: true,
			Doc: "the record belongs to an aborted transaction: read_committed readers skip it"},
		ice.NestedField{ID: FieldPartition, Name: coldfile.ColPartition, Type: p.Int32, Required: true,
			Doc: "Kafka partition of the topic (the table's partition column)"},
		ice.NestedField{ID: FieldLeaderEpoch, Name: coldfile.ColLeaderEpoch, Type: p.Int32, Required: true,
			Doc: "partition leader epoch of the record's batch"},
		ice.NestedField{ID: FieldTimestampType, Name: coldfile.ColTimestampType, Type: p.Int32, Required: true,
			Doc: "0 = CreateTime, 1 = LogAppendTime (Parquet INT(8))"},
	)
}

// Spec is the partition spec: identity on `partition`.
func Spec() ice.PartitionSpec {
	return ice.NewPartitionSpec(ice.PartitionField{SourceIDs: []int{FieldPartition}, FieldID: PartitionFieldID, Name: coldfile.ColPartition, Transform: ice.IdentityTransform{}})
}

// SortOrder is the files' row order: by offset (within a partition).
func SortOrder() (table.SortOrder, error) {
	return table.NewSortOrder(1, []table.SortField{
		{SourceIDs: []int{FieldOffset}, Transform: ice.IdentityTransform{}, Direction: table.SortASC, NullOrder: table.NullsFirst},
	})
}

// Table properties Strata sets (beside Iceberg's own).
const (
	PropTopic     = "strata.topic"
	PropTopicID   = "strata.topic.id"
	PropFormat    = "strata.format.version"
	PropManagedBy = "strata.managed-by"
)

func tableProperties(topic, topicID string) ice.Properties {
	return ice.Properties{
		PropTopic:     topic,
		PropTopicID:   topicID,
		PropFormat:    fmt.Sprint(coldfile.FormatVersion),
		PropManagedBy: "strata: derived from the tier manifest; writes from outside are refused",
		"comment":     fmt.Sprintf("Kafka topic %s, one row per record (Strata cold tier)", topic),
		// Strata deletes metadata files that fall out of the log.
		table.MetadataPreviousVersionsMaxKey:         "10",
		"write.metadata.delete-after-commit.enabled": "true",
		"write.parquet.compression-codec":            "zstd",
		"format-version":                             "2",
	}
}

// newMetadata is the metadata of an empty table. Unlike table.NewMetadata
// it keeps the schema's field ids (which must match the Parquet files').
func newMetadata(location, topic, topicID string, id [16]byte) (table.Metadata, error) {
	b, err := table.NewMetadataBuilder(2)
	if err != nil {
		return nil, err
	}
	so, err := SortOrder()
	if err != nil {
		return nil, err
	}
	spec := Spec()
	props := tableProperties(topic, topicID)
	delete(props, "format-version")
	steps := []func() error{
		func() error { return b.SetUUID(id) },
		func() error { return b.AddSchema(Schema()) },
		func() error { return b.SetCurrentSchemaID(-1) },
		func() error { return b.AddSortOrder(&so) },
		func() error { return b.SetDefaultSortOrderID(-1) },
		func() error { return b.AddPartitionSpec(&spec, true) },
		func() error { return b.SetDefaultSpecID(-1) },
		func() error { return b.SetLoc(location) },
		func() error { return b.SetProperties(props) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("iceberg: new table metadata: %w", err)
		}
	}
	return b.Build()
}

func le64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
func le32(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
