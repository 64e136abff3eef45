//! The web page test's helpers: a headless browser over WebDriver and a
//! pair of loopback nodes serving the page.

pub mod browser;
pub mod pair;
