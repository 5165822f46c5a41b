package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// streamParams reads where a stream resumes (the Last-Event-ID header,
// else ?since=; 0 is from the start of the log, and without either the
// stream starts with the next event) and the ?types= filter (a comma
// list of event types, families like "task.*", or "*").
func (e *Engine) streamParams(r *http.Request, header bool) (after uint64, filter []string, err error) {
	after = e.LastSeq()
	s := r.URL.Query().Get("since")
	if header {
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			s = id
		}
	}
	if s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, nil, invalid("since", "must be an event sequence number")
		}
	}
	if t := r.URL.Query().Get("types"); t != "" {
		filter = strings.Split(t, ",")
		if len(filter) > maxWebhookEvents {
			return 0, nil, invalid("types", "has more than %d entries", maxWebhookEvents)
		}
		for _, f := range filter {
			if !validEventFilter(f) {
				return 0, nil, invalid("types", "must list event types, families like task.*, or *")
			}
		}
	}
	return after, filter, nil
}

// streamContext ends with the request or when the engine stops.
func (e *Engine) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(e.base, cancel)
	return ctx, func() { stop(); cancel() }
}

// handleSSE streams events as Server-Sent Events: each has the event's
// seq as its id, its type as the event name, and the envelope as data.
// A reconnecting EventSource sends Last-Event-ID and resumes after it.
func (e *Engine) handleSSE(w http.ResponseWriter, r *http.Request) {
	after, filter, err := e.streamParams(r, true)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	ctx, cancel := e.streamContext(r)
	defer cancel()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex // the keep-alive and the events share w
	write := func(s string) error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprint(w, s); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write(": stream of events after " + strconv.FormatUint(after, 10) + "\n\n"); err != nil {
		return
	}
	go e.keepAlive(ctx, cancel, func() error { return write(": keep-alive\n\n") })
	_ = e.stream(ctx, after, filter, func(ev Event, data []byte) error {
		return write(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, data))
	})
}

// stream sends the events after after that pass filter, each with its
// JSON envelope, until ctx ends or send fails.
func (e *Engine) stream(ctx context.Context, after uint64, filter []string, send func(Event, []byte) error) error {
	return e.Subscribe(ctx, after, func(ev Event) error {
		if !matchEvent(filter, ev.Type) {
			return nil
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		return send(ev, data)
	})
}

// keepAlive calls ping every EventKeepAlive until ctx ends; a failed
// ping cancels the stream.
func (e *Engine) keepAlive(ctx context.Context, cancel context.CancelFunc, ping func() error) {
	t := time.NewTicker(e.cfg.EventKeepAlive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ping() != nil {
				cancel()
				return
			}
		}
	}
}

// handleWebSocket streams events over a WebSocket, one JSON envelope per
// text message, after ?since=. Browsers may open it from the server's own
// origin and from Config.WebSocketOrigins.
func (e *Engine) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	after, filter, err := e.streamParams(r, false)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	// A server's ReadTimeout would stay on the hijacked connection and
	// end a quiet stream; the socket's own reads and pings take over.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: e.cfg.WebSocketOrigins})
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	ctx, cancel := e.streamContext(r)
	defer cancel()
	ctx = c.CloseRead(ctx) // the client sends nothing; its close ends ctx
	go e.keepAlive(ctx, cancel, func() error {
		pctx, pcancel := context.WithTimeout(ctx, e.cfg.EventKeepAlive)
		defer pcancel()
		return c.Ping(pctx)
	})
	err = e.stream(ctx, after, filter, func(_ Event, data []byte) error {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return c.Write(wctx, websocket.MessageText, data)
	})
	if err == nil && e.base.Err() != nil {
		c.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	c.Close(websocket.StatusNormalClosure, "")
}
