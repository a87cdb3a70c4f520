package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// printTable writes the results as a Markdown table.
func printTable(w io.Writer, cfg loadConfig, rs []result) {
	fmt.Fprintf(w, "\nMachine: %s\n", machineSummary())
	fmt.Fprintf(w, "Load: %d swarms, %d per connection, %d offers × %d B SDP per announce, every offer answered; steady %.0f announces/s for %s",
		cfg.swarms, cfg.swarmsPerConn, cfg.offers, cfg.sdpBytes, cfg.rate, cfg.steady)
	if cfg.saturate > 0 {
		fmt.Fprintf(w, "; saturation: %d clients in a closed loop for %s", cfg.saturateClients, cfg.saturate)
	}
	fmt.Fprintf(w, "; deflate %v.\n\n", cfg.deflate)
	fmt.Fprintln(w, "| tracker | conns held | KiB/conn idle | KiB/conn load | steady msg/s | CPU cores | CPU µs/msg | RTT p50 / p99 ms | max announces/s | max msg/s | CPU µs/msg | RTT p50 / p99 ms |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %d / %d | %.1f | %.1f | %.0f | %.2f | %.2f | %.2f / %.2f |",
			r.Tracker, r.Held, r.Conns, r.KiBPerConnIdle, r.KiBPerConnLoad, r.Steady.MessagesPerSec, r.Steady.CPUCores,
			r.Steady.CPUMicrosPerMsg, r.Steady.RTTp50Ms, r.Steady.RTTp99Ms)
		if s := r.Saturate; s != nil {
			fmt.Fprintf(w, " %.0f | %.0f | %.2f | %.1f / %.1f |\n", s.AnnouncesPerSec, s.MessagesPerSec, s.CPUMicrosPerMsg, s.RTTp50Ms, s.RTTp99Ms)
		} else {
			fmt.Fprintln(w, " – | – | – | – |")
		}
	}
	for _, r := range rs {
		if r.Steady.Failures > 0 || (r.Saturate != nil && r.Saturate.Failures > 0) || r.DialFailures > 0 {
			fmt.Fprintf(w, "\n%s at %d: %d dial failures, %d failure replies (steady)", r.Tracker, r.Conns, r.DialFailures, r.Steady.Failures)
		}
	}
	fmt.Fprintln(w)
}

func writeJSON(path string, cfg loadConfig, rs []result) error {
	out := struct {
		Machine string   `json:"machine"`
		Config  any      `json:"config"`
		Results []result `json:"results"`
	}{
		Machine: machineSummary(),
		Config: map[string]any{
			"swarms": cfg.swarms, "swarmsPerConn": cfg.swarmsPerConn, "offers": cfg.offers, "sdpBytes": cfg.sdpBytes,
			"rate": cfg.rate, "steady": cfg.steady.String(), "saturate": cfg.saturate.String(),
			"saturateClients": cfg.saturateClients, "deflate": cfg.deflate,
		},
		Results: rs,
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
