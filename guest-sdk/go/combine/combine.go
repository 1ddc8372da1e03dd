// Package combine exports a CombineFn as the component's plugin (the
// combine-plugin world):
//
//	func init() { combine.Export(New) }
//
// where New builds the CombineFn from the step's configuration. Importing this
// package is what gives the component its CombineFn exports; build.sh learns the
// plugin's kind from it.
package combine

import "millrace.local/millrace"

var newRunner func(millrace.Config) (millrace.CombineRunner, error)

// Export makes the CombineFn that factory builds the component's plugin. Call it
// once, from an init function. factory runs when the host starts the plugin (its
// init call), with the step's configuration; an error refuses the spec.
func Export[In, Acc, Out any](factory func(millrace.Config) (millrace.CombineFn[In, Acc, Out], error)) {
	if newRunner != nil {
		panic("millrace: a CombineFn is exported already; a component has one plugin")
	}
	newRunner = func(config millrace.Config) (millrace.CombineRunner, error) {
		return millrace.NewCombineRunner(factory, config)
	}
}
