package embedetcd

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePortsBelowEphemeralRange: the ports are distinct, outside the
// kernel's ephemeral range (so no ":0" listener or outgoing connection
// takes one between the pick and the bind), and bindable.
func TestFreePortsBelowEphemeralRange(t *testing.T) {
	ports, err := FreePorts(50)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d handed out twice in %v", p, ports)
		}
		seen[p] = true
		if p < pickPortMin || p > pickPortMax {
			t.Errorf("port %d outside [%d, %d]", p, pickPortMin, pickPortMax)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d not bindable: %v", p, err)
			continue
		}
		l.Close()
	}
	more, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	if seen[more[0]] {
		t.Errorf("a later call handed out port %d again", more[0])
	}
}
