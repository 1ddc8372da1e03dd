//! The plugin author’s view of millrace.
