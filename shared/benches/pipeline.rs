//! Micro benchmarks of the pipeline's stages on real corpus files:
//! `cargo bench -p avatar-shared --bench pipeline` (criterion).
//! The end-to-end comparison with libvips and Pillow is `make bench`.

use std::hint::black_box;
use std::path::PathBuf;

use avatar_shared::pipeline::{self, thumbnail_variants, Limits};
use avatar_shared::{ImageFormat, Size, Variant};
use criterion::{criterion_group, criterion_main, Criterion};

const LIMITS: Limits = Limits {
    max_pixels: 50_000_000,
};

fn corpus(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    std::fs::read(dir.join(name)).expect("corpus file")
}

fn stages(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    for name in [
        "j15_art_paintcolors_24mp.jpg",
        "j09_photo_eveningglow.jpg",
        "p07_art_sway.png",
        "w06_photo_sunset.webp",
    ] {
        let bytes = corpus(name);
        let format = pipeline::sniff(&bytes).unwrap();
        group.bench_function(format!("probe/{name}"), |b| {
            b.iter(|| pipeline::probe(black_box(&bytes), LIMITS).unwrap())
        });
        group.bench_function(format!("decode_for_300/{name}"), |b| {
            b.iter(|| pipeline::decode_at_least(black_box(&bytes), LIMITS, Some(300)).unwrap())
        });
        let decoded = pipeline::decode_at_least(&bytes, LIMITS, Some(1200)).unwrap();
        group.bench_function(format!("crop_encode_300/{name}"), |b| {
            b.iter(|| {
                pipeline::render_variant(&decoded, Variant::new(Size::Thumb300, ImageFormat::Jpeg))
                    .unwrap()
            })
        });
        group.bench_function(format!("render_3_sizes/{name}"), |b| {
            b.iter(|| {
                pipeline::render(black_box(&bytes), LIMITS, &thumbnail_variants(format)).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
