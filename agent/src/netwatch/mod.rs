//! Network watch (work in progress).
