package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/meta"
)

// Listeners, as Kafka configures them (listeners, advertised.listeners,
// listener.security.protocol.map, inter.broker.listener.name):
//
//	--listeners SASL_SSL://127.0.0.1:9093,PLAINTEXT://127.0.0.1:9092
//	--listeners CLIENT://:9093,REPL://:9094 --listener-security-protocol-map CLIENT:SASL_SSL,REPL:SSL
//
// A listener's name is its protocol unless the map names it. Without
// --listeners, --listen is one PLAINTEXT listener (the default for a
// local run). A listener not in --advertised-listeners is advertised at
// its bound address (localhost for an unspecified host). The inter-broker
// listener (default: the first) is the one followers dial; brokers of a
// cluster use the same name and protocol for it.

// The security protocols.
const (
	protoPlaintext     = "PLAINTEXT"
	protoSSL           = "SSL"
	protoSASLPlaintext = "SASL_PLAINTEXT"
	protoSASLSSL       = "SASL_SSL"
)

var protocols = []string{protoPlaintext, protoSSL, protoSASLPlaintext, protoSASLSSL}

// listenerSpec is one listener to open.
type listenerSpec struct {
	Name, Protocol, Addr string
	// Advertised is filled once the listener is bound.
	Host string
	Port int32
}

func (l listenerSpec) tls() bool { return l.Protocol == protoSSL || l.Protocol == protoSASLSSL }
func (l listenerSpec) sasl() bool {
	return l.Protocol == protoSASLPlaintext || l.Protocol == protoSASLSSL
}

// parseProtocolMap parses NAME:PROTOCOL,... .
func parseProtocolMap(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		name, proto, ok := strings.Cut(p, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" || !slices.Contains(protocols, proto) {
			return nil, fmt.Errorf("--listener-security-protocol-map: %q is not NAME:PROTOCOL (protocols %s)", p, strings.Join(protocols, ", "))
		}
		m[name] = proto
	}
	return m, nil
}

// splitListener parses NAME://host:port.
func splitListener(flag, s string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(strings.TrimSpace(s), "://")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%s: %q is not NAME://host:port", flag, s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("%s: %q: %w", flag, s, err)
	}
	return strings.ToUpper(name), addr, nil
}

// parseListeners turns the flags into the listeners to open.
func parseListeners(cfg Config) ([]listenerSpec, error) {
	if strings.TrimSpace(cfg.Listeners) == "" {
		return []listenerSpec{{Name: protoPlaintext, Protocol: protoPlaintext, Addr: cfg.Listen}}, nil
	}
	pmap, err := parseProtocolMap(cfg.ListenerSecurityProtocolMap)
	if err != nil {
		return nil, err
	}
	var out []listenerSpec
	for _, l := range strings.Split(cfg.Listeners, ",") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		name, addr, err := splitListener("--listeners", l)
		if err != nil {
			return nil, err
		}
		proto, ok := pmap[name]
		if !ok {
			if !slices.Contains(protocols, name) {
				return nil, fmt.Errorf("--listeners: listener %s has no security protocol: name it one of %s or map it with --listener-security-protocol-map", name, strings.Join(protocols, ", "))
			}
			proto = name
		}
		for _, o := range out {
			if o.Name == name {
				return nil, fmt.Errorf("--listeners: listener %s twice", name)
			}
		}
		out = append(out, listenerSpec{Name: name, Protocol: proto, Addr: addr})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--listeners %q names no listener", cfg.Listeners)
	}
	return out, nil
}

// advertiseListeners fills each bound listener's advertised address.
func advertiseListeners(cfg Config, ls []listenerSpec, bound []string) error {
	adv := map[string]string{}
	if strings.TrimSpace(cfg.Listeners) == "" {
		adv[protoPlaintext] = cfg.Advertise
	} else {
		for _, a := range strings.Split(cfg.AdvertisedListeners, ",") {
			if strings.TrimSpace(a) == "" {
				continue
			}
			name, addr, err := splitListener("--advertised-listeners", a)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(ls, func(l listenerSpec) bool { return l.Name == name }) {
				return fmt.Errorf("--advertised-listeners: %s is not a listener of --listeners", name)
			}
			adv[name] = addr
		}
	}
	for i := range ls {
		host, port, err := advertised(adv[ls[i].Name], bound[i])
		if err != nil {
			return fmt.Errorf("listener %s: %w", ls[i].Name, err)
		}
		ls[i].Host, ls[i].Port = host, port
	}
	return nil
}

// interBroker returns the inter-broker listener.
func interBroker(cfg Config, ls []listenerSpec) (listenerSpec, error) {
	if cfg.InterBrokerListenerName == "" {
		return ls[0], nil
	}
	for _, l := range ls {
		if l.Name == strings.ToUpper(cfg.InterBrokerListenerName) {
			return l, nil
		}
	}
	return listenerSpec{}, fmt.Errorf("--inter-broker-listener-name %s is not a listener of --listeners", cfg.InterBrokerListenerName)
}

func metaListeners(ls []listenerSpec) []meta.Listener {
	out := make([]meta.Listener, len(ls))
	for i, l := range ls {
		out[i] = meta.Listener{Name: l.Name, Protocol: l.Protocol, Host: l.Host, Port: l.Port}
	}
	return out
}

func ingestEndpoints(ls []meta.Listener) []ingest.Endpoint {
	out := make([]ingest.Endpoint, len(ls))
	for i, l := range ls {
		out[i] = ingest.Endpoint{Listener: l.Name, Host: l.Host, Port: l.Port}
	}
	return out
}

func (l listenerSpec) String() string {
	return l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
}

// peerTLS is how a follower dials a TLS inter-broker listener: it trusts
// --tls-ca-file (default --tls-client-ca-file; neither: the system roots)
// and presents this broker's certificate (read again on renewal).
func peerTLS(cfg Config, srv *auth.TLSServer) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	ca := cfg.TLSCAFile
	if ca == "" {
		ca = cfg.TLS.ClientCAFile
	}
	if ca != "" {
		pool, err := auth.LoadCertPool(ca)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	} else if pool, err := x509.SystemCertPool(); err == nil {
		c.RootCAs = pool
	}
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return srv.Certificate(), nil }
	return c, nil
}
