package orchestrator

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts what the engine does, for Prometheus and for
// SystemMetrics. The counters are plain atomics; Prometheus reads them
// when it scrapes, so the hot path pays no label lookups.
type metrics struct {
	e         *Engine
	running   atomic.Int64
	finishedN [5]atomic.Uint64 // by statusIndex
	rollbacks [2]atomic.Uint64 // completed, failed
	durations *prometheus.HistogramVec
	byType    map[string]prometheus.Observer

	descTasks, descRunning, descQueue, descRollbacks, descBatches *prometheus.Desc
}

var allStatuses = [...]Status{StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusCancelled}

func statusIndex(s Status) int {
	for i, x := range allStatuses {
		if x == s {
			return i
		}
	}
	return 0
}

func newMetrics(e *Engine, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		e: e,
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "portico", Subsystem: "orchestrator", Name: "task_duration_seconds",
			Help:    "How long task attempts ran, by task type.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 1800},
		}, []string{"type"}),
		byType:        map[string]prometheus.Observer{},
		descTasks:     prometheus.NewDesc("portico_orchestrator_tasks_total", "Tasks that reached a final status since the process started, by status.", []string{"status"}, nil),
		descRunning:   prometheus.NewDesc("portico_orchestrator_running_tasks", "Tasks running now.", nil, nil),
		descQueue:     prometheus.NewDesc("portico_orchestrator_queue_depth", "Tasks queued for a worker.", nil, nil),
		descRollbacks: prometheus.NewDesc("portico_orchestrator_rollbacks_total", "Rollbacks since the process started, by result.", []string{"status"}, nil),
		descBatches:   prometheus.NewDesc("portico_orchestrator_active_batches", "Batches running now.", nil, nil),
	}
	for name := range e.types {
		m.byType[name] = m.durations.WithLabelValues(name)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.durations, (*collector)(m)} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) finished(s Status) { m.finishedN[statusIndex(s)].Add(1) }

func (m *metrics) observe(typ string, d time.Duration) {
	if o, ok := m.byType[typ]; ok {
		o.Observe(d.Seconds())
	}
}

func (m *metrics) rollback(rb Rollback) {
	if rb.Status == StatusCompleted {
		m.rollbacks[0].Add(1)
	} else {
		m.rollbacks[1].Add(1)
	}
}

// collector exports the atomics.
type collector metrics

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.descTasks, c.descRunning, c.descQueue, c.descRollbacks, c.descBatches} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := (*metrics)(c)
	for _, s := range []Status{StatusCompleted, StatusFailed, StatusCancelled} {
		ch <- prometheus.MustNewConstMetric(c.descTasks, prometheus.CounterValue, float64(m.finishedN[statusIndex(s)].Load()), string(s))
	}
	ch <- prometheus.MustNewConstMetric(c.descRunning, prometheus.GaugeValue, float64(m.running.Load()))
	ch <- prometheus.MustNewConstMetric(c.descQueue, prometheus.GaugeValue, float64(m.e.q.len()))
	ch <- prometheus.MustNewConstMetric(c.descRollbacks, prometheus.CounterValue, float64(m.rollbacks[0].Load()), "completed")
	ch <- prometheus.MustNewConstMetric(c.descRollbacks, prometheus.CounterValue, float64(m.rollbacks[1].Load()), "failed")
	ch <- prometheus.MustNewConstMetric(c.descBatches, prometheus.GaugeValue, float64(m.e.activeRuns()))
}

func (e *Engine) activeRuns() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.runs)
}

// SystemMetrics is the engine's state now and its counters since the
// process started.
type SystemMetrics struct {
	Workers       int    `json:"workers"`
	RunningTasks  int64  `json:"running_tasks"`
	QueueDepth    int    `json:"queue_depth"`
	ActiveBatches int    `json:"active_batches"`
	TasksFinished Counts `json:"tasks_finished"`
	Rollbacks     struct {
		Completed uint64 `json:"completed"`
		Failed    uint64 `json:"failed"`
	} `json:"rollbacks"`
	EventSeq    uint64 `json:"event_seq"`
	Subscribers int    `json:"subscribers"`
	Webhooks    int    `json:"webhooks"`
}

// SystemMetrics returns the engine's metrics.
func (e *Engine) SystemMetrics() SystemMetrics {
	m := e.metrics
	s := SystemMetrics{
		Workers: e.cfg.Workers, RunningTasks: m.running.Load(), QueueDepth: e.q.len(),
		ActiveBatches: e.activeRuns(), EventSeq: e.LastSeq(),
	}
	for _, st := range []Status{StatusCompleted, StatusFailed, StatusCancelled} {
		s.TasksFinished.add(st, int(m.finishedN[statusIndex(st)].Load()))
	}
	s.Rollbacks.Completed, s.Rollbacks.Failed = m.rollbacks[0].Load(), m.rollbacks[1].Load()
	e.hub.mu.Lock()
	s.Subscribers = len(e.hub.subs)
	e.hub.mu.Unlock()
	s.Webhooks = e.hooks.count()
	return s
}

// Statistics counts the stored batches and tasks by status.
type Statistics struct {
	Batches Counts `json:"batches"`
	Tasks   Counts `json:"tasks"`
	// SuccessRate is completed / (completed + failed) batches, 0-1.
	SuccessRate float64 `json:"success_rate"`
}

// Statistics returns the statistics of everything in the store.
func (e *Engine) Statistics(ctx context.Context) (Statistics, error) {
	var s Statistics
	for _, st := range allStatuses {
		_, nb, err := e.store.ListBatches(ctx, BatchFilter{Status: st, Limit: 1})
		if err != nil {
			return s, err
		}
		_, nt, err := e.store.ListTasks(ctx, TaskFilter{Status: st, Limit: 1})
		if err != nil {
			return s, err
		}
		s.Batches.add(st, nb)
		s.Tasks.add(st, nt)
	}
	if n := s.Batches.Completed + s.Batches.Failed; n > 0 {
		s.SuccessRate = float64(s.Batches.Completed) / float64(n)
	}
	return s, nil
}
