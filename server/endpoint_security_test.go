package server

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestFlightAndCatalogSecured: with the ACL authorizer on, Arrow Flight
// and the Iceberg REST catalog serve TLS with the listeners' certificate
// and know the Kafka listeners' principals: Flight's Go client logs in
// with Basic credentials (a users-file password, a SCRAM credential in
// etcd) for a session token, or presents a client certificate; iceberg-go's
// REST catalog uses the client-credentials token endpoint, plain HTTP
// requests Basic credentials or a client certificate. A caller lists
// only the topics it may Describe and reads only those it may Read;
// wrong passwords and unknown tokens are refused as unauthenticated, an
// anonymous caller sees nothing.
func TestFlightAndCatalogSecured(t *testing.T) {
	sb := startSecureBroker(t, func(c *Config) {
		c.FlightListen = "127.0.0.1:0"
		c.IcebergRESTListen = "127.0.0.1:0"
		c.TierRowGroupBytes = 16 << 10
	})
	ctx := testCtx(t)
	adminCl := sb.saslSSL(t, scram512("admin", "admin-secret"))
	adm := kadm.NewClient(adminCl)
	for _, topic := range []string{"open-t", "secret-t"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, icebergTopicConfigs(), topic); err != nil {
			t.Fatal(err)
		}
	}
	// paula (users file) and carol (client certificate) may read open-*.
	acl := kadm.NewACLs().Topics("open-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Allow("User:paula", "User:CN=carol").Operations(kadm.OpRead)
	if res, err := adm.CreateACLs(ctx, acl); err != nil || res[0].Err != nil {
		t.Fatalf("CreateACLs: %v %v", err, res)
	}
	const n = 600
	value := strings.Repeat("v", 200)
	for _, topic := range []string{"open-t", "secret-t"} {
		var rs []*kgo.Record
		for i := 0; i < n; i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(value)})
		}
		if err := adminCl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("flight", func(t *testing.T) {
		dial := func(t *testing.T, client string) flight.Client {
			cl, err := flight.NewClientWithMiddleware(sb.srv.FlightAddr(), nil, nil,
				grpc.WithTransportCredentials(credentials.NewTLS(sb.tlsConfig(t, client))))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cl.Close() })
			return cl
		}
		listed := func(t *testing.T, cl flight.Client, ctx context.Context) []string {
			lf, err := cl.ListFlights(ctx, &flight.Criteria{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for {
				fi, err := lf.Recv()
				if errors.Is(err, io.EOF) {
					sort.Strings(names)
					return names
				}
				if err != nil {
					t.Fatalf("ListFlights: %v", err)
				}
				names = append(names, fi.FlightDescriptor.Path[0])
			}
		}
		read := func(cl flight.Client, ctx context.Context, topic string) (int64, error) {
			fi, err := cl.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{topic}})
			if err != nil {
				return 0, err
			}
			var rows int64
			for _, ep := range fi.Endpoint {
				st, err := cl.DoGet(ctx, ep.Ticket)
				if err != nil {
					return rows, err
				}
				rd, err := flight.NewRecordReader(st)
				if err != nil {
					return rows, err
				}
				for rd.Next() {
					rows += rd.RecordBatch().NumRows()
				}
				rd.Release()
			}
			return rows, nil
		}
		cl := dial(t, "")
		for _, c := range []struct {
			user, pass string
			see        []string
		}{
			{"paula", "paula-secret", []string{"open-t"}},             // users file
			{"admin", "admin-secret", []string{"open-t", "secret-t"}}, // SCRAM credential in etcd, super user
		} {
			authed, err := cl.AuthenticateBasicToken(ctx, c.user, c.pass)
			if err != nil {
				t.Fatalf("%s: Handshake: %v", c.user, err)
			}
			if got := listed(t, cl, authed); strings.Join(got, ",") != strings.Join(c.see, ",") {
				t.Fatalf("%s: ListFlights %v, want %v", c.user, got, c.see)
			}
			if rows, err := read(cl, authed, "open-t"); err != nil || rows != n {
				t.Fatalf("%s: read open-t: %d rows, %v", c.user, rows, err)
			}
		}
		paula, _ := cl.AuthenticateBasicToken(ctx, "paula", "paula-secret")
		if _, err := read(cl, paula, "secret-t"); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("paula reads secret-t: %v, want PermissionDenied", err)
		}
		// A ticket made for the super user is no key for paula.
		admin, _ := cl.AuthenticateBasicToken(ctx, "admin", "admin-secret")
		fi, err := cl.GetFlightInfo(admin, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"secret-t"}})
		if err != nil {
			t.Fatal(err)
		}
		if st, err := cl.DoGet(paula, fi.Endpoint[0].Ticket); err == nil {
			_, err = st.Recv()
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("paula's DoGet of admin's secret-t ticket: %v, want PermissionDenied", err)
			}
		}
		if _, err := cl.AuthenticateBasicToken(ctx, "paula", "wrong"); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("wrong password: %v, want Unauthenticated", err)
		}
		forged := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer not-a-token")
		if _, err := cl.GetFlightInfo(forged, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"open-t"}}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("unknown bearer token: %v, want Unauthenticated", err)
		}
		if got := listed(t, cl, ctx); len(got) != 0 {
			t.Fatalf("anonymous ListFlights: %v, want nothing", got)
		}
		if _, err := read(cl, ctx, "open-t"); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("anonymous read: %v, want PermissionDenied", err)
		}
		carol := dial(t, "carol")
		if rows, err := read(carol, ctx, "open-t"); err != nil || rows != n {
			t.Fatalf("carol (client certificate): %d rows, %v", rows, err)
		}
		if _, err := read(carol, ctx, "secret-t"); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("carol reads secret-t: %v, want PermissionDenied", err)
		}
	})

	t.Run("iceberg-rest", func(t *testing.T) {
		for _, topic := range []string{"open-t", "secret-t"} {
			waitTiered(t, sb.testBroker, topic, 1, 60*time.Second)
			waitTableCaughtUp(t, sb.testBroker, topic, 1, 60*time.Second)
		}
		uri := "https://" + sb.srv.CatalogAddr()
		tlsCfg := sb.tlsConfig(t, "")
		catalog := func(t *testing.T, opts ...rest.Option) (*rest.Catalog, error) {
			return rest.NewCatalog(ctx, "strata", uri, append([]rest.Option{rest.WithTLSConfig(tlsCfg)}, opts...)...)
		}
		paula, err := catalog(t, rest.WithCredential("paula:paula-secret"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for id, err := range paula.ListTables(ctx, table.Identifier{"default"}) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, id[len(id)-1])
		}
		if strings.Join(names, ",") != "open-t" {
			t.Fatalf("paula's tables: %v, want [open-t]", names)
		}
		tbl, err := paula.LoadTable(ctx, table.Identifier{"default", "open-t"})
		if err != nil || tbl.CurrentSnapshot() == nil {
			t.Fatalf("paula loads open-t: %v", err)
		}
		if _, err := paula.LoadTable(ctx, table.Identifier{"default", "secret-t"}); err == nil || !errors.Is(err, rest.ErrForbidden) {
			t.Fatalf("paula loads secret-t: %v, want forbidden", err)
		}
		admin, err := catalog(t, rest.WithCredential("admin:admin-secret"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.LoadTable(ctx, table.Identifier{"default", "secret-t"}); err != nil {
			t.Fatalf("admin loads secret-t: %v", err)
		}
		if _, err := catalog(t, rest.WithCredential("paula:wrong")); err == nil {
			t.Fatal("a catalog with a wrong password was opened")
		}
		// Plain HTTP requests: bad credentials are 401, none is anonymous
		// (no tables), Basic works without the token endpoint.
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
		get := func(path, authz string) int {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, uri+path, nil)
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		for _, c := range []struct {
			path, authz string
			want        int
		}{
			{"/v1/namespaces/default/tables/open-t", "Bearer forged", http.StatusUnauthorized},
			{"/v1/namespaces/default/tables/open-t", "Basic " + basic("paula", "wrong"), http.StatusUnauthorized},
			{"/v1/namespaces/default/tables/open-t", "", http.StatusForbidden},
			{"/v1/namespaces/default/tables/open-t", "Basic " + basic("paula", "paula-secret"), http.StatusOK},
			{"/v1/namespaces/default/tables/secret-t", "Basic " + basic("paula", "paula-secret"), http.StatusForbidden},
		} {
			if got := get(c.path, c.authz); got != c.want {
				t.Errorf("GET %s (%q): %d, want %d", c.path, c.authz, got, c.want)
			}
		}
		// carol's client certificate is her principal on the catalog too.
		carol := &http.Client{Transport: &http.Transport{TLSClientConfig: sb.tlsConfig(t, "carol")}}
		for table, want := range map[string]int{"open-t": http.StatusOK, "secret-t": http.StatusForbidden} {
			resp, err := carol.Get(uri + "/v1/namespaces/default/tables/" + table)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("carol (client certificate) loads %s: %d, want %d", table, resp.StatusCode, want)
			}
		}
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"paula"}, "client_secret": {"wrong"}}
		resp, err := hc.PostForm(uri+"/v1/oauth/tokens", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("token with a wrong secret: %d", resp.StatusCode)
		}
		// A plaintext client on the TLS port is not served.
		if resp, err := http.Get("http://" + sb.srv.CatalogAddr() + "/v1/config"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatal("the catalog answered plain HTTP")
			}
		}
	})
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}
