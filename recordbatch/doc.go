// Package recordbatch is the one home of Kafka's RecordBatch v2 format (magic
// 2), the bytes producers send, the hot log stores and fetches return.
//
// recordbatch owns
//   - the 61-byte header: Header, ParseHeader and Put, the attribute bits
//     (compression codec, timestamp type, transactional, control) and the byte
//     offsets of every field, which no other package writes down;
//   - checking: CheckFrame (what a reader of stored bytes needs before it
//     trusts a header), Checksum (CRC-32C), Frame (framing only), Check (a
//     whole batch but its records) and Validate (everything a broker checks
//     on produce, compressed records included);
//   - bounded decompression of the four codecs (Decompress): a batch never
//     decompresses to more than the caller's limit, however it is forged;
//   - the records inside a batch: Records iterates them (checking lengths,
//     offset deltas and the count), AppendRecord and AppendBatch build them;
//   - StampLogAppendTime (message.timestamp.type=LogAppendTime) and control
//     records (transaction commit and abort markers).
//
// It knows nothing of files, requests, etcd or object stores and imports no
// other Strata package. The layout and what a reader must check are written
// down in docs/format/recordbatch.md; keep them in step with the code.
package recordbatch
