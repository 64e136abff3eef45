//! Real audio devices through cpal (feature `cpal`).
