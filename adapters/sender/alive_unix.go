//go:build linux || darwin

package sender

import (
	"crypto/tls"
	"errors"
	"syscall"
)

// alive says whether an idle connection can carry a request: the endpoint
// may have closed it while it waited, and then a FIN (or an RST) is waiting
// on the socket. It peeks at the socket without blocking, one system call.
// Anything waiting makes the connection unusable: an end, an error, or bytes
// nobody asked for (a TLS close_notify among them).
func alive(c *conn) bool {
	if c.br.Buffered() > 0 {
		return false
	}
	nc := c.Conn
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
		return true // answered either way: never wait for the socket
	})
	return err == nil && open
}
