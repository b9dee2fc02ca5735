//! `avatars`: the image pipeline from the command line.
//!
//! ```text
//! avatars render FILE... --out DIR [--sizes 100,300,1200] [--format jpeg|png|webp]
//!                [--max-pixels N] [--repeat N] [--json]
//! ```
//!
//! Each FILE goes through exactly what the thumbnail function does — sniff,
//! probe + pixel budget, one decode, a cover crop per size, EXIF orientation,
//! encode — and each output is written as `DIR/{stem}_{size}.{ext}`.
//! `--format` defaults to the input's format. `--repeat N` renders each file
//! N times and reports the fastest (for benchmarks); `--json` prints one JSON
//! object per file: `{"file","ms","outputs":[{"path","width","height","bytes"}]}`.
//!
//! It links only `avatar-pipeline`: no AWS SDK, no PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use avatar_pipeline::{self as pipeline, ImageFormat, Limits, Size, Variant};
use clap::{Parser, Subcommand};

/// The image pipeline of the avatar service, on files.
#[derive(Debug, Parser)]
#[command(name = "avatars", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render square thumbnails of each FILE, exactly as the thumbnail
    /// function does, into DIR/{stem}_{size}.{ext}.
    Render(RenderArgs),
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// Input images (JPEG, PNG, WebP, HEIC or AVIF; the format comes from the
    /// magic bytes).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Directory for the outputs (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Sizes to render: square sides from 16 to 4096 px (100 or 100x100, ...)
    /// and original.
    #[arg(long, value_delimiter = ',', default_value = "100,300,1200", value_parser = parse_size)]
    sizes: Vec<Size>,
    /// Output format; default: each input's own (JPEG for HEIC and AVIF).
    #[arg(long, value_parser = parse_format)]
    format: Option<ImageFormat>,
    /// Pixel budget (width × height), checked before decoding.
    #[arg(long, default_value_t = 50_000_000, value_name = "N")]
    max_pixels: u64,
    /// Render each file N times and report the fastest, in ms.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// One JSON object per file instead of a line of text.
    #[arg(long)]
    json: bool,
    /// Decode every scan of a progressive JPEG, as libvips and Pillow do,
    /// instead of its DC scans alone when a 1/8 decode suffices (the same
    /// pixels; for benchmarks).
    #[arg(long)]
    all_scans: bool,
    /// Cut the thumbnails from this square of the upright image instead of
    /// its centre: `X,Y,SIDE` or `X,Y,WIDTH,HEIGHT`, pixels (width and
    /// height within a pixel of each other), as the API's `crop` takes it.
    #[arg(long, value_name = "X,Y,SIDE", value_parser = parse_crop)]
    crop: Option<pipeline::Crop>,
    /// Let attention choose the square (the service's `CROP=attention`):
    /// edges, skin tones and saturation, the centre where nothing stands
    /// out. The JSON line says which square it chose (`crop`).
    #[arg(long, conflicts_with = "crop")]
    attention: bool,
}

fn parse_crop(raw: &str) -> Result<pipeline::Crop, String> {
    let n: Vec<u32> = raw
        .split(',')
        .map(|v| v.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{raw:?}: {e}"))?;
    let (x, y, width, height) = match n[..] {
        [x, y, side] => (x, y, side, side),
        [x, y, width, height] => (x, y, width, height),
        _ => return Err(format!("{raw:?}: expected X,Y,SIDE or X,Y,WIDTH,HEIGHT")),
    };
    let crop = pipeline::Crop {
        x,
        y,
        width,
        height,
    };
    crop.check_shape(1).map_err(|e| e.to_string())?;
    Ok(crop)
}

fn parse_size(raw: &str) -> Result<Size, String> {
    let s = raw.trim();
    Size::parse(s)
        .or_else(|| Size::parse(&format!("{s}x{s}")))
        .ok_or_else(|| format!("unknown size {s:?} (100, 300, 1200 or original)"))
}

fn parse_format(raw: &str) -> Result<ImageFormat, String> {
    ImageFormat::parse(raw).ok_or_else(|| format!("unknown format {raw:?} (jpeg, png or webp)"))
}

fn render_file(args: &RenderArgs, path: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let format = match args.format {
        Some(f) => f,
        None => pipeline::sniff(&bytes)?.served(false),
    };
    let variants: Vec<Variant> = args
        .sizes
        .iter()
        .map(|s| Variant::new(*s, format))
        .collect();
    let limits = Limits {
        max_pixels: args.max_pixels,
    };
    let scans = if args.all_scans {
        pipeline::Scans::All
    } else {
        pipeline::Scans::Needed
    };
    let mut best = f64::INFINITY;
    let mut renditions = Vec::new();
    let mut crop = args.crop;
    for _ in 0..args.repeat {
        let started = Instant::now();
        renditions = if args.attention {
            let (r, chosen) = pipeline::render_attention(&bytes, limits, &variants, scans)
                .with_context(|| path.display().to_string())?;
            crop = chosen;
            r
        } else {
            pipeline::render_with(&bytes, limits, &variants, args.crop, scans)
                .with_context(|| path.display().to_string())?
        };
        best = best.min(started.elapsed().as_secs_f64() * 1000.0);
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let mut outputs = Vec::new();
    for r in renditions {
        let out = args.out.join(format!(
            "{stem}_{}.{}",
            r.variant.size,
            r.variant.format.extension()
        ));
        std::fs::write(&out, &r.bytes).with_context(|| format!("writing {}", out.display()))?;
        outputs.push(serde_json::json!({
            "path": out.display().to_string(), "width": r.width, "height": r.height, "bytes": r.bytes.len(),
        }));
    }
    let crop =
        crop.map(|c| serde_json::json!({"x": c.x, "y": c.y, "width": c.width, "height": c.height}));
    Ok(
        serde_json::json!({"file": path.display().to_string(), "ms": best, "outputs": outputs, "crop": crop}),
    )
}

/// Renders every file; the number that failed (each reported on stderr).
fn render(args: &RenderArgs) -> anyhow::Result<usize> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut failed = 0;
    for file in &args.files {
        match render_file(args, file) {
            Ok(report) if args.json => println!("{report}"),
            Ok(report) => {
                let outs: Vec<String> = report["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        format!(
                            "{} ({}x{})",
                            o["path"].as_str().unwrap_or(""),
                            o["width"],
                            o["height"]
                        )
                    })
                    .collect();
                println!(
                    "{} {:.1} ms -> {}",
                    file.display(),
                    report["ms"].as_f64().unwrap_or(0.0),
                    outs.join(", ")
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:#}", file.display());
            }
        }
    }
    Ok(failed)
}

/// The command line, or the process ends: `--help` and `--version` print
/// and exit 0; a usage error prints one line (clap's message, its context
/// joined) and exits 2.
fn parse_args() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("avatars: {} (see --help)", one_line(&e));
            std::process::exit(2)
        }
    }
}

/// Clap's error message up to its usage section, on one line.
fn one_line(e: &clap::Error) -> String {
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "error: no command given".into();
    }
    e.render()
        .to_string()
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Exit codes: 0 done, 1 a file failed (or the output directory could not
/// be made), 2 a usage error.
fn main() -> ExitCode {
    match parse_args().command {
        Command::Render(args) => match render(&args) {
            Ok(0) => ExitCode::SUCCESS,
            Ok(failed) => {
                eprintln!("avatars: {failed} file(s) failed");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("avatars: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_and_formats_parse() {
        let cli = Cli::try_parse_from([
            "avatars",
            "render",
            "a.jpg",
            "--out",
            "o",
            "--sizes",
            "100,300x300,original",
            "--format",
            "webp",
        ])
        .unwrap();
        let Command::Render(args) = cli.command;
        assert_eq!(
            args.sizes,
            [Size::THUMB_100, Size::THUMB_300, Size::Original]
        );
        assert_eq!(args.format, Some(ImageFormat::Webp));
        assert_eq!(args.repeat, 1);
        for bad in [
            &["avatars", "render", "a.jpg"][..],
            &["avatars", "render", "--out", "o"],
            &["avatars", "render", "a.jpg", "--out", "o", "--sizes", "8x8"],
            &["avatars", "render", "a.jpg", "--out", "o", "--repeat", "0"],
            &["avatars", "frobnicate"],
        ] {
            let err = Cli::try_parse_from(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
            assert!(one_line(&err).starts_with("error: "), "{bad:?}");
        }
    }
}
