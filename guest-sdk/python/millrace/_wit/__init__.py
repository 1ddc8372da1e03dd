"""The exports of each WIT world, for componentize-py.

These modules import the bindings componentize-py generates (``wit_world``), so they
load only inside a component build: ``build.sh`` makes the component's entry module
import the plugin and the module of its world (``dofn``, ``combine``, ``window`` or
``trigger``), whose class (``Dofn``, ``CombineFn``, ``WindowFn``, ``Trigger``) is the
export componentize-py looks for.
"""
