package main

import (
	"log/slog"
	"syscall"
)

// fdReserve is what the broker needs besides segment files: client and
// replica connections, the embedded etcd, partition directories being
// opened, snapshots and checkpoints being written.
const fdReserve = 1024

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit (what an
// unprivileged process may do) and warns when the cap on open segment
// files leaves less than fdReserve descriptors for everything else.
func raiseFileLimit(logger *slog.Logger, maxOpenFiles int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logger.Warn("cannot read the open-file limit", "err", err)
		return
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			logger.Warn("cannot raise the open-file limit to the hard limit", "soft", lim.Cur, "hard", lim.Max, "err", err)
		} else {
			logger.Info("raised the open-file limit", "from", lim.Cur, "to", lim.Max)
			lim = raised
		}
	}
	if uint64(maxOpenFiles)+fdReserve > lim.Cur {
		logger.Warn("--log-max-open-files leaves too few file descriptors for connections and etcd under the open-file limit: lower it or raise the limit (ulimit -n)",
			"log_max_open_files", maxOpenFiles, "reserve", fdReserve, "limit", lim.Cur)
	}
}
