//! Shared helpers of the crndm test suites.
