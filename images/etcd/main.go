// Command etcd is the etcd server, built statically for the FROM-scratch
// image images/etcd/Dockerfile (no registry is reachable where Strata's
// integration suite runs, so quay.io/coreos/etcd cannot be pulled).
//
// It is exactly upstream's own main (go.etcd.io/etcd/server/v3/main.go):
// etcdmain.Main takes the same flags and ETCD_* environment variables as the
// official etcd binary, so compose.yaml and the integration tests run this
// image and the official one with the same command line. The version is
// pinned in this directory's go.mod, its own module, so the broker's go.mod
// is untouched; images/build.sh builds it with CGO_ENABLED=0.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
