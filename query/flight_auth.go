package query

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/stratalog/strata/auth"
)

// Authentication and authorization of Flight calls. Every call carries
// its credential in the "authorization" metadata (Basic or Bearer, see
// auth.EndpointAuth) or a TLS client certificate; Flight's Handshake with
// Basic credentials (the Go client's AuthenticateBasicToken, pyarrow's
// authenticate_basic_token) answers a session token as "authorization:
// Bearer ..." in its header and trailer. A credential that proves nothing
// is Unauthenticated; a call the ACLs deny is PermissionDenied: Read on
// the topic for GetFlightInfo and DoGet, and ListFlights lists the topics
// the caller may Describe.

// FlightAuth is what the Flight service asks of the security layer.
type FlightAuth = auth.Guard

func authorizationOf(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// peerOf is the caller's host and verified client certificate (nil if none).
func peerOf(ctx context.Context) (string, *x509.Certificate) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", nil
	}
	host := p.Addr.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
		return host, ti.State.VerifiedChains[0][0]
	}
	return host, nil
}

func (a flightGuard) authenticate(ctx context.Context) (context.Context, error) {
	host, cert := peerOf(ctx)
	p, err := a.auth.Authenticate(ctx, authorizationOf(ctx), cert)
	if err != nil {
		if errors.Is(err, auth.ErrBadCredentials) {
			return nil, status.Error(codes.Unauthenticated, err.Error())
		}
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return auth.WithCaller(ctx, auth.Caller{Principal: p, Host: host}), nil
}

// flightGuard holds the interceptors of an authenticated Flight server.
type flightGuard struct{ auth FlightAuth }

func (a flightGuard) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := a.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s authedStream) Context() context.Context { return s.ctx }

func (a flightGuard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx := ss.Context()
	if strings.HasSuffix(info.FullMethod, "/Handshake") {
		scheme, _, _ := strings.Cut(authorizationOf(ctx), " ")
		if strings.EqualFold(scheme, "Basic") {
			return a.handshake(srv, ss, h)
		}
	}
	ctx, err := a.authenticate(ctx)
	if err != nil {
		return err
	}
	return h(srv, authedStream{ss, ctx})
}

// handshake logs a Basic caller in: the session token goes back in the
// header and the trailer (clients read either).
func (a flightGuard) handshake(srv any, ss grpc.ServerStream, h grpc.StreamHandler) error {
	ctx := ss.Context()
	user, password, err := auth.ParseBasic(authorizationOf(ctx))
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	token, principal, err := a.auth.Login(ctx, user, password)
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	host, _ := peerOf(ctx)
	ctx = auth.WithCaller(ctx, auth.Caller{Principal: principal, Host: host})
	md := metadata.Pairs("authorization", "Bearer "+token)
	if err := ss.SetHeader(md); err != nil {
		return err
	}
	ss.SetTrailer(md)
	return h(srv, authedStream{ss, ctx})
}
