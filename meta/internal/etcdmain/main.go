// Command etcdmain is a stock etcd server, the version go.mod pins
// (go.etcd.io/etcd/server/v3), exactly as upstream's own main: meta's tests
// build it and run it as a separate process with etcd's default limits, to
// show that Strata needs no etcd tuning. images/etcd builds the same main for
// the container image.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
