//! Collections as code: loading with every problem reported, and the creep checks as pure
//! functions of the register's state.

mod annotations;
mod checks;
mod loading;
