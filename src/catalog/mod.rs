//! All valid packages of a build, and EPR's /search and /categories semantics over them.
