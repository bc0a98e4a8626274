package broker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Inter-broker identity. A follower proves to the leader it fetches from
// that it is the broker its replica fetches name: it authenticates with
// SASL PLAIN as InterBrokerUser(id), with a password derived from the
// cluster secret that meta keeps in etcd (meta.Client.ClusterSecret). No
// password is stored: every broker derives any broker's password to check
// it, and only a holder of the secret can.

// InterBrokerUserPrefix starts every broker's SASL user name; no other
// user may be given a name that starts with it.
const InterBrokerUserPrefix = "strata-broker-"

// InterBrokerUser is the SASL user of broker id: "strata-broker-<id>", so
// its principal is User:strata-broker-<id>.
func InterBrokerUser(id int32) string { return InterBrokerUserPrefix + strconv.Itoa(int(id)) }

// InterBrokerPassword is broker id's password: HMAC-SHA256 of its user
// name keyed by the cluster secret, unpadded URL-safe base64.
func InterBrokerPassword(secret []byte, id int32) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("strata inter-broker PLAIN\x00" + InterBrokerUser(id)))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// ParseInterBrokerUser returns the broker id of an inter-broker user
// name; ok is false for any other name. It accepts exactly what
// InterBrokerUser writes (no sign, no leading zeros), so one broker has
// one name.
func ParseInterBrokerUser(user string) (id int32, ok bool) {
	rest, found := strings.CutPrefix(user, InterBrokerUserPrefix)
	if !found {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != rest {
		return 0, false
	}
	return int32(n), true
}

// CheckInterBrokerPassword reports whether password is broker id's, in
// constant time.
func CheckInterBrokerPassword(secret []byte, id int32, password string) error {
	if len(secret) == 0 {
		return fmt.Errorf("broker %d: no cluster secret to check inter-broker passwords", id)
	}
	if !hmac.Equal([]byte(InterBrokerPassword(secret, id)), []byte(password)) {
		return fmt.Errorf("broker %d: wrong inter-broker password", id)
	}
	return nil
}
