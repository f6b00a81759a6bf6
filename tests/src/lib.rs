//! Harness for Vigil's end-to-end tests: runs the real binaries on loopback in temp dirs.
