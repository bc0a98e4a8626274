package quota

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Entity types Kafka's client quotas know (ip, for connection creation
// rates, is refused: Strata does not enforce it).
const (
	TypeUser     = "user"
	TypeClientID = "client-id"
)

// Quota keys.
const (
	ProducerByteRate       = "producer_byte_rate"
	ConsumerByteRate       = "consumer_byte_rate"
	RequestPercentage      = "request_percentage"
	ControllerMutationRate = "controller_mutation_rate"
)

// Keys lists the quota keys, sorted.
var Keys = []string{ConsumerByteRate, ControllerMutationRate, ProducerByteRate, RequestPercentage}

// ErrInvalid is wrapped for an entity or a value Kafka would refuse
// (INVALID_REQUEST).
var ErrInvalid = errors.New("invalid client quota")

// Component is one part of an entity: a user or a client id, by name or,
// with Default set, the default of its type.
type Component struct {
	Type    string
	Name    string
	Default bool
}

// Entity is what a quota applies to: a user, a client id, or a user and
// a client id (each a name or the default).
type Entity []Component

// Values are a quota's values by key.
type Values map[string]float64

// Op changes one value of an entity's quota: set it, or remove it.
type Op struct {
	Key    string
	Value  float64
	Remove bool
}

// Validate checks the entity's types (user and/or client-id, each once).
func (e Entity) Validate() error {
	if len(e) == 0 || len(e) > 2 {
		return fmt.Errorf("%w: an entity is a user, a client-id, or both", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, c := range e {
		if c.Type != TypeUser && c.Type != TypeClientID {
			return fmt.Errorf("%w: entity type %q (want user or client-id)", ErrInvalid, c.Type)
		}
		if seen[c.Type] {
			return fmt.Errorf("%w: entity type %q twice", ErrInvalid, c.Type)
		}
		seen[c.Type] = true
		if !c.Default && c.Name == "" && c.Type == TypeUser {
			return fmt.Errorf("%w: empty user name (use the default entity)", ErrInvalid)
		}
	}
	return nil
}

// ValidateValue checks a quota key and value as Kafka does.
func ValidateValue(key string, v float64) error {
	switch key {
	case ProducerByteRate, ConsumerByteRate, ControllerMutationRate, RequestPercentage:
	default:
		return fmt.Errorf("%w: unknown quota key %q", ErrInvalid, key)
	}
	if v <= 0 {
		return fmt.Errorf("%w: %s must be positive, got %v", ErrInvalid, key, v)
	}
	if (key == ProducerByteRate || key == ConsumerByteRate) && v != float64(int64(v)) {
		return fmt.Errorf("%w: %s must be a whole number of bytes, got %v", ErrInvalid, key, v)
	}
	return nil
}

// defaultName is how a default component is written in a key, as
// Kafka's ZooKeeper paths wrote it; names are escaped, so a user called
// "<default>" is written %3Cdefault%3E.
const defaultName = "<default>"

// Key is the entity's canonical form: "user=<name>", "client-id=<name>"
// or "user=<name>/client-id=<name>", names path-escaped, defaults
// "<default>". Two entities are the same exactly when their keys are.
func (e Entity) Key() string {
	var user, client string
	for _, c := range e {
		v := url.PathEscape(c.Name)
		if c.Default {
			v = defaultName
		}
		if c.Type == TypeUser {
			user = TypeUser + "=" + v
		} else {
			client = TypeClientID + "=" + v
		}
	}
	switch {
	case user != "" && client != "":
		return user + "/" + client
	case user != "":
		return user
	}
	return client
}

// ParseKey reads Key's form back.
func ParseKey(key string) (Entity, error) {
	var e Entity
	for _, part := range strings.Split(key, "/") {
		typ, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%w: entity key %q", ErrInvalid, key)
		}
		c := Component{Type: typ}
		if v == defaultName {
			c.Default = true
		} else {
			name, err := url.PathUnescape(v)
			if err != nil {
				return nil, fmt.Errorf("%w: entity key %q: %v", ErrInvalid, key, err)
			}
			c.Name = name
		}
		e = append(e, c)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	e.sort()
	return e, nil
}

func (e Entity) sort() {
	sort.Slice(e, func(i, j int) bool { return e[i].Type > e[j].Type }) // user before client-id
}

func (e Entity) String() string { return e.Key() }

// component returns e's component of typ.
func (e Entity) component(typ string) (Component, bool) {
	for _, c := range e {
		if c.Type == typ {
			return c, true
		}
	}
	return Component{}, false
}
