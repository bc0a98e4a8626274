package ingest

import (
	"context"
	"fmt"

	"github.com/stratalog/strata/auth"
)

// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677, Kafka's KIP-84):
// two client messages, client-first and client-final (the proof), checked
// against the credential kept salted in the store (ScramLookup); the
// server's replies are server-first (salt, iterations, nonce) and
// server-final (the server signature). The messages and the proof check
// are auth.ScramServer's. A failure, whatever its cause (unknown user,
// wrong password, malformed message), reaches the client as one message,
// so that user names cannot be probed; the log has the cause.

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
	if _, err := auth.NewScramServer(mechanism, nil); err != nil {
		return nil, err
	}
	return scramMechanism{name: mechanism, users: users}, nil
}

type scramMechanism struct {
	name  string
	users ScramLookup
}

func (m scramMechanism) Name() string { return m.name }

func (m scramMechanism) Start() SASLExchange { return &scramExchange{m: m} }

type scramExchange struct {
	m   scramMechanism
	srv *auth.ScramServer
	ctx context.Context // the current message's, for the lookup
	// first and sent are the first messages (nonces and salt only,
	// nothing secret), logged when the final step fails.
	first, sent string
}

func (e *scramExchange) Next(ctx context.Context, msg []byte) ([]byte, string, error) {
	e.ctx = ctx
	if e.srv == nil {
		srv, err := auth.NewScramServer(e.m.name, e.lookup)
		if err != nil {
			return nil, "", fmt.Errorf("SCRAM server: %w", err)
		}
		e.srv = srv
	}
	if e.srv.Done() {
		return nil, "", &SASLError{"SCRAM exchange already complete"}
	}
	reply, err := e.srv.Step(string(msg))
	if e.first == "" {
		e.first, e.sent = string(msg), reply
	} else if err != nil {
		err = fmt.Errorf("%w [client-first %.80q, server-first %.120q, client-final %.100q]", err, e.first, e.sent, msg)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w (%s, user %q: %w)", errScramCredentials, e.m.name, e.srv.User(), err)
	}
	if !e.srv.Done() {
		return []byte(reply), "", nil
	}
	if az := e.srv.AuthzID(); az != "" && az != e.srv.User() {
		return nil, "", &SASLError{"Authorization id differs from the user name"}
	}
	return []byte(reply), "User:" + e.srv.User(), nil
}

func (e *scramExchange) lookup(user string) (auth.ScramCredential, error) {
	return e.m.users.ScramCredential(e.ctx, user, e.m.name)
}
