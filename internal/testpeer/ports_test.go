package testpeer

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeAddr(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("FreeAddr() = %q, want a 127.0.0.1 address", addr)
		}
		if p, _ := strconv.Atoi(port); p < 10000 || p >= low {
			t.Fatalf("port %d is not in [10000, %d): the ephemeral range is where outgoing connections take ports", p, low)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("the free address %s cannot be bound: %v", addr, err)
		}
		ln.Close()
	}
}
