package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/fileutil"
)

func newCertsCmd() *cobra.Command {
	var dir string
	var hosts, clients []string
	var broker, minioDir string
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create a self-signed development CA and broker and client certificates",
		Long: `Creates (or reuses) a development CA in --dir (ca.pem, ca-key.pem) and signs a
broker certificate (<broker>.pem, <broker>-key.pem; server and client use, for
--hosts) and one client certificate per --client (<name>.pem, <name>-key.pem,
subject CN=<name>, so its principal on an SSL listener is User:CN=<name>).
For local use and tests, not production.

  strata certs --dir ./certs --hosts localhost,127.0.0.1 --client alice
  strata serve --listeners SSL://127.0.0.1:9093 --tls-cert-file certs/broker.pem \
      --tls-key-file certs/broker-key.pem --tls-client-ca-file certs/ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			ca, err := auth.OpenDevCA(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "CA        %s\n", ca.CertFile())
			if broker != "" {
				cert, key, err := ca.Issue(broker, hosts)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "broker    %s %s (hosts %v)\n", cert, key, hosts)
				if minioDir != "" {
					if err := minioLayout(minioDir, cert, key, ca.CertFile()); err != nil {
						return err
					}
					fmt.Fprintf(out, "minio     %s (public.crt, private.key, CAs/ca.crt)\n", minioDir)
				}
			}
			for _, c := range clients {
				cert, key, err := ca.Issue(c, nil)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "client    %s %s (principal User:CN=%s)\n", cert, key, c)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "./strata-certs", "directory of the CA and the certificates")
	f.StringVar(&broker, "broker", "broker", "name of the broker certificate files (empty: none)")
	f.StringSliceVar(&hosts, "hosts", []string{"localhost", "127.0.0.1"}, "host names and IPs the broker certificate is valid for")
	f.StringSliceVar(&clients, "client", nil, "client certificates to create, by name (CN), repeatable")
	f.StringVar(&minioDir, "minio-certs-dir", "", "also copy the broker certificate into this directory in MinIO's --certs-dir layout (public.crt, private.key, CAs/ca.crt), for a TLS MinIO of the same hosts")
	return cmd
}

// minioLayout copies a server certificate, its key and the CA into the
// file names MinIO's --certs-dir expects.
func minioLayout(dir, cert, key, ca string) error {
	for _, c := range []struct {
		from, to string
		perm     os.FileMode
	}{{cert, "public.crt", 0o644}, {key, "private.key", 0o600}, {ca, filepath.Join("CAs", "ca.crt"), 0o644}} {
		raw, err := os.ReadFile(c.from)
		if err != nil {
			return fmt.Errorf("minio certs: %w", err)
		}
		to := filepath.Join(dir, c.to)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("minio certs: %w", err)
		}
		if err := fileutil.WriteFile(to, raw, c.perm); err != nil {
			return fmt.Errorf("minio certs %s: %w", to, err)
		}
	}
	return nil
}
