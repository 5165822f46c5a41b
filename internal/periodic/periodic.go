// Package periodic runs background work on a ticker: the body of the
// packages' Run(ctx) methods.
package periodic

import (
	"context"
	"time"
)

// Run calls fn every interval until ctx is done, and then returns nil.
// fn runs on the caller's goroutine, so runs never overlap.
func Run(ctx context.Context, interval time.Duration, fn func(context.Context)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			fn(ctx)
		}
	}
}
