//! `render-receipt TEXT OUT.png`: draws a receipt's lines of text as the
//! tests do (DejaVu Sans Mono, 150 dpi), for trying the agent on a receipt
//! of your own wording (`agent extract OUT.png`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [text, out] = args.as_slice() else {
        eprintln!("usage: render-receipt TEXT OUT.png");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(text) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{text}: {e}");
            return ExitCode::from(2);
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    if let Err(e) = std::fs::write(out, testkit::render::receipt_png(&lines)) {
        eprintln!("{out}: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
