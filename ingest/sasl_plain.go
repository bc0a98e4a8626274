package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// PLAIN (RFC 4616): the client's one message is
//
//	[authzid] NUL authcid NUL passwd
//
// and the server's reply is empty. The principal is User:<authcid>; an
// authorization id, if given, must be the same user (Kafka allows no
// other: acting for someone else is what ACLs are for).

// PlainChecker checks PLAIN credentials. Implementations compare
// passwords in constant time; any error fails the authentication (the
// client sees a generic message unless it is a SASLError).
type PlainChecker interface {
	CheckPlain(ctx context.Context, user, password string) error
}

// NewPlainMechanism offers PLAIN with the users c knows.
func NewPlainMechanism(c PlainChecker) SASLMechanism { return plainMechanism{c} }

type plainMechanism struct{ c PlainChecker }

func (plainMechanism) Name() string { return "PLAIN" }

func (m plainMechanism) Start() SASLExchange { return &plainExchange{c: m.c} }

type plainExchange struct {
	c    PlainChecker
	done bool
}

// errPlainCredentials is what a client learns of a refused PLAIN
// authentication, in Kafka's words.
var errPlainCredentials = &SASLError{"Invalid username or password"}

func (e *plainExchange) Next(ctx context.Context, msg []byte) ([]byte, string, error) {
	if e.done {
		return nil, "", &SASLError{"PLAIN takes one message"}
	}
	e.done = true
	authzid, user, password, err := parsePlain(msg)
	if err != nil {
		return nil, "", err
	}
	if authzid != "" && authzid != user {
		return nil, "", &SASLError{"Client requested an authorization id that is different from username"}
	}
	if err := e.c.CheckPlain(ctx, user, password); err != nil {
		return nil, "", fmt.Errorf("%w (user %q: %v)", errPlainCredentials, user, err)
	}
	return []byte{}, "User:" + user, nil
}

// parsePlain splits a PLAIN message into its three fields. The user and
// password must be non-empty, every field valid UTF-8 without NUL.
func parsePlain(msg []byte) (authzid, user, password string, err error) {
	fields := bytes.Split(msg, []byte{0})
	if len(fields) != 3 {
		return "", "", "", &SASLError{"Invalid SASL/PLAIN response: expected 3 tokens"}
	}
	for _, f := range fields {
		if !utf8.Valid(f) {
			return "", "", "", &SASLError{"Invalid SASL/PLAIN response: not UTF-8"}
		}
	}
	if len(fields[1]) == 0 {
		return "", "", "", &SASLError{"username not specified"}
	}
	if len(fields[2]) == 0 {
		return "", "", "", &SASLError{"password not specified"}
	}
	return string(fields[0]), string(fields[1]), string(fields[2]), nil
}

// ErrUnknownUser is what a PlainChecker returns for a user it does not
// know (a wrong password is ErrWrongPassword); both reach the client as
// the same failure.
var (
	ErrUnknownUser   = errors.New("unknown user")
	ErrWrongPassword = errors.New("wrong password")
)
