package seeder

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"reflect"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// runningStream is a stream started by Run or Reload.
type runningStream struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// streamList returns the configured streams.
func (s *Seeder) streamList() []*stream {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	return slices.Clone(s.streams)
}

// startStreamLocked runs st until Run ends or Reload stops it. Before Run
// it does nothing: Run starts every configured stream. Callers hold
// streamsMu.
func (s *Seeder) startStreamLocked(st *stream) {
	if s.runCtx == nil || s.running[st] != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	rs := &runningStream{cancel: cancel, done: make(chan struct{})}
	s.running[st] = rs
	s.streamsWG.Add(1)
	go func() {
		defer s.streamsWG.Done()
		defer close(rs.done)
		if err := st.run(ctx); err != nil && ctx.Err() == nil {
			st.log.Error().Err(err).Msg("stream stopped")
		}
	}()
}

// stopStream ends a running stream: its swarms leave the trackers, its
// peers close, its segments return to the cache, its metric series go.
func (s *Seeder) stopStream(st *stream) {
	s.streamsMu.Lock()
	rs := s.running[st]
	delete(s.running, st)
	s.streamsMu.Unlock()
	if rs != nil {
		rs.cancel()
		<-rs.done
	}
	st.closePending()
	st.leave()
	st.env.client.CloseIdleConnections()
	s.metrics.deleteStream(st.cfg.ID)
	s.playlistMetrics.DeleteStream(st.cfg.ID)
}

// Reload applies cfg to a running Seeder. Streams added to the list start,
// streams gone from it stop, and streams whose entry changed (url,
// swarm_id, generations, allowed_origins, allow_private) restart; the
// browsers of every other stream are not disturbed. The other keys cannot
// change while superpeer runs: Reload returns the sections that differ,
// which keep their running values until a restart.
func (s *Seeder) Reload(cfg Config) (needRestart []string, err error) {
	if err := cfg.Validate(); err != nil {
		s.metrics.reloads.WithLabelValues("failure").Inc()
		s.metrics.reloadOK.Set(0)
		return nil, err
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	needRestart = restartKeys(s.cfg, cfg)
	old := map[string]*stream{}
	for _, st := range s.streamList() {
		old[st.cfg.ID] = st
	}
	for _, sc := range s.cfg.Streams {
		s.metrics.assigned.DeleteLabelValues(sc.ID)
	}
	assigned := s.mine(cfg.Streams) // with the running replicas settings
	keep := map[string]*stream{}
	var stop []*stream
	var added, changed, removed []string
	for _, sc := range assigned {
		st := old[sc.ID]
		delete(old, sc.ID)
		switch {
		case st == nil:
			added = append(added, sc.ID)
		case reflect.DeepEqual(st.cfg, sc):
			keep[sc.ID] = st
		default:
			stop = append(stop, st)
			changed = append(changed, sc.ID)
		}
	}
	for id, st := range old {
		stop = append(stop, st)
		removed = append(removed, id)
	}
	// Stop first: a changed stream's swarms leave before its successor
	// joins them again, and its metric series go before the new ones come.
	for _, st := range stop {
		s.stopStream(st)
	}
	var next []*stream
	var failed error
	for _, sc := range assigned {
		if st := keep[sc.ID]; st != nil {
			next = append(next, st)
			continue
		}
		env, err := s.streamEnv(sc)
		if err != nil {
			failed = errors.Join(failed, err)
			continue
		}
		next = append(next, newStream(env, sc))
	}
	s.streamsMu.Lock()
	s.streams = next
	for _, st := range next {
		s.startStreamLocked(st)
	}
	s.cfg.Streams = cfg.Streams
	s.streamsMu.Unlock()
	if failed != nil {
		// Validate accepted the configuration, so this is not expected; the
		// streams that could be built run.
		s.metrics.reloads.WithLabelValues("failure").Inc()
		s.metrics.reloadOK.Set(0)
		return needRestart, failed
	}
	s.metrics.reloads.WithLabelValues("success").Inc()
	s.metrics.reloadOK.Set(1)
	s.metrics.reloadTime.SetToCurrentTime()
	ev := s.log.Info().Strs("added", added).Strs("changed", changed).Strs("removed", removed)
	if len(needRestart) > 0 {
		ev = ev.Strs("need_restart", needRestart)
	}
	ev.Msg("configuration reloaded")
	return needRestart, nil
}

// restartKeys lists the sections of the configuration that differ between
// the running one and next and only apply at start.
func restartKeys(running, next Config) []string {
	var keys []string
	rv, nv := reflect.ValueOf(running), reflect.ValueOf(next)
	t := rv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "streams" || tag == "" || tag == "-" {
			continue
		}
		if !reflect.DeepEqual(rv.Field(i).Interface(), nv.Field(i).Interface()) {
			keys = append(keys, tag)
		}
	}
	return keys
}

// ReloadFile loads path and applies it with Reload. A file that does not
// load keeps the running configuration; the error names file, line and key.
func (s *Seeder) ReloadFile(path string) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		s.metrics.reloads.WithLabelValues("failure").Inc()
		s.metrics.reloadOK.Set(0)
		s.log.Error().Str("file", path).Err(err).Msg("configuration not reloaded: the running one stays")
		return err
	}
	needRestart, err := s.Reload(cfg)
	if err != nil {
		s.log.Error().Str("file", path).Err(err).Msg("configuration not reloaded: the running one stays")
		return err
	}
	if len(needRestart) > 0 {
		s.log.Warn().Strs("keys", needRestart).Msg("these keys changed but apply only at start: restart superpeer for them")
	}
	return nil
}

// WatchConfig reloads path whenever its content changes (checked every
// interval) or a value arrives on reload (SIGHUP, wired by the caller),
// until ctx ends.
func (s *Seeder) WatchConfig(ctx context.Context, path string, interval time.Duration, reload <-chan struct{}) {
	sum := fileSum(path)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			sum = fileSum(path)
			_ = s.ReloadFile(path)
		case <-t.C:
			if now := fileSum(path); now != sum {
				sum = now
				_ = s.ReloadFile(path)
			}
		}
	}
}

// fileSum is the SHA-256 of a file, zero when it cannot be read (a file
// being replaced is read again at the next tick).
func fileSum(path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

// deleteStream removes every series of the stream named id.
func (m *metrics) deleteStream(id string) {
	l := prometheus.Labels{"stream": id}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.sentBytes, m.peers, m.swarmSize, m.connections, m.requests, m.peerErrors, m.disconnects, m.connectedFor, m.setup,
		m.segmentsCached, m.segmentLag, m.announceDelay, m.peerAnnounce, m.cacheRejected, m.streamReady,
	} {
		v.DeletePartialMatch(l)
	}
}
