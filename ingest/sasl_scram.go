package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/xdg-go/scram"

	"github.com/stratalog/strata/auth"
)

// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677, Kafka's KIP-84):
// two client messages, client-first ("n,,n=user,r=nonce", Kafka's
// extensions after the nonce are ignored) and client-final (the proof),
// checked against the credential kept salted in the store (ScramUsers);
// the server's replies are server-first (salt, iterations, nonce) and
// server-final (the server signature). Parsing and the proof check are
// xdg-go/scram's. Channel binding is not offered, as in Kafka. A
// failure, whatever its cause (unknown user, wrong password, malformed
// message), reaches the client as one message, so that user names cannot
// be probed.

// ScramLookup finds the credential of user for mechanism; an error
// wrapping ErrUnknownUser for a user without one.
type ScramLookup interface {
	ScramCredential(ctx context.Context, user, mechanism string) (auth.ScramCredential, error)
}

// errScramCredentials is Kafka's message for a failed SCRAM exchange.
var errScramCredentials = &SASLError{"Invalid user credentials"}

// NewScramMechanism offers mechanism (auth.ScramSHA256 or ScramSHA512)
// checking against users.
func NewScramMechanism(mechanism string, users ScramLookup) (SASLMechanism, error) {
	h, err := auth.ScramHash(mechanism)
	if err != nil {
		return nil, err
	}
	return scramMechanism{name: mechanism, hash: h, users: users}, nil
}

type scramMechanism struct {
	name  string
	hash  scram.HashGeneratorFcn
	users ScramLookup
}

func (m scramMechanism) Name() string { return m.name }

func (m scramMechanism) Start() SASLExchange { return &scramExchange{m: m} }

type scramExchange struct {
	m    scramMechanism
	conv *scram.ServerConversation
	ctx  context.Context // the current message's, for the lookup
	err  error           // the lookup's failure, for the log
}

func (e *scramExchange) Next(ctx context.Context, msg []byte) ([]byte, string, error) {
	e.ctx = ctx
	if e.conv == nil {
		srv, err := e.m.hash.NewServer(e.lookup)
		if err != nil {
			return nil, "", fmt.Errorf("SCRAM server: %w", err)
		}
		e.conv = srv.NewConversation()
	}
	if e.conv.Done() {
		return nil, "", &SASLError{"SCRAM exchange already complete"}
	}
	reply, err := e.conv.Step(string(msg))
	if err != nil {
		cause := errors.Join(err, e.err)
		return nil, "", fmt.Errorf("%w (%s, user %q: %v)", errScramCredentials, e.m.name, e.conv.Username(), cause)
	}
	if !e.conv.Done() {
		return []byte(reply), "", nil
	}
	if !e.conv.Valid() {
		return nil, "", fmt.Errorf("%w (%s, user %q: invalid proof)", errScramCredentials, e.m.name, e.conv.Username())
	}
	if az := e.conv.AuthzID(); az != "" && az != e.conv.Username() {
		return nil, "", &SASLError{"Authorization id differs from the user name"}
	}
	return []byte(reply), "User:" + e.conv.Username(), nil
}

func (e *scramExchange) lookup(user string) (scram.StoredCredentials, error) {
	c, err := e.m.users.ScramCredential(e.ctx, user, e.m.name)
	if err != nil {
		e.err = err
		return scram.StoredCredentials{}, err
	}
	return c.Stored(), nil
}
