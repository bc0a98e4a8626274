package ingest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clientConn is one client connection. Requests are answered one at a
// time and in order, as Kafka does: a client that pipelines requests gets
// its responses in the order it sent them.
type clientConn struct {
	s        *Server
	conn     net.Conn
	log      *slog.Logger
	clientID string

	// Authentication (sasl.go): the listener's rule, where the exchange
	// is, and who the connection proved to be (Anonymous until then).
	requireSASL bool
	sasl        saslState
	exchange    SASLExchange
	mechName    string
	principal   string
	// sessionEnd is when the authenticated session expires (KIP-368);
	// zero: never. reauth is set while a re-authentication is under way.
	sessionEnd time.Time
	reauth     bool
	// listener is the name of the listener the client connected to,
	// host its IP address (ACL hosts).
	listener string
	host     string
	// apiKey is the request being answered (for the audit line).
	apiKey int16
	// closeAfter, set by a handler, closes the connection once its
	// response is sent (a failed authentication).
	closeAfter error
	// mutedUntil: a throttled client's next request is not read before
	// then (quotas.go).
	mutedUntil time.Time
}

// requestHeader is the Kafka request header (v1, or v2 when flexible).
type requestHeader struct {
	key           int16
	version       int16
	correlationID int32
	clientID      *string
}

var errFrameTooLarge = errors.New("request frame too large")

func (cc *clientConn) serve(ctx context.Context) error {
	r := bufio.NewReaderSize(cc.conn, 64<<10)
	w := bufio.NewWriterSize(cc.conn, 64<<10)
	var sizeBuf [4]byte
	idle := cc.s.cfg.ConnectionsMaxIdle
	for {
		if err := cc.waitMuted(ctx); err != nil {
			return err
		}
		// The next request must start within the idle time, and arrive
		// whole within as long again.
		if err := cc.conn.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
			return err
		}
		if err := cc.conn.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		raw := cc.sasl == saslRaw // a bare SASL token may be short: no header
		if (size < 8 && !raw) || size < 0 || size > cc.maxFrame() {
			return fmt.Errorf("%w: %d bytes", errFrameTooLarge, size)
		}
		frame, err := readFrame(r, int(size))
		if err != nil {
			return err
		}
		var resp []byte
		if raw {
			resp, err = cc.rawSASL(ctx, frame)
		} else {
			resp, err = cc.handleFrame(ctx, frame)
		}
		if err != nil {
			cc.s.metrics.badFrames.Inc()
			cc.log.Warn("closing connection after bad request", "err", err)
			return err
		}
		if resp == nil {
			continue // acks=0 produce: Kafka sends nothing back
		}
		// A client that stops reading its responses is as idle as one
		// that stops sending.
		if err := cc.conn.SetWriteDeadline(time.Now().Add(idle)); err != nil {
			return err
		}
		if _, err := w.Write(resp); err != nil {
			return err
		}
		if r.Buffered() == 0 || cc.closeAfter != nil { // flush unless more pipelined requests are already here
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if cc.closeAfter != nil {
			cc.log.Debug("closing connection after its response", "err", cc.closeAfter)
			return cc.closeAfter
		}
	}
}

// frameChunk is how much of a frame is allocated before its bytes arrive.
const frameChunk = 64 << 10

// readFrame reads a frame of size bytes. The buffer grows (doubling) with
// the bytes actually received instead of trusting the size up front, so a
// client that claims 100 MiB and sends little costs little.
func readFrame(r io.Reader, size int) ([]byte, error) {
	buf := make([]byte, 0, min(size, frameChunk))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(size-len(buf), len(buf)))
		}
		n, err := io.ReadFull(r, buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// errHandlerPanic is what a panicking handler leaves: its connection
// closes, the broker goes on.
var errHandlerPanic = errors.New("request handler panicked")

// handleFrame decodes one request frame and returns the framed response,
// nil for no response, or an error that closes the connection. A panic
// while answering is logged, counted and closes only this connection.
func (cc *clientConn) handleFrame(ctx context.Context, frame []byte) (_ []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			cc.s.metrics.panics.Inc()
			cc.log.Error("request handler panicked; closing its connection", "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", errHandlerPanic, v)
		}
	}()
	d, err := decodeRequest(frame)
	if err != nil {
		return nil, err
	}
	if d.hdr.clientID != nil {
		cc.clientID = *d.hdr.clientID
	}
	cc.apiKey = d.hdr.key
	if err := cc.admit(d.hdr.key); err != nil {
		return nil, err
	}
	start := time.Now()
	resp := d.early
	if resp == nil {
		if resp, err = apis[d.hdr.key].handle(ctx, cc, d.req); err != nil {
			return nil, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(d.hdr.key), d.hdr.version, err)
		}
	}
	handled := time.Since(start)
	cc.s.metrics.observe(d.hdr.key, handled)
	if resp == nil {
		return nil, nil
	}
	resp = cc.applyQuotas(d.hdr.key, d.req, resp, len(frame), handled)
	resp.SetVersion(d.respVersion)
	return frameResponse(d.hdr, resp), nil
}

// decodedRequest is a request frame taken apart: either a request for a
// handler, or an answer already decided (unsupported versions).
type decodedRequest struct {
	hdr         requestHeader
	req         kmsg.Request  // for the handler, when early is nil
	early       kmsg.Response // answer without calling a handler
	respVersion int16
}

// decodeRequest parses a frame (without its size prefix). Any error means
// the frame is malformed and the connection must close.
func decodeRequest(frame []byte) (decodedRequest, error) {
	hdr, body, err := parseRequestHeader(frame)
	if err != nil {
		return decodedRequest{}, err
	}
	d := decodedRequest{hdr: hdr, respVersion: hdr.version}
	api, known := apis[hdr.key]
	if !known {
		return d, fmt.Errorf("unknown api key %d", hdr.key)
	}
	switch {
	case hdr.key == apiVersionsKey && (hdr.version < api.min || hdr.version > api.max):
		// KIP-511: answer ApiVersions of any version with a v0 response
		// carrying UNSUPPORTED_VERSION and our ranges, so the client can
		// retry with a version we speak.
		d.early = apiVersionsResponse(0, kerr.UnsupportedVersion.Code)
		d.respVersion = 0
	case hdr.version < api.min || hdr.version > api.max:
		if d.early, err = unsupportedVersionResponse(hdr.key, hdr.version, body); err != nil {
			return d, err
		}
	default:
		d.req = kmsg.RequestForKey(hdr.key)
		d.req.SetVersion(hdr.version)
		if err := d.req.ReadFrom(body); err != nil {
			return d, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(hdr.key), hdr.version, err)
		}
	}
	return d, nil
}

func parseRequestHeader(frame []byte) (requestHeader, []byte, error) {
	r := kbin.Reader{Src: frame}
	h := requestHeader{key: r.Int16(), version: r.Int16(), correlationID: r.Int32()}
	h.clientID = r.NullableString()
	if !r.Ok() {
		return h, nil, errors.New("truncated request header")
	}
	if h.version < 0 {
		return h, nil, fmt.Errorf("negative api version %d", h.version)
	}
	if req := kmsg.RequestForKey(h.key); req != nil && h.version <= req.MaxVersion() {
		req.SetVersion(h.version)
		if req.IsFlexible() {
			kmsg.SkipTags(&r)
			if !r.Ok() {
				return h, nil, errors.New("truncated request header tags")
			}
		}
	}
	return h, r.Src, nil
}

// frameResponse prepends the size and the response header. ApiVersions
// always uses header v0 so that a client can parse it before it knows our
// versions; every other flexible response has header v1 (empty tags).
func frameResponse(hdr requestHeader, resp kmsg.Response) []byte {
	buf := make([]byte, 8, responseSizeHint(resp))
	binary.BigEndian.PutUint32(buf[4:], uint32(hdr.correlationID))
	if resp.IsFlexible() && hdr.key != apiVersionsKey {
		buf = append(buf, 0)
	}
	buf = resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf
}

// responseSizeHint guesses a response's encoded size so that framing
// allocates once: fetch responses are mostly their record batches, and
// growing a multi-megabyte buffer by doubling cost a quarter of the
// broker's CPU in benchmarks.
func responseSizeHint(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 256
	}
	n := 256
	for _, t := range f.Topics {
		n += 64 + len(t.Topic)
		for _, p := range t.Partitions {
			n += 96 + len(p.RecordBatches)
		}
	}
	return n
}
