// Package dofn exports a DoFn as the component's plugin (the dofn-plugin world):
//
//	func init() { dofn.Export(New) }
//
// where New builds the DoFn from the step's configuration. Importing this package
// is what gives the component its DoFn exports; build.sh learns the plugin's kind
// from it.
package dofn

import "millrace.local/millrace"

var newRunner func(millrace.Config) (millrace.DoFnRunner, error)

// Export makes the DoFn that factory builds the component's plugin. Call it once,
// from an init function. factory runs when the host starts the plugin (its init
// call), with the step's configuration; an error refuses the spec.
func Export[In any](factory func(millrace.Config) (millrace.DoFn[In], error)) {
	register(func(config millrace.Config) (millrace.DoFnRunner, error) {
		return millrace.NewDoFnRunner(factory, config)
	})
}

// ExportBatch is Export for a DoFn of the bulk path (BatchDoFn.ProcessBatch).
func ExportBatch[In any](factory func(millrace.Config) (millrace.BatchDoFn[In], error)) {
	register(func(config millrace.Config) (millrace.DoFnRunner, error) {
		return millrace.NewBatchDoFnRunner(factory, config)
	})
}

func register(f func(millrace.Config) (millrace.DoFnRunner, error)) {
	if newRunner != nil {
		panic("millrace: a DoFn is exported already; a component has one plugin")
	}
	newRunner = f
}
