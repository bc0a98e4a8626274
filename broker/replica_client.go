package broker

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// peerConn is a follower's connection to a leader: one Kafka request at a
// time, encoded with kmsg, as any client would send it. Each connection
// first authenticates as this broker (SASL PLAIN with the inter-broker
// credential, franz-go's mechanism): the leader serves replica fetches
// only to the broker they name.
type peerConn struct {
	addr string
	mech sasl.Mechanism
	tls  *tls.Config // nil: the inter-broker listener is plaintext

	mu   sync.Mutex
	conn net.Conn
	corr int32
	fmt  *kmsg.RequestFormatter
}

func newPeerConn(addr string, brokerID int32, secret []byte, tlsCfg *tls.Config) *peerConn {
	if tlsCfg != nil {
		tlsCfg = tlsCfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil && tlsCfg.ServerName == "" {
			tlsCfg.ServerName = host
		}
	}
	return &peerConn{
		addr: addr,
		tls:  tlsCfg,
		mech: plain.Auth{User: InterBrokerUser(brokerID), Pass: InterBrokerPassword(secret, brokerID)}.AsMechanism(),
		fmt:  kmsg.NewRequestFormatter(kmsg.FormatterClientID(fmt.Sprintf("strata-replica-%d", brokerID))),
	}
}

// request sends req and decodes the response; any error closes the
// connection so the next request starts on a fresh one.
func (c *peerConn) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return nil, fmt.Errorf("dial leader %s: %w", c.addr, err)
		}
		if c.tls != nil {
			tc := tls.Client(conn, c.tls)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, fmt.Errorf("TLS to leader %s: %w", c.addr, err)
			}
			conn = tc
		}
		c.conn = conn
		if err := c.authenticate(ctx); err != nil {
			c.conn.Close()
			c.conn = nil
			return nil, fmt.Errorf("authenticate to leader %s: %w", c.addr, err)
		}
	}
	resp, err := c.roundTrip(ctx, req)
	if err != nil {
		c.conn.Close()
		c.conn = nil
		return nil, fmt.Errorf("%s to %s: %w", kmsg.NameForKey(req.Key()), c.addr, err)
	}
	return resp, nil
}

// authenticate runs SaslHandshake v1 and the mechanism's SaslAuthenticate
// exchange on a fresh connection.
func (c *peerConn) authenticate(ctx context.Context) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, c.mech.Name()
	raw, err := c.roundTrip(ctx, hs)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(raw.(*kmsg.SASLHandshakeResponse).ErrorCode); err != nil {
		return fmt.Errorf("SaslHandshake %s: %w", c.mech.Name(), err)
	}
	session, msg, err := c.mech.Authenticate(ctx, c.addr)
	if err != nil {
		return err
	}
	for final := false; ; {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = 1, msg
		raw, err := c.roundTrip(ctx, req)
		if err != nil {
			return err
		}
		resp := raw.(*kmsg.SASLAuthenticateResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if resp.ErrorMessage != nil {
				err = fmt.Errorf("%w: %s", err, *resp.ErrorMessage)
			}
			return err
		}
		if final {
			return nil
		}
		done, next, err := session.Challenge(resp.SASLAuthBytes)
		if err != nil {
			return err
		}
		if done && len(next) == 0 {
			return nil
		}
		msg, final = next, done // a last message is sent, its answer only checked
	}
}

func (c *peerConn) roundTrip(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// The callback may run after this request failed and c.conn was
	// closed and cleared: it must hold the connection it was made for.
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c.corr++
	if _, err := c.conn.Write(c.fmt.AppendRequest(nil, req, c.corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 256<<20 {
		return nil, fmt.Errorf("response of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.conn, body); err != nil {
		return nil, err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != c.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", corr, c.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return nil, fmt.Errorf("truncated response header")
		}
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}

func (c *peerConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
