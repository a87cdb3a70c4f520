package playlist

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	m.fetchedBytes.WithLabelValues("s").Add(10)
	m.observeRequest("s", kindSegment, 206, time.Second)
	m.observeRequest("s", kindMaster, 0, time.Millisecond)
	m.reloads.WithLabelValues("s").Inc()
	m.errors.WithLabelValues("s", reasonParse).Inc()
	m.observeRefused(zerolog.Nop(), "s", kindSegment, &RefusedError{Host: "x", Reason: RefusedMetadata})
	for _, c := range []prometheus.Collector{m.fetchedBytes, m.requests, m.requestDuration, m.reloads, m.errors, m.refused} {
		problems, err := testutil.CollectAndLint(c)
		require.NoError(t, err)
		require.Empty(t, problems)
	}
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Equal(t, 8, n) // requests and request_duration have two series each
	require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues("s", "segment", "2xx")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues("s", "master", "error")))
}

func TestStatusClass(t *testing.T) {
	for code, want := range map[int]string{0: "error", 99: "error", 200: "2xx", 206: "2xx", 304: "3xx", 404: "4xx", 429: "4xx", 503: "5xx", 600: "error"} {
		require.Equal(t, want, statusClass(code), code)
	}
}
