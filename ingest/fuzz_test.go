package ingest

import (
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
