package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/auth"
)

func newCertsCmd() *cobra.Command {
	var dir string
	var hosts, clients []string
	var broker string
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
	return cmd
}
