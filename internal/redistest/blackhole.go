package redistest

import (
	"io"
	"net"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// BlackHole returns the address of a Redis behind a dead network path: a
// listener on 127.0.0.1 that accepts connections, reads what it is sent and
// never answers. Its connections close when the test ends.
func BlackHole(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// BlackHoleClient is a client of a black hole with go-redis's default
// options: a 5s ReadTimeout, 3 retries, no ContextTimeoutEnabled.
func BlackHoleClient(t testing.TB) *goredis.Client {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: BlackHole(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
