package seeder

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// assignment says which replicas seed which stream: rendezvous (highest
// random weight) hashing of the stream id over the replica identities. Every
// replica computes the same assignment from the same configuration, with no
// coordination; adding or removing a replica moves only the streams it
// gains or loses.
type assignment struct {
	self       string
	members    []string
	redundancy int
}

// newAssignment resolves cfg for this process; hostname is os.Hostname.
func newAssignment(cfg ReplicasConfig, hostname func() (string, error)) (assignment, error) {
	a := assignment{self: cfg.Self, redundancy: cfg.Redundancy}
	if a.self == "" {
		h, err := hostname()
		if err != nil {
			return a, fmt.Errorf("replicas.self: no host name to default to: %w", err)
		}
		a.self = h
	}
	switch {
	case len(cfg.Members) > 0:
		a.members = slices.Clone(cfg.Members)
	case cfg.Count <= 1:
		a.members = []string{a.self}
	default:
		// A StatefulSet pod is <name>-<ordinal>: its siblings share <name>.
		i := strings.LastIndexByte(a.self, '-')
		if _, err := strconv.Atoi(a.self[i+1:]); i < 0 || err != nil {
			return a, fmt.Errorf("replicas.count %d: self %q does not end in -<ordinal> (a StatefulSet pod name); set replicas.members", cfg.Count, a.self)
		}
		for n := range cfg.Count {
			a.members = append(a.members, a.self[:i+1]+strconv.Itoa(n))
		}
		if !slices.Contains(a.members, a.self) {
			return a, fmt.Errorf("replicas.count %d: self %q is not among %v", cfg.Count, a.self, a.members)
		}
	}
	a.redundancy = min(max(a.redundancy, 1), len(a.members))
	return a, nil
}

// owners returns the replicas that seed the stream named id.
func (a assignment) owners(id string) []string {
	type scored struct {
		member string
		score  uint64
	}
	s := make([]scored, len(a.members))
	for i, m := range a.members {
		sum := sha256.Sum256([]byte(id + "\x00" + m))
		s[i] = scored{m, binary.BigEndian.Uint64(sum[:8])}
	}
	slices.SortFunc(s, func(x, y scored) int {
		switch {
		case x.score > y.score:
			return -1
		case x.score < y.score:
			return 1
		}
		return strings.Compare(x.member, y.member)
	})
	out := make([]string, a.redundancy)
	for i := range out {
		out[i] = s[i].member
	}
	return out
}

// mine reports whether this replica seeds the stream named id.
func (a assignment) mine(id string) bool {
	return slices.Contains(a.owners(id), a.self)
}
