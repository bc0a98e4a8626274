package ingest

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227) are refused the way the KIP allows: this broker
// keeps none, and a request that asks for a new one (epoch 0) gets session
// id 0 in its answer, which tells the client to keep sending full fetch
// requests.
//
// The epoch says what the request is, as in Kafka's FetchManager: 0
// (INITIAL) and -1 (FINAL) are full requests, served whatever session id
// they carry (a full request closes the session it names; there is none
// to close here), and any other epoch is an incremental request against
// a session, which cannot exist here: FETCH_SESSION_ID_NOT_FOUND. Clients
// that never use sessions send id -1 with epoch -1 (kafka-go): a full,
// sessionless fetch.
const (
	fetchSessionInitialEpoch = 0
	fetchSessionFinalEpoch   = -1
)

// fetchSessionError is the top-level error a Fetch gets for its session
// fields, 0 when it is served as a full request.
func fetchSessionError(req *kmsg.FetchRequest) int16 {
	if req.Version < 7 {
		return 0 // no session fields
	}
	switch req.SessionEpoch {
	case fetchSessionInitialEpoch, fetchSessionFinalEpoch:
		return 0
	}
	return kerr.FetchSessionIDNotFound.Code
}
