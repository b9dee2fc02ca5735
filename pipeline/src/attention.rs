//! `CROP=attention`: the square chosen by content when the user chose
//! none, model-free, after libvips' `attention` smart crop — edges, skin
//! tones and saturated colour mark what a person looks at.
//!
//! The square is the short side's (the same zoom as the centred cover
//! crop), so only its position along the long side is chosen. The decode
//! a render already has is shrunk (area average) to an analysis image of
//! [`ANALYSIS_SIDE`] pixels on its long side and turned upright; each
//! pixel scores its edge strength (luma gradient), its saturation (above a
//! threshold) and whether its colour is a skin tone; the window of the
//! short side's width with the largest score wins. Where it does not beat
//! the centre by [`MIN_GAIN`], or its mirror image across the centre
//! scores as much — a flat or symmetric image, or one whose subject is in
//! the middle — the centre is kept, so such images render as before.

use fast_image_resize as fr;
use image::metadata::Orientation;
use image::{DynamicImage, RgbImage};

use crate::crop::Crop;
use crate::resample::resize_typed;

/// Long side of the analysis image, pixels.
pub const ANALYSIS_SIDE: u32 = 64;

/// How much more the chosen window must score than the centred one: 10 %.
pub const MIN_GAIN: f64 = 1.10;

/// The attention square of an image of `upright` dimensions (pixels, EXIF
/// orientation applied) from its decode `decoded` (any size, stored
/// orientation `orientation`); `None` for the centre (square images, no
/// clear subject off the centre).
pub fn square(
    decoded: &DynamicImage,
    orientation: Orientation,
    upright: (u32, u32),
) -> Option<Crop> {
    let (width, height) = upright;
    if width == height || width == 0 || height == 0 {
        return None;
    }
    let analysis = analysis_image(decoded, orientation)?;
    let (aw, ah) = analysis.dimensions();
    let scores = scores(&analysis);
    // Sums along the short axis: one value per position on the long axis.
    let wide = width > height;
    let (long, short) = if wide { (aw, ah) } else { (ah, aw) };
    let lines: Vec<f64> = (0..long)
        .map(|i| {
            (0..short)
                .map(|j| {
                    let (x, y) = if wide { (i, j) } else { (j, i) };
                    scores[(y * aw + x) as usize]
                })
                .sum()
        })
        .collect();
    let window = (short as usize).min(lines.len());
    let sums: Vec<f64> = lines.windows(window).map(|w| w.iter().sum()).collect();
    let centre = sums[sums.len() / 2];
    let (best, best_sum) = sums
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    // Its mirror image across the centre as good: a symmetric picture,
    // where no side wins.
    let mirror = sums[sums.len() - 1 - best];
    if best_sum <= 0.0 || best_sum < centre * MIN_GAIN || mirror >= best_sum * 0.95 {
        return None;
    }
    // The window's position in the image's pixels, the square inside it.
    let (full_long, full_short) = if wide {
        (width, height)
    } else {
        (height, width)
    };
    let scale = f64::from(full_long) / f64::from(long);
    let offset = ((best as f64 * scale).round() as u32).min(full_long - full_short);
    let (x, y) = if wide { (offset, 0) } else { (0, offset) };
    Some(Crop {
        x,
        y,
        width: full_short,
        height: full_short,
    })
}

/// `decoded` area-averaged to [`ANALYSIS_SIDE`] on its long side, 8-bit
/// RGB (alpha composited on white), upright. Read in place: the decode is
/// never copied, only the small image converted.
fn analysis_image(decoded: &DynamicImage, orientation: Orientation) -> Option<RgbImage> {
    let (w, h) = (decoded.width(), decoded.height());
    let k = (f64::from(ANALYSIS_SIDE) / f64::from(w.max(h))).min(1.0);
    let aw = ((f64::from(w) * k).round() as u32).max(1);
    let ah = ((f64::from(h) * k).round() as u32).max(1);
    let (raw, pixel): (std::borrow::Cow<'_, [u8]>, _) = match decoded {
        DynamicImage::ImageRgb8(i) => (i.as_raw().into(), fr::PixelType::U8x3),
        DynamicImage::ImageRgba8(i) => (i.as_raw().into(), fr::PixelType::U8x4),
        DynamicImage::ImageLuma8(i) => (i.as_raw().into(), fr::PixelType::U8),
        // Rarer decodes (16-bit, grey with alpha): one copy.
        other if other.color().has_alpha() => {
            (other.to_rgba8().into_raw().into(), fr::PixelType::U8x4)
        }
        other => (other.to_rgb8().into_raw().into(), fr::PixelType::U8x3),
    };
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Box))
        .use_alpha(false);
    let (from, to) = ((w, h), (aw, ah));
    let raw = match pixel {
        fr::PixelType::U8x4 => resize_typed::<fr::pixels::U8x4>(&raw, from, to, &options),
        fr::PixelType::U8 => resize_typed::<fr::pixels::U8>(&raw, from, to, &options),
        _ => resize_typed::<fr::pixels::U8x3>(&raw, from, to, &options),
    }
    .ok()?;
    let small = match pixel {
        fr::PixelType::U8x4 => {
            crate::color::flatten_on_white(&image::RgbaImage::from_raw(aw, ah, raw)?)
        }
        fr::PixelType::U8 => {
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(aw, ah, raw)?).into_rgb8()
        }
        _ => RgbImage::from_raw(aw, ah, raw)?,
    };
    let mut small = DynamicImage::ImageRgb8(small);
    small.apply_orientation(orientation);
    Some(small.into_rgb8())
}

/// Each pixel's score: edge strength (the luma gradient, 0–2), saturation
/// over a threshold (0–1) and a skin tone (1).
fn scores(img: &RgbImage) -> Vec<f64> {
    let (w, h) = img.dimensions();
    let luma: Vec<f64> = img
        .pixels()
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let at = |x: u32, y: u32| luma[(y * w + x) as usize];
    img.enumerate_pixels()
        .map(|(x, y, p)| {
            let dx = if x > 0 && x + 1 < w {
                (at(x + 1, y) - at(x - 1, y)).abs()
            } else {
                0.0
            };
            let dy = if y > 0 && y + 1 < h {
                (at(x, y + 1) - at(x, y - 1)).abs()
            } else {
                0.0
            };
            let edge = (dx + dy) / 255.0;
            let [r, g, b] = p.0.map(i32::from);
            let chroma = r.max(g).max(b) - r.min(g).min(b);
            let saturation = if chroma > 60 {
                f64::from(chroma) / 255.0
            } else {
                0.0
            };
            // Kovač, Peer and Solina's daylight skin rule.
            let skin = r > 95 && g > 40 && b > 20 && r > g && r > b && chroma > 15 && r - g > 15;
            edge + saturation + if skin { 1.0 } else { 0.0 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y))))
    }

    /// A grey 600x300 picture with a red disc (radius 60) centred at (`cx`, 150).
    fn disc_at(cx: i32) -> DynamicImage {
        image(600, 300, |x, y| {
            let (dx, dy) = (x as i32 - cx, y as i32 - 150);
            if dx * dx + dy * dy < 60 * 60 {
                [220, 40, 40]
            } else {
                [128, 128, 128]
            }
        })
    }

    #[test]
    fn a_subject_off_the_centre_pulls_the_square_to_it() {
        let img = disc_at(500);
        let crop = square(&img, Orientation::NoTransforms, (600, 300)).unwrap();
        assert_eq!((crop.y, crop.width, crop.height), (0, 300, 300));
        assert!(crop.x >= 250, "{crop:?}");
        // Upright, the same picture turned 90°: the square moves along y.
        let turned = square(&img, Orientation::Rotate90, (300, 600)).unwrap();
        assert_eq!((turned.x, turned.width), (0, 300));
        assert!(turned.y >= 250, "{turned:?}");
    }

    #[test]
    fn flat_symmetric_and_square_images_keep_the_centre() {
        let flat = image(600, 300, |_, _| [90, 120, 150]);
        assert_eq!(square(&flat, Orientation::NoTransforms, (600, 300)), None);
        let symmetric = image(600, 300, |x, _| {
            if !(100..500).contains(&x) {
                [200, 30, 30]
            } else {
                [128, 128, 128]
            }
        });
        assert_eq!(
            square(&symmetric, Orientation::NoTransforms, (600, 300)),
            None
        );
        assert_eq!(
            square(&disc_at(300), Orientation::NoTransforms, (600, 300)),
            None
        );
        let square_img = image(
            300,
            300,
            |x, _| if x > 250 { [220, 40, 40] } else { [0, 0, 0] },
        );
        assert_eq!(
            square(&square_img, Orientation::NoTransforms, (300, 300)),
            None
        );
    }
}
