package broker

import "testing"

func TestInterBrokerCredential(t *testing.T) {
	secret, other := []byte("0123456789abcdef0123456789abcdef"), []byte("another secret of thirty-two b.")
	if u := InterBrokerUser(7); u != "strata-broker-7" {
		t.Fatalf("user %q", u)
	}
	pw := InterBrokerPassword(secret, 7)
	for _, tc := range []struct {
		name   string
		secret []byte
		id     int32
		pass   string
		ok     bool
	}{
		{"own password", secret, 7, pw, true},
		{"another broker's password", secret, 8, pw, false},
		{"another cluster's password", other, 7, pw, false},
		{"no secret", nil, 7, pw, false},
		{"empty password", secret, 7, "", false},
	} {
		if err := CheckInterBrokerPassword(tc.secret, tc.id, tc.pass); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	for _, tc := range []struct {
		user string
		id   int32
		ok   bool
	}{
		{"strata-broker-7", 7, true},
		{"strata-broker-0", 0, true},
		{"strata-broker-07", 0, false},
		{"strata-broker-+7", 0, false},
		{"strata-broker--1", 0, false},
		{"strata-broker-", 0, false},
		{"strata-broker-99999999999", 0, false},
		{"alice", 0, false},
	} {
		if id, ok := ParseInterBrokerUser(tc.user); id != tc.id || ok != tc.ok {
			t.Errorf("ParseInterBrokerUser(%q) = %d, %v", tc.user, id, ok)
		}
	}
}
