// Package ingesttest speaks raw Kafka frames to a server in tests: one
// request out, its response decoded, and every error code of a response
// listed, so tests can check what a server answered (or that it closed the
// connection) without a client library's retries in between.
package ingesttest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Call sends req on c and reads its response within wait; an error means
// the server closed the connection or did not answer in time.
func Call(c net.Conn, req kmsg.Request, wait time.Duration) (kmsg.Response, error) {
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("ingesttest")).AppendRequest(nil, req, 1)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, fmt.Errorf("no answer within %s: %w", wait, err)
	}
	frame := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
	copy(frame, size[:])
	if _, err := io.ReadFull(c, frame[4:]); err != nil {
		return nil, err
	}
	return Decode(req, frame, req.GetVersion())
}

// Decode parses a framed response (size, correlation id, header tags) to
// req, answered at version (ApiVersions may answer an unsupported version
// with v0, KIP-511).
func Decode(req kmsg.Request, frame []byte, version int16) (kmsg.Response, error) {
	if len(frame) < 8 {
		return nil, errors.New("response frame shorter than its header")
	}
	resp := req.ResponseKind()
	resp.SetVersion(version)
	body := frame[8:]
	if resp.IsFlexible() && req.Key() != 18 { // ApiVersions keeps header v0
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %T: %w", resp, err)
	}
	return resp, nil
}

var int16Type = reflect.TypeOf(int16(0))

// ErrorCodes lists every ErrorCode field of resp, depth first in field
// order, so a table can state a whole response's errors in one line.
func ErrorCodes(resp kmsg.Response) []int16 {
	var out []int16
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			f, fv := v.Type().Field(i), v.Field(i)
			switch {
			case f.Name == "ErrorCode" && f.Type == int16Type:
				out = append(out, int16(fv.Int()))
			case fv.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				for j := 0; j < fv.Len(); j++ {
					walk(fv.Index(j))
				}
			}
		}
	}
	walk(reflect.ValueOf(resp).Elem())
	return out
}
