//! The square a user chooses (contract: the `crop` of `POST /api/v1/avatars`
//! and `POST /api/v1/avatars/uploads`): its checks, and where it lies in the
//! pixels a render decodes.
//!
//! A crop is given in the upright image's pixels — EXIF orientation applied,
//! the dimensions metadata shows — because that is the picture the user
//! drew the square on. Rendering cuts before it turns the image upright
//! (the small output is rotated, not the decode), so the square is mapped
//! back through the orientation, then scaled to the size shrink-on-load
//! decoded at.

/// A square of the upright image, pixels: left edge `x`, top edge `y`,
/// `width` × `height`. Width and height may differ by one pixel (a square
/// drawn on a scaled preview rounds); the region rendered is the exact
/// square of side (width + height) / 2 centred on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// Left edge, pixels from the upright image's left.
    pub x: u32,
    /// Top edge, pixels from the upright image's top.
    pub y: u32,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels: `width` ± 1.
    pub height: u32,
}

/// Why a crop was refused (contract: 400 "Invalid crop").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CropError {
    /// Width and height differ by more than a pixel.
    #[error("the crop must be square (within a pixel): {width}x{height}")]
    NotSquare {
        /// Requested width, pixels.
        width: u32,
        /// Requested height, pixels.
        height: u32,
    },
    /// Smaller than the smallest thumbnail: it would be upscaled.
    #[error("the crop's side ({side} px) is below the smallest thumbnail's ({min_side} px)")]
    TooSmall {
        /// The crop's shorter side, pixels.
        side: u32,
        /// The smallest thumbnail side of the deployment, pixels.
        min_side: u32,
    },
    /// Not inside the upright image.
    #[error("the crop {crop} is not inside the {width}x{height} image")]
    Outside {
        /// The crop, as `WxH+X+Y`.
        crop: String,
        /// The upright image's width, pixels.
        width: u32,
        /// The upright image's height, pixels.
        height: u32,
    },
}

impl Crop {
    /// The checks that need no image: square within a pixel, and a side
    /// of at least `min_side` pixels (the smallest thumbnail, so no
    /// thumbnail is upscaled from it).
    ///
    /// # Errors
    /// [`CropError::NotSquare`], [`CropError::TooSmall`].
    pub fn check_shape(&self, min_side: u32) -> Result<(), CropError> {
        if self.width.abs_diff(self.height) > 1 {
            return Err(CropError::NotSquare {
                width: self.width,
                height: self.height,
            });
        }
        if self.side() < min_side.max(1) {
            return Err(CropError::TooSmall {
                side: self.side(),
                min_side,
            });
        }
        Ok(())
    }

    /// The check that needs the image: the crop lies inside an upright
    /// image of `width` × `height` pixels.
    ///
    /// # Errors
    /// [`CropError::Outside`].
    pub fn check_within(&self, (width, height): (u32, u32)) -> Result<(), CropError> {
        let right = u64::from(self.x) + u64::from(self.width);
        let bottom = u64::from(self.y) + u64::from(self.height);
        if right > u64::from(width) || bottom > u64::from(height) {
            return Err(CropError::Outside {
                crop: format!("{}x{}+{}+{}", self.width, self.height, self.x, self.y),
                width,
                height,
            });
        }
        Ok(())
    }

    /// The shorter side, pixels: the largest thumbnail it gives without
    /// upscaling.
    pub fn side(&self) -> u32 {
        self.width.min(self.height)
    }

    /// The exact square rendered, in the stored (not yet upright) image of
    /// `stored` width × height whose EXIF orientation is `orientation`,
    /// scaled by `scale` (decoded over stored pixels, per axis):
    /// `(left, top, side_x, side_y)`, fractional pixels.
    pub(crate) fn region(
        &self,
        orientation: u8,
        stored: (u32, u32),
        scale: (f64, f64),
    ) -> (f64, f64, f64, f64) {
        let side = (f64::from(self.width) + f64::from(self.height)) / 2.0;
        let cx = f64::from(self.x) + f64::from(self.width) / 2.0;
        let cy = f64::from(self.y) + f64::from(self.height) / 2.0;
        let (x0, y0) = upright_to_stored(orientation, stored, (cx - side / 2.0, cy - side / 2.0));
        let (x1, y1) = upright_to_stored(orientation, stored, (cx + side / 2.0, cy + side / 2.0));
        let (left, top) = (x0.min(x1) * scale.0, y0.min(y1) * scale.1);
        (left, top, side * scale.0, side * scale.1)
    }
}

/// A point of the upright image (continuous pixel coordinates) in the
/// stored image of `w` × `h` that EXIF orientation `orientation` turns
/// upright (1 = as stored; 2–8 as TIFF/EXIF numbers them).
fn upright_to_stored(orientation: u8, (w, h): (u32, u32), (u, v): (f64, f64)) -> (f64, f64) {
    let (w, h) = (f64::from(w), f64::from(h));
    match orientation {
        2 => (w - u, v),     // mirrored
        3 => (w - u, h - v), // rotated 180°
        4 => (u, h - v),     // mirrored vertically
        5 => (v, u),         // transposed
        6 => (v, h - u),     // rotated 90° clockwise to be upright
        7 => (w - v, h - u), // transversed
        8 => (w - v, u),     // rotated 270° clockwise to be upright
        _ => (u, v),
    }
}

#[cfg(test)]
mod tests {
    use image::metadata::Orientation;
    use image::{DynamicImage, GenericImageView, RgbImage};

    use super::*;

    fn crop(x: u32, y: u32, width: u32, height: u32) -> Crop {
        Crop {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn shape_is_square_within_a_pixel_and_not_below_the_smallest_thumbnail() {
        assert_eq!(crop(0, 0, 100, 100).check_shape(100), Ok(()));
        assert_eq!(crop(0, 0, 101, 100).check_shape(100), Ok(()));
        assert_eq!(
            crop(0, 0, 102, 100).check_shape(100),
            Err(CropError::NotSquare {
                width: 102,
                height: 100
            })
        );
        assert_eq!(
            crop(0, 0, 100, 99).check_shape(100),
            Err(CropError::TooSmall {
                side: 99,
                min_side: 100
            })
        );
        assert!(crop(0, 0, 0, 0).check_shape(0).is_err());
    }

    #[test]
    fn within_means_every_edge_inside_the_upright_image() {
        assert_eq!(crop(0, 0, 400, 400).check_within((640, 400)), Ok(()));
        assert_eq!(crop(240, 0, 400, 400).check_within((640, 400)), Ok(()));
        let outside = crop(241, 0, 400, 400).check_within((640, 400)).unwrap_err();
        assert_eq!(
            outside.to_string(),
            "the crop 400x400+241+0 is not inside the 640x400 image"
        );
        assert!(crop(0, 1, 400, 400).check_within((640, 400)).is_err());
        // No overflow at the edges of u32.
        assert!(crop(u32::MAX, u32::MAX, u32::MAX, u32::MAX)
            .check_within((640, 400))
            .is_err());
    }

    /// The region mapped back through each orientation, cut from the stored
    /// pixels and turned upright, is the square cut from the upright image.
    #[test]
    fn region_in_the_stored_image_is_the_upright_square_for_every_orientation() {
        let stored = DynamicImage::ImageRgb8(RgbImage::from_fn(7, 5, |x, y| {
            image::Rgb([x as u8, y as u8, (x * 5 + y) as u8])
        }));
        for o in 1..=8u8 {
            let orientation = Orientation::from_exif(o).unwrap();
            let mut upright = stored.clone();
            upright.apply_orientation(orientation);
            for square in [crop(0, 0, 3, 3), crop(1, 2, 3, 3), crop(2, 1, 3, 3)] {
                if square.check_within(upright.dimensions()).is_err() {
                    continue;
                }
                let (left, top, w, h) = square.region(o, (7, 5), (1.0, 1.0));
                assert_eq!((w, h), (3.0, 3.0));
                assert_eq!((left.fract(), top.fract()), (0.0, 0.0), "orientation {o}");
                let mut cut = stored.crop_imm(left as u32, top as u32, 3, 3);
                cut.apply_orientation(orientation);
                let expected = upright.crop_imm(square.x, square.y, 3, 3);
                assert_eq!(
                    cut.to_rgb8(),
                    expected.to_rgb8(),
                    "orientation {o}, {square:?}"
                );
            }
        }
    }

    #[test]
    fn region_scales_with_the_decode_and_centres_a_square_off_by_a_pixel() {
        let (left, top, w, h) = crop(100, 40, 201, 200).region(1, (640, 400), (0.5, 0.5));
        assert_eq!((left, top, w, h), (50.125, 19.875, 100.25, 100.25));
    }
}
