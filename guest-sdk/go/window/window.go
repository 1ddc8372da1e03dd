// Package window exports a window function as the component's plugin (the
// window-plugin world):
//
//	func init() { window.Export(New) }
//
// where New builds the WindowFn from the step's configuration. A WindowFn that
// also has Merge (millrace.Merger) merges windows, as sessions do. Importing this
// package is what gives the component its window-function exports; build.sh learns
// the plugin's kind from it.
package window

import "millrace.local/millrace"

var newRunner func(millrace.Config) (millrace.WindowRunner, error)

// Export makes the WindowFn that factory builds the component's plugin. Call it
// once, from an init function. factory runs when the host starts the plugin (its
// init call), with the step's configuration; an error refuses the spec.
func Export[In any](factory func(millrace.Config) (millrace.WindowFn[In], error)) {
	if newRunner != nil {
		panic("millrace: a WindowFn is exported already; a component has one plugin")
	}
	newRunner = func(config millrace.Config) (millrace.WindowRunner, error) {
		return millrace.NewWindowRunner(factory, config)
	}
}
