package txn

import "fmt"

// State is a transactional id's state, Kafka's TransactionState.
type State int8

const (
	// Empty: the id has a producer and no transaction (after
	// InitProducerId).
	Empty State = iota
	// Ongoing: partitions (or a group's offsets) were added; records may
	// be written.
	Ongoing
	// PrepareCommit and PrepareAbort: EndTxn (or a timeout, or a fencing
	// InitProducerId) decided; the markers are being written to every
	// partition of the transaction.
	PrepareCommit
	PrepareAbort
	// CompleteCommit and CompleteAbort: every marker is written; the id
	// may begin its next transaction.
	CompleteCommit
	CompleteAbort
	// Dead: the id expired (transactional.id.expiration.ms) and is being
	// removed.
	Dead
	// PrepareEpochFence: an InitProducerId fences the producer of an
	// ongoing transaction; the bumped epoch and the abort are being
	// written. Only in memory: etcd sees PrepareAbort.
	PrepareEpochFence
)

var stateNames = [...]string{
	Empty: "Empty", Ongoing: "Ongoing", PrepareCommit: "PrepareCommit", PrepareAbort: "PrepareAbort",
	CompleteCommit: "CompleteCommit", CompleteAbort: "CompleteAbort", Dead: "Dead", PrepareEpochFence: "PrepareEpochFence",
}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// ParseState is the inverse of String.
func ParseState(name string) (State, bool) {
	for s, n := range stateNames {
		if n == name {
			return State(s), true
		}
	}
	return 0, false
}

// validPrevious is Kafka's TransactionState.validPreviousStates: the only
// transitions the coordinator makes.
var validPrevious = map[State][]State{
	Empty:             {Empty, CompleteCommit, CompleteAbort},
	Ongoing:           {Ongoing, Empty, CompleteCommit, CompleteAbort},
	PrepareCommit:     {Ongoing},
	PrepareAbort:      {Ongoing, PrepareEpochFence},
	CompleteCommit:    {PrepareCommit},
	CompleteAbort:     {PrepareAbort},
	Dead:              {Empty, CompleteCommit, CompleteAbort},
	PrepareEpochFence: {Ongoing},
}

// canTransition reports whether from -> to is a transition of the state
// machine.
func canTransition(from, to State) bool {
	for _, p := range validPrevious[to] {
		if p == from {
			return true
		}
	}
	return false
}

// complete reports whether s ends a transaction (the id may begin another).
func (s State) complete() bool { return s == Empty || s == CompleteCommit || s == CompleteAbort }

// preparing reports whether markers are being written.
func (s State) preparing() bool { return s == PrepareCommit || s == PrepareAbort }

// KafkaName is how DescribeTransactions and ListTransactions name a state
// (Kafka's TransactionState.name).
func (s State) KafkaName() string { return s.String() }
