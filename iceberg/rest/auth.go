package rest

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// Authenticator is what the catalog asks of the security layer.
type Authenticator = auth.Guard

const typeNotAuthorized = "NotAuthorizedException"

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// authenticate finds the caller; a credential that proves nothing is
// answered 401 and ends the request.
func (h *Handler) authenticate(ctx context.Context, w http.ResponseWriter, r *http.Request) (context.Context, bool) {
	if h.cfg.Auth == nil {
		return ctx, true
	}
	var cert *x509.Certificate
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cert = r.TLS.VerifiedChains[0][0]
	}
	p, err := h.cfg.Auth.Authenticate(ctx, r.Header.Get("Authorization"), cert)
	if err != nil {
		if errors.Is(err, auth.ErrBadCredentials) {
			w.Header().Set("WWW-Authenticate", `Basic realm="strata", Bearer`)
			writeError(w, http.StatusUnauthorized, typeNotAuthorized, err.Error())
		} else {
			h.unavailable(w, err)
		}
		return ctx, false
	}
	return auth.WithCaller(ctx, auth.Caller{Principal: p, Host: remoteHost(r)}), true
}

// visible says whether the caller may see the table of topic (Describe).
func (h *Handler) visible(ctx context.Context, topic string) bool {
	if h.cfg.Auth == nil {
		return true
	}
	c := auth.CallerFrom(ctx)
	return h.cfg.Auth.Visible(c.Principal, c.Host, kmsg.ACLOperationDescribe, auth.Topic, topic)
}

// allow checks the caller may load the table of topic (Read; Describe
// for HEAD) and answers 403 if not.
func (h *Handler) allow(ctx context.Context, w http.ResponseWriter, r *http.Request, topic string) bool {
	if h.cfg.Auth == nil {
		return true
	}
	c := auth.CallerFrom(ctx)
	op, call := kmsg.ACLOperationRead, "LoadTable"
	if r.Method == http.MethodHead {
		op, call = kmsg.ACLOperationDescribe, "TableExists"
	}
	if h.cfg.Auth.Allow(c.Principal, c.Host, call, op, auth.Topic, topic) {
		return true
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	writeError(w, http.StatusForbidden, typeForbidden, c.Principal+" may not read table "+topic)
	return false
}

// issueToken is POST /v1/oauth/tokens: the client-credentials grant
// (RFC 6749 section 4.4) with a user's name and password as client id and
// secret, in the form or as Basic credentials; the token is a session
// token of the catalog. Errors are OAuth's ({"error", "error_description"}).
func (h *Handler) issueToken(w http.ResponseWriter, r *http.Request) {
	oauthErr := func(code int, typ, msg string) {
		writeJSON(w, code, map[string]string{"error": typ, "error_description": msg})
	}
	if h.cfg.Auth == nil {
		oauthErr(http.StatusBadRequest, "invalid_request", "this catalog issues no OAuth tokens (no authentication is required)")
		return
	}
	if r.Method != http.MethodPost {
		oauthErr(http.StatusMethodNotAllowed, "invalid_request", "POST the token request")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type "+g+": only client_credentials")
		return
	}
	user, password := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, err := auth.ParseBasic(r.Header.Get("Authorization")); err == nil {
		user, password = u, p
	}
	token, _, err := h.cfg.Auth.Login(r.Context(), user, password)
	if err != nil {
		oauthErr(http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token, "token_type": "bearer", "expires_in": int(auth.SessionTTL.Seconds()),
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
	})
}
