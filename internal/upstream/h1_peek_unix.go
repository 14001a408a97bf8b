//go:build unix

package upstream

import (
	"errors"
	"net"
	"syscall"
)

// alive probes an idle connection without blocking: MSG_PEEK sees a FIN
// (0 bytes) or stray bytes the origin sent while the connection was idle
// (a TLS close_notify, an unsolicited 408); either way it is not reusable.
// Only "nothing to read yet" means alive.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
		return true // never wait for readiness
	})
	return err == nil && ok
}
