package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("streams:\n  - id: a\n    url: https://cdn.example.com/a.m3u8\n"), 0o644))
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("streams:\n  - id: a\n    uri: https://cdn.example.com/a.m3u8\n"), 0o644))

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"version", []string{"-version"}, 0, "superpeer ", ""},
		{"config required", nil, 2, "", "-config is required"},
		{"check good config", []string{"-check-config", "-config", good}, 0, "ok (1 streams, 2 trackers)", ""},
		{"check bad config", []string{"-check-config", "-config", bad}, 1, "", bad + ":3: streams[0].uri: unknown key"},
		{"missing file", []string{"-config", filepath.Join(dir, "nope.yaml")}, 1, "", "no such file"},
		{"unknown flag", []string{"-nope"}, 2, "", "flag provided but not defined"},
		{"stray argument", []string{"-config", good, "extra"}, 2, "", `unexpected argument "extra"`},
		{"bad log format", []string{"-config", good, "-log-format", "xml"}, 2, "", "-log-format"},
		{"demo help", []string{"demo", "-h"}, 0, "", "Usage: superpeer demo"},
		{"demo bad flag", []string{"demo", "-nope"}, 2, "", "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			require.Equal(t, tc.code, code, "stderr: %s", stderr.String())
			require.True(t, strings.Contains(stdout.String(), tc.out), "stdout %q lacks %q", stdout.String(), tc.out)
			require.True(t, strings.Contains(stderr.String(), tc.err), "stderr %q lacks %q", stderr.String(), tc.err)
		})
	}
}
