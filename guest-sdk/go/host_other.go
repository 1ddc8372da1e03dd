//go:build !wasip1

package millrace

var host Host = stderrHost{}
