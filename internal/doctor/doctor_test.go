package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckDockerfile(t *testing.T) {
	tests := map[string]struct {
		content string // "" means no file
		want    string // part of the error; "" means valid
	}{
		"from first":        {content: "FROM python:3.12-slim\nCOPY . .\n"},
		"args and comments": {content: "# syntax=docker/dockerfile:1\n\nARG BASE=python:3.12\nfrom ${BASE}\n"},
		"missing":           {want: "no Dockerfile at"},
		"empty":             {content: "\n# nothing\n", want: "has no FROM instruction"},
		"run before from":   {content: "ARG X=1\nRUN echo hi\nFROM scratch\n", want: "Dockerfile:2: RUN before any FROM"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Dockerfile")
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := checkDockerfile(path)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one with %q", err, tt.want)
			}
		})
	}
}
