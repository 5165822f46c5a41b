package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/sqlstore"
)

// TestMain lets the crash test run the server as a child process of the
// test binary, which it can kill.
func TestMain(m *testing.M) {
	if args := os.Getenv("PORTICO_TEST_CHILD_ARGS"); args != "" {
		err := run(context.Background(), strings.Split(args, "\x1f"), os.Getenv, os.Stderr, func(addr string) {
			fmt.Fprintln(os.Stdout, "ADDR", addr)
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Killing the server with SIGKILL during a burst of writes loses no write
// it acknowledged, and the database opens cleanly afterwards.
func TestSIGKILLLosesNoAcknowledgedWrite(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"PORTICO_TEST_CHILD_ARGS="+strings.Join([]string{"-addr", "127.0.0.1:0", "-nats-addr", "off", "-data", data, "-rate-auth", "0", "-rate-general", "0"}, "\x1f"),
		"PORTICO_ADMIN_PASSWORD=correct-horse-battery",
		"PORTICO_MODULE_UPSTREAM=off",
	)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the child server starts")
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	require.True(t, ok, line)
	child := &server{t: t, base: "http://" + addr + "/api/v1", stderr: &syncBuffer{}}
	admin := child.login("admin", "correct-horse-battery")

	// Writers create clients and keys until the server dies under them.
	var (
		mu      sync.Mutex
		clients []string
		keys    []string
		acked   atomic.Int64
		wg      sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", child.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := client.Do(req)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, _ = bufio.NewReader(resp.Body).WriteTo(b)
		return resp.StatusCode, b.String()
	}
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-c%d", w, i)
				status, _ := post("/auth/clients/create", `{"client_id":"`+id+`","password":"password-`+id+`","roles":[]}`)
				if status == 0 {
					return // the server is gone
				}
				if status == http.StatusCreated {
					mu.Lock()
					clients = append(clients, id)
					mu.Unlock()
					acked.Add(1)
				}
				status, body := post("/keys", `{"name":"`+id+`"}`)
				if status == 0 {
					return
				}
				if status == http.StatusCreated {
					mu.Lock()
					keys = append(keys, field(t, body, "id"))
					mu.Unlock()
					acked.Add(1)
				}
			}
		})
	}
	for acked.Load() < 150 {
		time.Sleep(5 * time.Millisecond) // watching a child process; there is no clock to inject
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	killed = true
	_ = cmd.Wait()
	wg.Wait()
	t.Logf("%d clients and %d keys acknowledged before SIGKILL", len(clients), len(keys))

	// The file is consistent before anything repairs it.
	db, err := sqlstore.Open(context.Background(), filepath.Join(data, "portico.db"), sqlstore.Config{})
	require.NoError(t, err)
	var check string
	require.NoError(t, db.SQL().QueryRow("PRAGMA integrity_check").Scan(&check))
	assert.Equal(t, "ok", check)
	require.NoError(t, db.Close())

	again := startServer(t, data, map[string]string{"PORTICO_ADMIN_PASSWORD": "correct-horse-battery", "PORTICO_RATE_GENERAL": "0"}, "-nats-addr", "off")
	admin = again.login("admin", "correct-horse-battery")
	for _, id := range clients {
		assert.Equal(t, http.StatusOK, again.do("GET", "/auth/clients/"+id, admin, "").status, "acknowledged client %s survives", id)
	}
	for _, id := range keys {
		assert.Equal(t, http.StatusOK, again.do("GET", "/key/"+id, admin, "").status, "acknowledged key %s survives", id)
	}
}
