package server

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/ingest/ingesttest"
	"github.com/stratalog/strata/meta/embedetcd"
)

// stallProxy is a TCP proxy in front of etcd that can stop forwarding:
// while stalled, connections stay open and bytes wait, as with an etcd
// that hangs (SIGSTOP, a partition that drops packets).
type stallProxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
	conns   []net.Conn
}

func startStallProxy(t *testing.T, backend string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, backend: backend}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *stallProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		go p.pipe(b, c)
		go p.pipe(c, b)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.stalled {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *stallProxy) stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *stallProxy) close() {
	p.stall(false)
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestHungEtcdDoesNotHangRequests stops etcd from answering (a proxy in
// front of a real embedded etcd stops forwarding) and sends every request
// that waits on etcd: each must come back with an error within a bound of
// the broker's request timeout, never hang. Producer-id allocation is
// asked by many clients at once: a lock held across the etcd call must not
// line them up one request timeout after another.
func TestHungEtcdDoesNotHangRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: t.TempDir()}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	u, err := url.Parse(e.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	proxy := startStallProxy(t, u.Host)
	const timeout = time.Second
	tb := startBroker(t, func(c *Config) {
		c.EtcdEndpoints = []string{proxy.url()}
		c.RequestTimeout = timeout
	})
	t.Cleanup(func() { proxy.stall(false) }) // before the broker stops
	addr := tb.srv.KafkaAddr()
	proxy.stall(true)

	// Well past the timeout (a loaded machine), well short of a line of
	// twelve of them.
	const bound = 6 * timeout
	requests := map[string]func() kmsg.Request{
		"CreateTopics": func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.Version, r.TimeoutMillis = 5, 60000
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic, t.NumPartitions, t.ReplicationFactor = "new", 1, 1
			r.Topics = append(r.Topics, t)
			return r
		},
		"DeleteTopics": func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.Version, r.TimeoutMillis, r.TopicNames = 4, 60000, []string{"whatever"}
			return r
		},
		"Metadata auto-create": func() kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.Version, r.AllowAutoTopicCreation = 9, true
			name := "auto"
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = &name
			r.Topics = append(r.Topics, rt)
			return r
		},
		"Produce auto-create": func() kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.Version, r.Acks, r.TimeoutMillis = 9, 1, 60000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "auto-produce"
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = []byte{}
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		},
		"CreatePartitions": func() kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			r.TimeoutMillis = 60000
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "whatever", 3
			r.Topics = append(r.Topics, rt)
			return r
		},
	}
	for i := range 12 {
		requests[fmt.Sprintf("InitProducerID %d", i)] = func() kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() }
	}
	var wg sync.WaitGroup
	for name, req := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			resp, err := ingesttest.Call(c, req(), bound)
			if err != nil {
				t.Errorf("%s with etcd hung: %v", name, err)
				return
			}
			if codes := ingesttest.ErrorCodes(resp); !hasError(codes) {
				t.Errorf("%s with etcd hung answered without an error: %v", name, codes)
			}
		}()
	}
	wg.Wait()
}

func hasError(codes []int16) bool {
	for _, c := range codes {
		if kerr.ErrorForCode(c) != nil {
			return true
		}
	}
	return false
}
