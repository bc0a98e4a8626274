package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzDecodeRequest feeds arbitrary frames to the request decoder: it must
// never panic, and whatever it accepts must re-encode.
func FuzzDecodeRequest(f *testing.F) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	for _, k := range supportedKeys() {
		a := apis[k]
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(k)
			req.SetVersion(v)
			frame := formatter.AppendRequest(nil, req, 7)
			f.Add(frame[4:]) // without the size prefix
		}
		// One version too new for us, so the unsupported path is seeded.
		req := kmsg.RequestForKey(k)
		req.SetVersion(min(a.max+1, req.MaxVersion()))
		f.Add(formatter.AppendRequest(nil, req, 8)[4:])
	}
	f.Add([]byte{})
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, frame []byte) {
		d, err := decodeRequest(frame)
		if err != nil {
			return
		}
		if d.early != nil {
			d.early.SetVersion(d.respVersion)
			_ = frameResponse(d.hdr, d.early)
			return
		}
		_ = d.req.AppendTo(nil)
	})
}

func TestApiVersionsMatchesDispatch(t *testing.T) {
	resp := apiVersionsResponse(3, 0)
	if len(resp.ApiKeys) != len(apis) {
		t.Fatalf("advertised %d apis, implemented %d", len(resp.ApiKeys), len(apis))
	}
	for _, k := range resp.ApiKeys {
		a, ok := apis[k.ApiKey]
		if !ok || a.min != k.MinVersion || a.max != k.MaxVersion {
			t.Fatalf("api %d advertised %d..%d, implemented %+v", k.ApiKey, k.MinVersion, k.MaxVersion, a)
		}
		if req := kmsg.RequestForKey(k.ApiKey); req == nil || req.MaxVersion() < k.MaxVersion {
			t.Fatalf("api %d: advertised v%d beyond what kmsg can decode", k.ApiKey, k.MaxVersion)
		}
	}
}

// FuzzSASLFrames feeds an arbitrary byte stream to a connection of a
// listener that requires SASL, as a client would send it: handshakes of
// either version, authenticate requests, bare SASL frames, anything. No
// handler may panic, and the connection may end up authenticated only as
// a user whose password the stream carried.
func FuzzSASLFrames(f *testing.F) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	frames := func(reqs ...kmsg.Request) []byte {
		var out []byte
		for i, r := range reqs {
			out = formatter.AppendRequest(out, r, int32(i))
		}
		return out
	}
	bare := func(msg string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...) }
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	f.Add(frames(av, handshake(1, "PLAIN"), authenticate(2, "\x00alice\x00alice-secret"), metadata()))
	f.Add(frames(handshake(1, "PLAIN"), authenticate(1, "\x00alice\x00wrong")))
	f.Add(frames(handshake(1, "PLAIN"), authenticate(0, "broker-2\x00broker-2\x00broker-2-secret"), replicaFetch(2)))
	f.Add(append(frames(handshake(0, "PLAIN")), bare("\x00alice\x00alice-secret")...))
	f.Add(append(frames(handshake(0, "PLAIN")), bare("\x00al")...))
	f.Add(frames(authenticate(2, "\x00alice\x00alice-secret")))
	f.Add(frames(handshake(1, "OAUTHBEARER")))
	f.Add(frames(metadata()))
	f.Fuzz(func(t *testing.T, stream []byte) {
		fk := newFake()
		s := NewServer(Config{Logger: quiet, SASLMechanisms: []SASLMechanism{NewPlainMechanism(testUsers)}}, fk.backend(false))
		defer s.Close()
		a, b := net.Pipe()
		cc := &clientConn{s: s, conn: a, log: s.log, requireSASL: true, principal: Anonymous}
		done := make(chan struct{})
		go func() {
			defer close(done)
			go io.Copy(io.Discard, b) // the responses
			_, _ = b.Write(stream)
			b.Close()
		}()
		_ = cc.serve(context.Background())
		a.Close()
		<-done
		if n := counterValue(s.metrics.panics); n != 0 {
			t.Fatalf("%v handler panics", n)
		}
		if cc.principal != Anonymous {
			user := strings.TrimPrefix(cc.principal, "User:")
			if pw, ok := testUsers[user]; !ok || !bytes.Contains(stream, []byte(pw)) {
				t.Fatalf("authenticated as %s without its password in the stream", cc.principal)
			}
		}
		if fk.replicated > 0 && cc.principal != brokerPrincipal(2) {
			t.Fatalf("replica fetch served to %s", cc.principal)
		}
	})
}
