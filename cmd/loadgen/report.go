package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// figureLine is the one-line summary of a result.
func figureLine(r result) string {
	s := fmt.Sprintf("%-9s %s %5d: held %d/%d (%d never connected, %d lost), %.1f KiB/peer (idle peak %.1f), %.3f cores/1000 idle, setup p50/p99 %.0f/%.0f ms",
		r.Target, r.Mode, r.Peers, r.Held, r.Peers, r.Failed, r.Lost, r.KiBPerPeer, r.PeakKiBPerPeer, r.CoresPer1000, r.SetupP50Ms, r.SetupP99Ms)
	if r.SetupAttempts > 1 {
		s += fmt.Sprintf(" (%.3f announces per browser)", r.SetupAttempts)
	}
	if r.SeedSetupFast >= 0 {
		s += fmt.Sprintf(", %.1f %% within 100 ms by the seed's clock", 100*r.SeedSetupFast)
	}
	if r.GoroutinesPer > 0 {
		s += fmt.Sprintf(", %.1f goroutines/peer", r.GoroutinesPer)
	}
	if r.HeapKiBPerPeer > 0 {
		s += fmt.Sprintf(" (heap %.1f + stacks %.1f KiB/peer)", r.HeapKiBPerPeer, r.StackKiBPerPeer)
	}
	if a := r.Announce; a != nil {
		s += fmt.Sprintf("; live announce p50/p99/max %.1f/%.1f/%.1f ms over %d browser×segment pairs, %d missing, %.0f µs CPU each",
			a.P50Ms, a.P99Ms, a.MaxMs, a.Samples, a.Missing, a.CPUUsPerAnnounce)
		if a.SeedFast >= 0 {
			s += fmt.Sprintf(", %.0f written by the seed's clock, %.1f %% within 100 ms", a.SeedAnnounces, 100*a.SeedFast)
			if a.SeedP99Ms >= 0 {
				s += fmt.Sprintf(", p50 ≤ %.0f ms, p99 ≤ %.0f ms", a.SeedP50Ms, a.SeedP99Ms)
			}
		}
	}
	if p := r.Pull; p != nil {
		s += fmt.Sprintf("; pull %.0f Mbit/s at %.2f cores = %.0f Mbit/s/core, latency p50/p99 %.0f/%.0f ms, %d stalls, %d bad, %d errors",
			p.Mbps, p.CPUCores, p.MbpsPerCore, p.LatP50Ms, p.LatP99Ms, p.Stalls, p.BadBytes, p.Errors)
	}
	s += fmt.Sprintf("; origin %.2f× unique", r.OriginRatio)
	return s
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// ratioLine compares superpeer to pion at the same mode and size.
func ratioLine(sp, pn result) string {
	s := fmt.Sprintf("superpeer/pion %s %5d: KiB/peer %s (idle peak %s), idle CPU %s, setup p50 %s",
		sp.Mode, sp.Peers, ratio(sp.KiBPerPeer, pn.KiBPerPeer), ratio(sp.PeakKiBPerPeer, pn.PeakKiBPerPeer),
		ratio(sp.CoresPer1000, pn.CoresPer1000), ratio(sp.SetupP50Ms, pn.SetupP50Ms))
	if sp.Pull != nil && pn.Pull != nil {
		s += fmt.Sprintf(", Mbit/s/core %s, latency p50 %s p99 %s",
			ratio(sp.Pull.MbpsPerCore, pn.Pull.MbpsPerCore), ratio(sp.Pull.LatP50Ms, pn.Pull.LatP50Ms), ratio(sp.Pull.LatP99Ms, pn.Pull.LatP99Ms))
	}
	return s
}

// printReport writes the figure lines, the ratios and a Markdown table.
func printReport(w io.Writer, header string, rs []result) {
	fmt.Fprintf(w, "\n%s\n\n", header)
	for _, r := range rs {
		fmt.Fprintln(w, figureLine(r))
	}
	for _, sp := range rs {
		if sp.Target != "superpeer" {
			continue
		}
		for _, pn := range rs {
			if pn.Target == "pion" && pn.Mode == sp.Mode && pn.Peers == sp.Peers {
				fmt.Fprintln(w, ratioLine(sp, pn))
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | mode | peers held | KiB/peer (idle peak) | cores/1000 idle | goroutines/peer | setup p50 / p99 ms | Mbit/s | CPU cores | Mbit/s/core | req p50 / p99 ms | stalls | origin ÷ unique |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		g := "–"
		if r.HeldGoroutines >= 0 {
			g = fmt.Sprintf("%.1f", r.GoroutinesPer)
		}
		fmt.Fprintf(w, "| %s | %s | %d / %d | %.1f (%.1f) | %.3f | %s | %.0f / %.0f |", r.Target, r.Mode, r.Held, r.Peers, r.KiBPerPeer,
			r.PeakKiBPerPeer, r.CoresPer1000, g, r.SetupP50Ms, r.SetupP99Ms)
		if p := r.Pull; p != nil {
			fmt.Fprintf(w, " %.0f | %.2f | %.0f | %.0f / %.0f | %d |", p.Mbps, p.CPUCores, p.MbpsPerCore, p.LatP50Ms, p.LatP99Ms, p.Stalls)
		} else {
			fmt.Fprint(w, " – | – | – | – | – |")
		}
		fmt.Fprintf(w, " %.2f |\n", r.OriginRatio)
	}
}

func writeJSON(path string, cfg map[string]any, rs []result) error {
	out := struct {
		Machine string         `json:"machine"`
		Config  map[string]any `json:"config"`
		Results []result       `json:"results"`
	}{machineSummary(), cfg, rs}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
