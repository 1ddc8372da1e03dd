// Package trigger exports a data-driven trigger as the component's plugin (the
// trigger-plugin world):
//
//	func init() { trigger.Export(New) }
//
// where New builds the Trigger from the step's configuration. Importing this
// package is what gives the component its trigger exports; build.sh learns the
// plugin's kind from it.
package trigger

import "millrace.local/millrace"

var newRunner func(millrace.Config) (millrace.TriggerRunner, error)

// Export makes the Trigger that factory builds the component's plugin. Call it
// once, from an init function. factory runs when the host starts the plugin (its
// init call), with the step's configuration; an error refuses the spec.
func Export[In, S any](factory func(millrace.Config) (millrace.Trigger[In, S], error)) {
	if newRunner != nil {
		panic("millrace: a Trigger is exported already; a component has one plugin")
	}
	newRunner = func(config millrace.Config) (millrace.TriggerRunner, error) {
		return millrace.NewTriggerRunner(factory, config)
	}
}
