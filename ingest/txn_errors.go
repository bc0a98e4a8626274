package ingest

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// txnErrorCode is errorCode for the transactional APIs: PRODUCER_FENCED
// (KIP-588) goes to older request versions as INVALID_PRODUCER_EPOCH,
// which they know. fencedFrom is the first version that knows it.
func txnErrorCode(err error, version, fencedFrom int16) int16 {
	if version < fencedFrom && errors.Is(err, kerr.ProducerFenced) {
		return kerr.InvalidProducerEpoch.Code
	}
	return errorCode(err)
}

// errNoTransactions refuses transactional ids on a broker without a
// coordinator, with a code clients treat as fatal (instead of retrying
// COORDINATOR_NOT_AVAILABLE for their whole timeout).
func errNoTransactions() error {
	return fmt.Errorf("%w: transactions are not enabled on this broker", kerr.TransactionalIDAuthorizationFailed)
}
