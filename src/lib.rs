//! Tally: England's central health-and-care data collections, pulled from source systems on
//! a timetable, with a register that blocks collection creep.

pub mod cli;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod domain;
pub mod kept;
pub mod landing;
pub mod notify;
pub mod priority;
pub mod providers;
pub mod registry;
pub mod returns;
pub mod schedule;
pub mod service;
pub mod store;
pub mod web;
