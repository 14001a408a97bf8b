package testpeer

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreeAddr returns a loopback host:port that nothing listens on, for a
// server that must be told its address before it binds (a config file, a
// child process). Such a port is closed again before use, so it is picked
// below the kernel's ephemeral range: a port from bind(":0") is an
// ephemeral one, which any outgoing connection on the machine may take in
// the gap and make the server's bind fail with "address already in use".
func FreeAddr() (string, error) {
	lo, hi := 10000, ephemeralLow()-1
	if hi-lo < 1000 {
		lo, hi = 10000, 32767
	}
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			return "", err
		}
		return addr, nil
	}
	return "", errors.New("testpeer: no free loopback port below the ephemeral range")
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 10000 {
		return 32768
	}
	return n
}
