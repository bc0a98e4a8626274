package ingest

import (
	"fmt"
	"reflect"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// unsupportedVersionResponse answers a request whose version we do not
// implement (but kmsg can still decode) with UNSUPPORTED_VERSION in every
// error field, shaped like the request: each topic and partition asked
// for gets its own error, as Kafka's error responses do.
func unsupportedVersionResponse(key, version int16, body []byte) (kmsg.Response, error) {
	req := kmsg.RequestForKey(key)
	if req == nil || version > req.MaxVersion() {
		return nil, fmt.Errorf("%s v%d is beyond any version we can decode", kmsg.NameForKey(key), version)
	}
	req.SetVersion(version)
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(version)
	if d, ok := resp.(interface{ Default() }); ok {
		d.Default()
	}
	mirrorWithError(reflect.ValueOf(req).Elem(), reflect.ValueOf(resp).Elem(), kerr.UnsupportedVersion.Code)
	return resp, nil
}

var int16Type = reflect.TypeOf(int16(0))

// keyedBy names the request field a response list answers when the two
// names differ.
var keyedBy = map[string]string{"Coordinators": "CoordinatorKeys"}

// setErrorAndKey fills an element answering one name: its error code and
// its first string field.
func setErrorAndKey(el reflect.Value, key string, code int16) {
	keyed := false
	for i := 0; i < el.NumField(); i++ {
		f, fv := el.Type().Field(i), el.Field(i)
		switch {
		case f.Name == "ErrorCode" && f.Type == int16Type:
			fv.SetInt(int64(code))
		case !keyed && f.Type.Kind() == reflect.String:
			fv.SetString(key)
			keyed = true
		}
	}
}

// mirrorWithError sets every ErrorCode field of dst to code and, for each
// slice of structs in dst whose name matches a slice in src, builds one
// element per src element, copying same-named identifying fields (topic,
// partition, ids) across.
func mirrorWithError(src, dst reflect.Value, code int16) {
	for i := 0; i < dst.NumField(); i++ {
		f := dst.Type().Field(i)
		if !f.IsExported() || f.Name == "Version" {
			continue
		}
		dv := dst.Field(i)
		if f.Name == "ErrorCode" && f.Type == int16Type {
			dv.SetInt(int64(code))
			continue
		}
		sv := src.FieldByName(f.Name)
		if alias, ok := keyedBy[f.Name]; ok && !sv.IsValid() {
			sv = src.FieldByName(alias)
		}
		if !sv.IsValid() {
			continue
		}
		switch {
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct &&
			sv.Kind() == reflect.Slice && sv.Type().Elem().Kind() == reflect.String:
			// Groups asked for by name (DescribeGroups, DeleteGroups,
			// FindCoordinator v4+): one answer per name, the name in
			// the element's first string field.
			out := reflect.MakeSlice(f.Type, sv.Len(), sv.Len())
			for j := 0; j < sv.Len(); j++ {
				el := out.Index(j)
				if d, ok := el.Addr().Interface().(interface{ Default() }); ok {
					d.Default()
				}
				setErrorAndKey(el, sv.Index(j).String(), code)
			}
			dv.Set(out)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct &&
			sv.Kind() == reflect.Slice && sv.Type().Elem().Kind() == reflect.Int32:
			// Partitions asked for by number (WriteTxnMarkers,
			// DescribeProducers): one answer per partition.
			out := reflect.MakeSlice(f.Type, sv.Len(), sv.Len())
			for j := 0; j < sv.Len(); j++ {
				el := out.Index(j)
				if d, ok := el.Addr().Interface().(interface{ Default() }); ok {
					d.Default()
				}
				if pf := el.FieldByName("Partition"); pf.IsValid() && pf.Kind() == reflect.Int32 {
					pf.SetInt(sv.Index(j).Int())
				}
				if ef := el.FieldByName("ErrorCode"); ef.IsValid() && ef.Type() == int16Type {
					ef.SetInt(int64(code))
				}
			}
			dv.Set(out)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct &&
			sv.Kind() == reflect.Slice && sv.Type().Elem().Kind() == reflect.Struct:
			out := reflect.MakeSlice(f.Type, sv.Len(), sv.Len())
			for j := 0; j < sv.Len(); j++ {
				if d, ok := out.Index(j).Addr().Interface().(interface{ Default() }); ok {
					d.Default()
				}
				mirrorWithError(sv.Index(j), out.Index(j), code)
			}
			dv.Set(out)
		case sv.Type() == f.Type && f.Type.Kind() != reflect.Slice && f.Type.Kind() != reflect.Struct:
			dv.Set(sv)
		case sv.Type() == f.Type && f.Type.Kind() == reflect.Array:
			dv.Set(sv)
		}
	}
}
