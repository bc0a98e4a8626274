package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// The server side of one SCRAM exchange (RFC 5802 section 5, as Kafka's
// ScramSaslServer speaks it):
//
//	client-first  gs2-header client-first-bare    "n,,n=alice,r=<cnonce>[,ext=v...]"
//	server-first  "r=<cnonce><snonce>,s=<base64 salt>,i=<iterations>"
//	client-final  "c=<base64 gs2-header>,r=<nonce>[,ext=v...],p=<base64 proof>"
//	server-final  "v=<base64 server signature>"
//
// The gs2 header is "n,," or "y,," (channel binding not used) with an
// optional "a=<authzid>" between the commas; "p=..." (channel binding
// asked for) is refused, as Kafka offers no -PLUS mechanism. User names
// carry ',' and '=' as "=2C" and "=3D". Extensions (Kafka's tokenauth
// among them) are ignored, as Kafka ignores the ones it does not know;
// a mandatory extension ("m=") fails the exchange, as RFC 5802 asks.

// ErrScramExchange is wrapped by every failure of a SCRAM exchange:
// malformed messages, unknown users, nonce or proof mismatches.
var ErrScramExchange = errors.New("SCRAM exchange failed")

// ScramServer is the server's side of one SCRAM exchange: Step takes each
// client message in turn.
type ScramServer struct {
	mechanism string
	h         func() hash.Hash
	lookup    func(user string) (ScramCredential, error)
	// Nonce makes the server's part of the nonce; nil: 24 random bytes in
	// hex (alphanumeric, as Kafka's: librdkafka before 2.6.1 does not
	// carry every printable character back intact). Tests set it to
	// replay RFC 7677's example.
	Nonce func() string

	step            int
	user, authzID   string
	gs2Header       string // as the client sent it, for the channel binding
	clientNonce     string
	nonce           string // client nonce + server nonce
	clientFirstBare string
	serverFirst     string
	cred            ScramCredential
	done            bool
}

// NewScramServer starts an exchange of mechanism (ScramSHA256 or
// ScramSHA512); lookup finds a user's credential for it.
func NewScramServer(mechanism string, lookup func(user string) (ScramCredential, error)) (*ScramServer, error) {
	h, err := scramHashFunc(mechanism)
	if err != nil {
		return nil, err
	}
	return &ScramServer{mechanism: mechanism, h: h, lookup: lookup}, nil
}

// User is the user the client named in its first message ("" before).
func (s *ScramServer) User() string { return s.user }

// AuthzID is the authorization id of the gs2 header ("" if none).
func (s *ScramServer) AuthzID() string { return s.authzID }

// Done says whether the exchange completed with a valid proof.
func (s *ScramServer) Done() bool { return s.done }

// Step takes the client's next message and returns the server's reply:
// server-first after client-first, server-final after a valid
// client-final (then Done). Every error wraps ErrScramExchange; the
// exchange cannot go on after one.
func (s *ScramServer) Step(msg string) (string, error) {
	s.step++
	switch s.step {
	case 1:
		return s.clientFirst(msg)
	case 2:
		return s.clientFinal(msg)
	}
	return "", fmt.Errorf("%w: message after the exchange ended", ErrScramExchange)
}

func scramErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrScramExchange, fmt.Sprintf(format, args...))
}

func (s *ScramServer) clientFirst(msg string) (string, error) {
	// gs2-header: cbind-flag "," [authzid] ","
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return "", scramErr("client-first without a gs2 header")
	}
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p="):
		return "", scramErr("channel binding %q asked for; not offered", flag[2:])
	default:
		return "", scramErr("gs2 channel-binding flag %q", flag)
	}
	az, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return "", scramErr("client-first with an unterminated gs2 header")
	}
	if az != "" {
		if !strings.HasPrefix(az, "a=") {
			return "", scramErr("gs2 authzid %q", az)
		}
		name, err := scramDecodeName(az[2:])
		if err != nil {
			return "", err
		}
		s.authzID = name
	}
	s.gs2Header = msg[:len(msg)-len(bare)]
	attrs := strings.Split(bare, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		return "", scramErr("mandatory extension %q not supported", attrs[0])
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return "", scramErr("client-first-bare %.60q: want n=user,r=nonce", bare)
	}
	user, err := scramDecodeName(attrs[0][2:])
	if err != nil {
		return "", err
	}
	if user == "" {
		return "", scramErr("empty user name")
	}
	s.user = user
	s.clientNonce = attrs[1][2:]
	if err := scramCheckNonce(s.clientNonce); err != nil {
		return "", err
	}
	cred, err := s.lookup(user)
	if err != nil {
		return "", fmt.Errorf("%w: user %q: %w", ErrScramExchange, user, err)
	}
	if (cred.Mechanism != "" && cred.Mechanism != s.mechanism) || len(cred.StoredKey) != s.h().Size() || len(cred.ServerKey) != s.h().Size() {
		return "", scramErr("stored %s credential of %q is not of %s", cred.Mechanism, user, s.mechanism)
	}
	s.cred = cred
	gen := s.Nonce
	if gen == nil {
		gen = randomScramNonce
	}
	s.nonce = s.clientNonce + gen()
	s.clientFirstBare = bare
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	return s.serverFirst, nil
}

func (s *ScramServer) clientFinal(msg string) (string, error) {
	withoutProof, proofB64, ok := cutLast(msg, ",p=")
	if !ok {
		return "", scramErr("client-final without a proof")
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return "", scramErr("client-final %.60q: want c=binding,r=nonce,...,p=proof", withoutProof)
	}
	if want := base64.StdEncoding.EncodeToString([]byte(s.gs2Header)); attrs[0][2:] != want {
		return "", scramErr("channel binding %q, want %q (the gs2 header %q)", attrs[0][2:], want, s.gs2Header)
	}
	// RFC 5802 wants the server-first nonce back. librdkafka before 2.6.1
	// sends its own nonce in front of it once more
	// (confluentinc/librdkafka#4895); Kafka accepts that since 3.8.1
	// (the nonce must end with the server-first nonce). The server's
	// fresh part is in both forms, which is what defeats a replay.
	if n := attrs[1][2:]; n != s.nonce && n != s.clientNonce+s.nonce {
		return "", scramErr("nonce received did not match nonce sent (%.60q, sent %.60q)", n, s.nonce)
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != s.h().Size() {
		return "", scramErr("client proof of %d bytes (%v), want %d", len(proof), err, s.h().Size())
	}
	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof
	// holds if H(ClientKey) is the stored key.
	sig := s.mac(s.cred.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ sig[i]
	}
	stored := s.h()
	stored.Write(clientKey)
	if !hmac.Equal(stored.Sum(nil), s.cred.StoredKey) {
		return "", scramErr("invalid proof")
	}
	s.done = true
	return "v=" + base64.StdEncoding.EncodeToString(s.mac(s.cred.ServerKey, authMessage)), nil
}

func (s *ScramServer) mac(key []byte, msg string) []byte {
	m := hmac.New(s.h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// scramDecodeName undoes saslname's escaping ("=2C" is ',', "=3D" is '=');
// any other '=' is malformed, as is a bare ','.
func scramDecodeName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", scramErr("user name %.40q: '=' not followed by 2C or 3D", s)
		}
		i += 2
	}
	return b.String(), nil
}

// scramCheckNonce: a nonce is printable ASCII but ',' (RFC 5802), and not
// empty.
func scramCheckNonce(n string) error {
	if n == "" {
		return scramErr("empty client nonce")
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == ',' {
			return scramErr("client nonce with byte %#x", c)
		}
	}
	return nil
}

func randomScramNonce() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
