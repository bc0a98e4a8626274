// Command strata-init is the one-shot set-up job of compose.yaml, shipped in
// the strata image next to the broker (images/strata/Dockerfile):
//
//	strata-init bucket --s3-endpoint http://minio:9000 s3://strata/cluster
//	strata-init topic --brokers strata-1:19091 -p 3 -r 3 demo
//
// `bucket` creates the object store bucket the brokers tier into (the
// credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as for
// `strata serve`); `topic` creates a topic, like `strata topic create`. Both
// wait for the service to answer (containers start in any order) and succeed
// when the bucket or topic already exists, so `docker compose up` can be run
// again on the same volumes. Images built FROM scratch have no shell to
// write `until ...; do sleep 1; done || true` with, hence this program; it
// also saves pulling minio/mc only to create one bucket.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/objstore/s3"
)

const usage = `usage:
  strata-init bucket [--s3-endpoint URL] [--s3-region R] [--timeout D] s3://BUCKET[/PREFIX]
  strata-init topic  [--brokers H:P,...] [-p N] [-r N] [-c name=value]... [--timeout D]
                     [--tls-ca-file CA.pem] [--scram-user U] TOPIC`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "bucket":
		err = bucketCmd(os.Args[2:])
	case "topic":
		err = topicCmd(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "strata-init:", err)
		os.Exit(1)
	}
}

// retry runs f until it succeeds or ctx ends, and returns f's last error.
func retry(ctx context.Context, what string, f func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		fmt.Fprintf(os.Stderr, "strata-init: %s: %v (retrying)\n", what, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: gave up: %w", what, err)
		case <-time.After(time.Second):
		}
	}
}

func bucketCmd(args []string) error {
	fs := flag.NewFlagSet("bucket", flag.ExitOnError)
	endpoint := fs.String("s3-endpoint", "", "S3-compatible endpoint URL, e.g. http://minio:9000 (default AWS S3)")
	region := fs.String("s3-region", "", "S3 region (default: discovered)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the store")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("bucket: want one s3://bucket[/prefix] argument")
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return fmt.Errorf("bucket: %q: want s3://bucket[/prefix]", fs.Arg(0))
	}
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return errors.New("bucket: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	b, err := s3.New(s3.Config{
		Endpoint:    *endpoint,
		Bucket:      u.Host,
		Region:      *region,
		Credentials: credentials.NewStaticV4(id, secret, os.Getenv("AWS_SESSION_TOKEN")),
		PathStyle:   *endpoint != "",
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := retry(ctx, "create bucket "+u.Host, b.MakeBucket); err != nil {
		return err
	}
	fmt.Printf("bucket %s ready\n", u.Host)
	return nil
}

type configFlags map[string]*string

func (c configFlags) String() string { return "" }
func (c configFlags) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("%q: want name=value", kv)
	}
	c[k] = &v
	return nil
}

func topicCmd(args []string) error {
	fs := flag.NewFlagSet("topic", flag.ExitOnError)
	brokers := fs.String("brokers", "localhost:9092", "bootstrap brokers, comma separated")
	partitions := fs.Int("p", -1, "partitions (-1: broker default)")
	rf := fs.Int("r", -1, "replication factor (-1: broker default)")
	configs := configFlags{}
	fs.Var(configs, "c", "topic config name=value (repeatable)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the cluster")
	caFile := fs.String("tls-ca-file", "", "PEM CA bundle: connect over TLS, trusting it (SSL, SASL_SSL listeners)")
	user := fs.String("scram-user", "", "authenticate with SCRAM-SHA-512 as this user (password from $STRATA_INIT_SCRAM_PASSWORD)")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("topic: want one topic name")
	}
	topic := fs.Arg(0)
	opts := []kgo.Opt{kgo.SeedBrokers(strings.Split(*brokers, ",")...)}
	if *caFile != "" {
		pool, err := auth.LoadCertPool(*caFile)
		if err != nil {
			return err
		}
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	if *user != "" {
		opts = append(opts, kgo.SASL(scram.Auth{User: *user, Pass: os.Getenv("STRATA_INIT_SCRAM_PASSWORD")}.AsSha512Mechanism()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var created kadm.CreateTopicResponse
	err = retry(ctx, "create topic "+topic, func(ctx context.Context) error {
		// Wait until as many brokers as replicas are registered: a topic
		// created before the others joined would have fewer replicas.
		// (A plain Metadata request: kadm's answers from the client's
		// cache, which may predate the last broker's registration.)
		if *rf > 0 {
			md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			if len(md.Brokers) < *rf {
				return fmt.Errorf("%d brokers up, want %d", len(md.Brokers), *rf)
			}
		}
		resp, err := adm.CreateTopic(ctx, int32(*partitions), int16(*rf), configs, topic)
		if err == nil {
			err = resp.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			created = resp
			return nil
		}
		created = resp
		return err
	})
	if err != nil {
		return err
	}
	if created.Err != nil {
		fmt.Printf("topic %s already exists\n", topic)
	} else {
		fmt.Printf("created topic %s (%d partitions, replication factor %d)\n", topic, created.NumPartitions, created.ReplicationFactor)
	}
	return nil
}
