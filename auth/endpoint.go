package auth

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Callers of the endpoints beside the Kafka listener (Arrow Flight, the
// Iceberg REST catalog) prove who they are with the same credentials as
// Kafka clients, carried the HTTP way:
//
//	Authorization: Basic base64(user:password)   a PLAIN password (users file or SCRAM credential)
//	Authorization: Bearer <token>                a session token from Login, or an OAUTHBEARER JWT
//	a verified TLS client certificate            User:<subject DN>, as on an SSL listener
//	nothing                                      User:ANONYMOUS
//
// and are authorized by the same ACLs, on the topic a call reads.

// Anonymous is the principal of a caller that presented no credential,
// as Kafka names it.
const Anonymous = "User:ANONYMOUS"

// ErrBadCredentials is returned for a credential that was presented and
// did not prove anything: a wrong password, an unknown or expired token,
// a malformed Authorization header. The caller is refused, never served
// as Anonymous.
var ErrBadCredentials = errors.New("invalid credentials")

// PasswordChecker checks a user's password (nil error: it is right).
type PasswordChecker func(ctx context.Context, user, password string) error

// TokenValidator validates a bearer JWT (OAuthValidator).
type TokenValidator interface {
	Validate(ctx context.Context, token string) (principal string, expiry time.Time, err error)
}

// Authorize decides one operation, as Authorizer.Authorize.
type AuthorizeFunc func(principal, host string, op Operation, rt ResourceType, name string) bool

// SessionTTL is how long a session token from Login stays valid.
const SessionTTL = time.Hour

// EndpointAuth authenticates and authorizes callers of one endpoint.
// Its zero parts turn the matching credential off: no Passwords, no
// basic auth; no Tokens, only session tokens; no Authorize, every
// operation allowed.
type EndpointAuth struct {
	Endpoint  string // "flight", "iceberg-rest": named in the audit lines
	Passwords PasswordChecker
	Tokens    TokenValidator
	Authorize AuthorizeFunc
	Log       *slog.Logger
	Now       func() time.Time // tests

	mu       sync.Mutex
	sessions map[string]session
}

type session struct {
	principal string
	expiry    time.Time
}

func (e *EndpointAuth) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Login checks a user's password and returns a session token for
// "Authorization: Bearer" (valid for SessionTTL) and the principal.
func (e *EndpointAuth) Login(ctx context.Context, user, password string) (token, principal string, err error) {
	principal, err = e.checkPassword(ctx, user, password)
	if err != nil {
		return "", "", err
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = hex.EncodeToString(b[:])
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sessions == nil {
		e.sessions = map[string]session{}
	}
	for t, s := range e.sessions {
		if now.After(s.expiry) {
			delete(e.sessions, t)
		}
	}
	e.sessions[token] = session{principal: principal, expiry: now.Add(SessionTTL)}
	return token, principal, nil
}

func (e *EndpointAuth) checkPassword(ctx context.Context, user, password string) (string, error) {
	if e.Passwords == nil {
		return "", fmt.Errorf("%w: passwords are not accepted here", ErrBadCredentials)
	}
	if user == "" {
		return "", fmt.Errorf("%w: empty user", ErrBadCredentials)
	}
	if err := e.Passwords(ctx, user, password); err != nil {
		e.logFailure(user, err)
		return "", fmt.Errorf("%w: user %q", ErrBadCredentials, user)
	}
	return "User:" + user, nil
}

// Authenticate finds the caller's principal from its Authorization
// header value (empty if none) and its verified TLS client certificate
// (nil if none). A credential that does not prove anything is
// ErrBadCredentials.
func (e *EndpointAuth) Authenticate(ctx context.Context, authorization string, cert *x509.Certificate) (string, error) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case authorization == "":
		if cert != nil {
			return CertPrincipal(cert), nil
		}
		return Anonymous, nil
	case strings.EqualFold(scheme, "Basic"):
		user, password, err := ParseBasic(authorization)
		if err != nil {
			return "", err
		}
		return e.checkPassword(ctx, user, password)
	case strings.EqualFold(scheme, "Bearer") && cred != "":
		if p, ok := e.session(cred); ok {
			return p, nil
		}
		if e.Tokens == nil {
			return "", fmt.Errorf("%w: unknown or expired session token", ErrBadCredentials)
		}
		p, _, err := e.Tokens.Validate(ctx, cred)
		if err != nil {
			e.logFailure("", err)
			return "", fmt.Errorf("%w: bearer token: %w", ErrBadCredentials, err)
		}
		return p, nil
	}
	return "", fmt.Errorf("%w: Authorization scheme %q (want Basic or Bearer)", ErrBadCredentials, scheme)
}

// ParseBasic reads "Basic base64(user:password)" (padded or not).
func ParseBasic(authorization string) (user, password string, err error) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", fmt.Errorf("%w: not basic credentials", ErrBadCredentials)
	}
	cred = strings.TrimSpace(cred)
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(cred); err != nil {
			return "", "", fmt.Errorf("%w: basic credentials not base64", ErrBadCredentials)
		}
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("%w: basic credentials without ':'", ErrBadCredentials)
	}
	return user, password, nil
}

func (e *EndpointAuth) session(token string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions[token]
	if !ok || e.now().After(s.expiry) {
		return "", false
	}
	return s.principal, true
}

func (e *EndpointAuth) logFailure(user string, err error) {
	if e.Log != nil {
		e.Log.Info("failed authentication", "endpoint", e.Endpoint, "user", user, "err", err)
	}
}

// Visible decides silently (listings that leave out what may not be seen).
func (e *EndpointAuth) Visible(principal, host string, op Operation, rt ResourceType, name string) bool {
	return e.Authorize == nil || e.Authorize(principal, host, op, rt, name)
}

// Allow decides and writes the audit line of a denial.
func (e *EndpointAuth) Allow(principal, host, call string, op Operation, rt ResourceType, name string) bool {
	if e.Visible(principal, host, op, rt, name) {
		return true
	}
	if e.Log != nil {
		e.Log.Info("authorization denied", "audit", true, "endpoint", e.Endpoint, "principal", principal, "host", host,
			"api", call, "operation", op.String(), "resource_type", rt.String(), "resource_name", name)
	}
	return false
}

// Guard is what an endpoint asks of its security (EndpointAuth).
type Guard interface {
	Authenticate(ctx context.Context, authorization string, cert *x509.Certificate) (string, error)
	Login(ctx context.Context, user, password string) (token, principal string, err error)
	Visible(principal, host string, op Operation, rt ResourceType, name string) bool
	Allow(principal, host, call string, op Operation, rt ResourceType, name string) bool
}

// Caller is who makes a request: its principal and host.
type Caller struct{ Principal, Host string }

type callerKey struct{}

// WithCaller is ctx carrying the request's caller.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom is the caller WithCaller recorded; Anonymous if none.
func CallerFrom(ctx context.Context) Caller {
	if c, ok := ctx.Value(callerKey{}).(Caller); ok {
		return c
	}
	return Caller{Principal: Anonymous}
}
