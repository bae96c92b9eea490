//! Tests of receiving, reassembly and status reports.
