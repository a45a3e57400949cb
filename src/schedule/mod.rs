//! The timetable: when each listed collection is pulled and which period each pull collects.

pub mod correction;
mod pace;
pub mod pull;
pub mod request;
pub mod runner;
pub mod standing;
pub mod timetable;
pub mod trial;
pub mod upload;
