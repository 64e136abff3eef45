//! Writes libopus's neural network models as one blob
//! (`aura_opus::models`): the asset an app built with `runtime-models`
//! hands over at run time.
//!
//! ```sh
//! cargo run --release -p aura-opus --bin opus-models -- opus-models.bin
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: opus-models OUT");
        return ExitCode::from(2);
    };
    let blob = aura_opus::models::builtin();
    match std::fs::write(&out, &blob) {
        Ok(()) => {
            println!("{} ({} bytes)", out.to_string_lossy(), blob.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("writing {}: {e}", out.to_string_lossy());
            ExitCode::FAILURE
        }
    }
}
