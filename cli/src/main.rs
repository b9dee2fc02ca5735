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

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use avatar_shared::pipeline::{self, Limits};
use avatar_shared::{ImageFormat, Size, Variant};

const USAGE: &str = "usage: avatars render FILE... --out DIR [--sizes 100,300,1200] \
[--format jpeg|png|webp] [--max-pixels N] [--repeat N] [--json]";

struct RenderArgs {
    files: Vec<PathBuf>,
    out: PathBuf,
    sizes: Vec<Size>,
    format: Option<ImageFormat>,
    limits: Limits,
    repeat: u32,
    json: bool,
}

fn parse_sizes(raw: &str) -> anyhow::Result<Vec<Size>> {
    raw.split(',')
        .map(|s| {
            let s = s.trim();
            Size::parse(s)
                .or_else(|| Size::parse(&format!("{s}x{s}")))
                .with_context(|| format!("unknown size {s:?} (100, 300, 1200 or original)"))
        })
        .collect()
}

fn parse_render(args: &[String]) -> anyhow::Result<RenderArgs> {
    let mut parsed = RenderArgs {
        files: Vec::new(),
        out: PathBuf::new(),
        sizes: Size::THUMBNAILS.to_vec(),
        format: None,
        limits: Limits {
            max_pixels: 50_000_000,
        },
        repeat: 1,
        json: false,
    };
    let mut out = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--sizes" => parsed.sizes = parse_sizes(value("--sizes")?)?,
            "--format" => {
                let v = value("--format")?;
                parsed.format =
                    Some(ImageFormat::parse(v).with_context(|| format!("unknown format {v:?}"))?);
            }
            "--max-pixels" => parsed.limits.max_pixels = value("--max-pixels")?.parse()?,
            "--repeat" => parsed.repeat = value("--repeat")?.parse::<u32>()?.max(1),
            "--json" => parsed.json = true,
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
            file => parsed.files.push(PathBuf::from(file)),
        }
    }
    parsed.out = out.with_context(|| format!("--out is required\n{USAGE}"))?;
    if parsed.files.is_empty() {
        bail!("no input files\n{USAGE}");
    }
    Ok(parsed)
}

fn render_file(args: &RenderArgs, path: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let format = match args.format {
        Some(f) => f,
        None => pipeline::sniff(&bytes)?,
    };
    let variants: Vec<Variant> = args
        .sizes
        .iter()
        .map(|s| Variant::new(*s, format))
        .collect();
    let mut best = f64::INFINITY;
    let mut renditions = Vec::new();
    for _ in 0..args.repeat {
        let started = Instant::now();
        renditions = pipeline::render(&bytes, args.limits, &variants)
            .with_context(|| path.display().to_string())?;
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
    Ok(serde_json::json!({"file": path.display().to_string(), "ms": best, "outputs": outputs}))
}

fn render(args: &[String]) -> anyhow::Result<()> {
    let args = parse_render(args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut failed = 0;
    for file in &args.files {
        match render_file(&args, file) {
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
    if failed > 0 {
        bail!("{failed} file(s) failed");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("render") => render(&args[1..]),
        _ => bail!("{USAGE}"),
    }
}
