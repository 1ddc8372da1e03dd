package main

import (
	"testing"

	"millrace.local/millrace"
)

func mustConfig(t *testing.T, settings map[string]any) millrace.Config {
	t.Helper()
	c, err := millrace.NewConfig(settings)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
