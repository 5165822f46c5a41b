package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// hub numbers events, appends them to the store and fans them out to
// subscribers. A subscriber's channel is buffered; one that falls
// further behind is cut loose and catches up from the store, so the
// engine never waits for a subscriber.
type hub struct {
	e      *Engine
	mu     sync.Mutex
	seq    uint64
	loaded bool // seq continues the store's log
	subs   map[chan Event]struct{}
}

func newHub(e *Engine) *hub { return &hub{e: e, subs: map[chan Event]struct{}{}} }

// load continues the sequence where the store's log ends. Run calls it
// first; anything that numbers or reads the sequence before (a Submit
// before Run) loads it too.
func (h *hub) load(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.loadLocked(ctx)
}

func (h *hub) loadLocked(ctx context.Context) error {
	if h.loaded {
		return nil
	}
	last, err := h.e.store.LastEventSeq(ctx)
	if err != nil {
		return fmt.Errorf("orchestrator: reading the event log: %w", err)
	}
	h.seq, h.loaded = max(h.seq, last), true
	return nil
}

func (h *hub) publish(typ string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		h.e.log.Error("orchestrator: event data", "type", typ, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.e.storeErr(h.loadLocked(context.Background()), "numbering events")
	ev := Event{Type: typ, Timestamp: h.e.now(), Data: raw}
	seq, err := h.e.store.AppendEvent(context.Background(), ev)
	if err != nil {
		// Unstored, the event still reaches live subscribers.
		h.e.storeErr(err, "appending event")
		seq = h.seq + 1
	}
	// Engines sharing the store number one log: seq may skip the events
	// another engine appended, which followers then read from the store.
	ev.Seq = max(seq, h.seq+1)
	h.seq = ev.Seq
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// subscribe registers a channel for the events after the current one,
// and returns that one's seq.
func (h *hub) subscribe() (chan Event, uint64) {
	ch := make(chan Event, h.e.cfg.SubscriberBuffer)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.e.storeErr(h.loadLocked(context.Background()), "numbering events")
	h.subs[ch] = struct{}{}
	return ch, h.seq
}

func (h *hub) unsubscribe(ch chan Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// LastSeq returns the seq of the latest event.
func (e *Engine) LastSeq() uint64 {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	e.storeErr(e.hub.loadLocked(context.Background()), "numbering events")
	return e.hub.seq
}

// replayBatch is how many stored events a catch-up reads at a time.
const replayBatch = 1000

// Subscribe calls fn with every event after seq after, in order and each
// once, first those in the store and then the new ones as they are
// published, until ctx is done (nil) or fn returns an error (that
// error). Events the store no longer keeps are reported by one EventGap
// event. fn runs on the caller's goroutine; a slow fn delays only its
// own subscription.
func (e *Engine) Subscribe(ctx context.Context, after uint64, fn func(Event) error) error {
	for {
		ch, cur := e.hub.subscribe()
		err := e.catchUp(ctx, &after, cur, fn)
		if err == nil {
			err = e.follow(ctx, ch, &after, fn)
		}
		e.hub.unsubscribe(ch)
		if err != nil || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// Cut loose for lagging: catch up from the store again.
	}
}

// catchUp delivers the stored events after *after up to cur.
func (e *Engine) catchUp(ctx context.Context, after *uint64, cur uint64, fn func(Event) error) error {
	for *after < cur {
		if ctx.Err() != nil {
			return nil
		}
		evs, err := e.store.Events(ctx, *after, replayBatch)
		if err != nil {
			return fmt.Errorf("orchestrator: reading the event log: %w", err)
		}
		if len(evs) == 0 || evs[0].Seq > *after+1 {
			to := cur
			if len(evs) > 0 {
				to = evs[0].Seq - 1
			}
			gap, _ := json.Marshal(map[string]uint64{"from": *after + 1, "to": to})
			if err := fn(Event{Seq: to, Type: EventGap, Timestamp: e.now(), Data: gap}); err != nil {
				return err
			}
			*after = to
		}
		for _, ev := range evs {
			if ev.Seq > cur {
				return nil
			}
			if err := fn(ev); err != nil {
				return err
			}
			*after = ev.Seq
		}
	}
	return nil
}

// follow delivers live events until ctx is done, fn fails, or the hub
// cuts the channel loose (nil).
func (e *Engine) follow(ctx context.Context, ch chan Event, after *uint64, fn func(Event) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			if ev.Seq <= *after {
				continue
			}
			// Events another engine on the same store appended.
			if err := e.catchUp(ctx, after, ev.Seq-1, fn); err != nil {
				return err
			}
			if err := fn(ev); err != nil {
				return err
			}
			*after = ev.Seq
		}
	}
}
