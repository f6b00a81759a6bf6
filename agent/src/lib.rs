//! vigil-agent library.
