package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	"github.com/xdg-go/scram"
)

// SCRAM (RFC 5802, RFC 7677; Kafka's KIP-84). A user's credential for one
// mechanism is what the server keeps: the salt, the iteration count, and
// StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey =
// HMAC(SaltedPassword, "Server Key"). The password is never kept; who
// holds the credential can check a proof but not log in.

// The SCRAM mechanisms, as SaslHandshake and Kafka's ScramMechanism name
// them, with the wire codes of AlterUserScramCredentials.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Iteration bounds, Kafka's (ScramMechanism.minIterations; 16384 max).
const (
	ScramMinIterations     = 4096
	ScramMaxIterations     = 16384
	ScramDefaultIterations = 8192
)

// ErrUnknownMechanism is returned for a mechanism that is not SCRAM's.
var ErrUnknownMechanism = errors.New("unknown SCRAM mechanism")

// ScramCredential is the server-side credential of one user and mechanism.
type ScramCredential struct {
	Mechanism  string `json:"mechanism"`
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// ScramHash is the hash of mechanism (for xdg-go/scram).
func ScramHash(mechanism string) (scram.HashGeneratorFcn, error) {
	switch mechanism {
	case ScramSHA256:
		return scram.SHA256, nil
	case ScramSHA512:
		return scram.SHA512, nil
	}
	return nil, fmt.Errorf("%w %q (want %s or %s)", ErrUnknownMechanism, mechanism, ScramSHA256, ScramSHA512)
}

// scramHashFunc is the hash of mechanism.
func scramHashFunc(mechanism string) (func() hash.Hash, error) {
	switch mechanism {
	case ScramSHA256:
		return sha256.New, nil
	case ScramSHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownMechanism, mechanism)
}

// ScramMechanismCode is the mechanism's code in AlterUserScramCredentials
// and DescribeUserScramCredentials (1: SHA-256, 2: SHA-512; 0 unknown).
func ScramMechanismCode(mechanism string) int8 {
	switch mechanism {
	case ScramSHA256:
		return 1
	case ScramSHA512:
		return 2
	}
	return 0
}

// ScramMechanismName is the inverse of ScramMechanismCode ("" if unknown).
func ScramMechanismName(code int8) string {
	switch code {
	case 1:
		return ScramSHA256
	case 2:
		return ScramSHA512
	}
	return ""
}

func checkIterations(n int) error {
	if n < ScramMinIterations || n > ScramMaxIterations {
		return fmt.Errorf("SCRAM iterations %d: want %d to %d", n, ScramMinIterations, ScramMaxIterations)
	}
	return nil
}

// NewScramCredential salts password (SASLprep first, as RFC 5802 asks)
// with a random 32-byte salt.
func NewScramCredential(mechanism, user, password string, iterations int) (ScramCredential, error) {
	h, err := ScramHash(mechanism)
	if err != nil {
		return ScramCredential{}, err
	}
	if iterations == 0 {
		iterations = ScramDefaultIterations
	}
	if err := checkIterations(iterations); err != nil {
		return ScramCredential{}, err
	}
	if password == "" {
		return ScramCredential{}, errors.New("SCRAM: empty password")
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return ScramCredential{}, err
	}
	c, err := h.NewClient(user, password, "")
	if err != nil {
		return ScramCredential{}, fmt.Errorf("SCRAM credential of %q: %w", user, err)
	}
	sc := c.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	return ScramCredential{Mechanism: mechanism, Salt: salt, Iterations: iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
}

// ScramCredentialFromSalted derives the credential from a salted password,
// as AlterUserScramCredentials sends it (the client salted it).
func ScramCredentialFromSalted(mechanism string, salt, salted []byte, iterations int) (ScramCredential, error) {
	h, err := scramHashFunc(mechanism)
	if err != nil {
		return ScramCredential{}, err
	}
	if err := checkIterations(iterations); err != nil {
		return ScramCredential{}, err
	}
	if len(salt) == 0 || len(salted) != h().Size() {
		return ScramCredential{}, fmt.Errorf("SCRAM %s: salt of %d bytes, salted password of %d (want %d)", mechanism, len(salt), len(salted), h().Size())
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := h()
	stored.Write(clientKey)
	return ScramCredential{Mechanism: mechanism, Salt: append([]byte(nil), salt...), Iterations: iterations,
		StoredKey: stored.Sum(nil), ServerKey: mac(salted, "Server Key")}, nil
}
