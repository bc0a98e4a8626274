package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stratalog/strata/meta"
)

// etcdFlags are how a tool reaches etcd directly.
type etcdFlags struct {
	endpoints []string
	tls       meta.EtcdSecurity
}

func (e *etcdFlags) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringSliceVar(&e.endpoints, "etcd-endpoints", nil, "etcd endpoints, comma separated: talk to etcd directly instead of to --brokers")
	registerEtcdSecurity(f, &e.tls)
}

func (e *etcdFlags) dial(ctx context.Context, cluster string) (*meta.Client, error) {
	return meta.DialSecure(ctx, e.endpoints, cluster, e.tls)
}

// registerEtcdSecurity adds the flags of etcd's TLS and credentials.
func registerEtcdSecurity(f *pflag.FlagSet, s *meta.EtcdSecurity) {
	f.StringVar(&s.CAFile, "etcd-ca-file", "", "PEM CA bundle to verify etcd's TLS certificate with (https:// endpoints)")
	f.StringVar(&s.CertFile, "etcd-cert-file", "", "PEM client certificate for etcd (its --client-cert-auth)")
	f.StringVar(&s.KeyFile, "etcd-key-file", "", "PEM key of --etcd-cert-file")
	f.StringVar(&s.Username, "etcd-username", "", "etcd user (etcd's auth enabled)")
	f.StringVar(&s.Password, "etcd-password", "", "password of --etcd-username")
}
