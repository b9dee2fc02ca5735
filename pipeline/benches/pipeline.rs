//! Micro benchmarks of the pipeline's stages on the test images
//! (`fixtures/images`, or `CORPUS_DIR`):
//! `cargo bench -p avatar-pipeline --bench pipeline` (criterion).
//! The end-to-end comparison with libvips and Pillow is `make bench`.

use std::hint::black_box;

use avatar_pipeline::testing::fixture;
use avatar_pipeline::{self as pipeline, thumbnail_variants, ImageFormat, Limits, Size, Variant};
use criterion::{criterion_group, criterion_main, Criterion};

const LIMITS: Limits = Limits {
    max_pixels: 50_000_000,
};

fn stages(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    for name in [
        "j15_art_paintcolors_24mp.jpg",
        "j09_photo_eveningglow.jpg",
        "p07_art_sway.png",
        "w06_photo_sunset.webp",
    ] {
        let bytes = fixture(name);
        let format = pipeline::sniff(&bytes).unwrap().served(false);
        group.bench_function(format!("probe/{name}"), |b| {
            b.iter(|| pipeline::probe(black_box(&bytes), LIMITS).unwrap())
        });
        group.bench_function(format!("decode_for_300/{name}"), |b| {
            b.iter(|| pipeline::decode_at_least(black_box(&bytes), LIMITS, Some(300)).unwrap())
        });
        let decoded = pipeline::decode_at_least(&bytes, LIMITS, Some(1200)).unwrap();
        group.bench_function(format!("crop_encode_300/{name}"), |b| {
            b.iter(|| {
                pipeline::render_variant(
                    &decoded,
                    Variant::new(Size::THUMB_300, ImageFormat::Jpeg),
                    None,
                )
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
