package periodic

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		done := make(chan error)
		go func() { done <- Run(ctx, time.Minute, func(context.Context) { calls++ }) }()
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		assert.Equal(t, 3, calls, "once a minute")
		cancel()
		assert.NoError(t, <-done, "a cancelled context ends Run cleanly")
	})
}
