// The crop box of the upload page: a square over the preview, in the
// upright picture's pixels (the browser shows the preview with its EXIF
// orientation applied, as the server measures it), that the user drags,
// resizes by its corner or the size slider, or moves with the keyboard.
// Its value is the upload's `crop` (docs/api.md, "Crop"); untouched, it
// is null and the server cuts the centre, which the box starts on.

const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);

export class CropBox {
  /** `elements`: { frame, img, box, handle, controls, size, info }. */
  constructor(elements) {
    Object.assign(this, elements);
    this.square = null; // { x, y, side } in picture pixels, or null when off
    this.touched = false;
    this.box.addEventListener("pointerdown", (e) => this.drag(e, e.target === this.handle ? "resize" : "move"));
    this.box.addEventListener("keydown", (e) => this.key(e));
    this.size.addEventListener("input", () => this.resize(Number(this.size.value)));
    window.addEventListener("resize", () => this.layout());
  }

  /** Shows the box on a `width`×`height` picture, centred and as large as
   *  it can be (the server's default), sides at least `minSide`; none when
   *  the picture is smaller than that. */
  show(width, height, minSide) {
    this.width = width;
    this.height = height;
    this.minSide = minSide;
    const side = Math.min(width, height);
    this.touched = false;
    if (side < minSide) {
      this.hide();
      return;
    }
    this.square = { x: Math.floor((width - side) / 2), y: Math.floor((height - side) / 2), side };
    this.size.min = String(minSide);
    this.size.max = String(side);
    this.box.hidden = false;
    this.controls.hidden = false;
    this.update(false);
  }

  hide() {
    this.square = null;
    this.box.hidden = true;
    this.controls.hidden = true;
  }

  /** The upload's crop, `{x, y, width, height}`; null when the user left
   *  the centre as it was. */
  value() {
    if (!this.square || !this.touched) return null;
    const { x, y, side } = this.square;
    return { x, y, width: side, height: side };
  }

  /** Moves the square to (x, y), kept inside the picture. */
  moveTo(x, y) {
    const { side } = this.square;
    this.square.x = Math.round(clamp(x, 0, this.width - side));
    this.square.y = Math.round(clamp(y, 0, this.height - side));
    this.update(true);
  }

  /** Resizes the square about its centre, kept inside the picture. */
  resize(side) {
    const s = this.square;
    const next = Math.round(clamp(side, this.minSide, Math.min(this.width, this.height)));
    const cx = s.x + s.side / 2;
    const cy = s.y + s.side / 2;
    s.side = next;
    this.moveTo(cx - next / 2, cy - next / 2);
  }

  /** Displayed pixels per picture pixel. */
  scale() {
    return this.img.clientWidth / this.width || 1;
  }

  drag(event, mode) {
    if (!this.square || event.button !== 0) return;
    event.preventDefault();
    this.box.focus();
    this.box.setPointerCapture(event.pointerId);
    const start = { px: event.clientX, py: event.clientY, ...this.square };
    const move = (e) => {
      const dx = (e.clientX - start.px) / this.scale();
      const dy = (e.clientY - start.py) / this.scale();
      if (mode === "move") {
        this.moveTo(start.x + dx, start.y + dy);
      } else {
        // The corner follows the pointer; the opposite corner stays.
        const room = Math.min(this.width - start.x, this.height - start.y);
        this.square.side = Math.round(clamp(start.side + Math.max(dx, dy), this.minSide, room));
        this.moveTo(start.x, start.y);
      }
    };
    const end = () => {
      this.box.removeEventListener("pointermove", move);
      this.box.removeEventListener("pointerup", end);
      this.box.removeEventListener("pointercancel", end);
    };
    this.box.addEventListener("pointermove", move);
    this.box.addEventListener("pointerup", end);
    this.box.addEventListener("pointercancel", end);
  }

  key(event) {
    if (!this.square) return;
    const { x, y, side } = this.square;
    const step = event.shiftKey ? Math.max(1, Math.round(side / 10)) : Math.max(1, Math.round(side / 100));
    const actions = {
      ArrowLeft: () => this.moveTo(x - step, y),
      ArrowRight: () => this.moveTo(x + step, y),
      ArrowUp: () => this.moveTo(x, y - step),
      ArrowDown: () => this.moveTo(x, y + step),
      Home: () => this.moveTo(0, y),
      End: () => this.moveTo(this.width, y),
      PageUp: () => this.moveTo(x, 0),
      PageDown: () => this.moveTo(x, this.height),
      "+": () => this.resize(side * 1.05),
      "=": () => this.resize(side * 1.05),
      "-": () => this.resize(side / 1.05),
      "−": () => this.resize(side / 1.05),
    };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  }

  /** Draws the square over the preview and says where it is. */
  update(touched) {
    this.touched ||= touched;
    this.layout();
    const { x, y, side } = this.square;
    this.size.value = String(side);
    this.info.textContent = `Square of ${side}×${side} pixels at ${x}, ${y}` +
      (this.touched ? "." : " (the centre).");
    this.box.dataset.crop = `${x},${y},${side}`;
  }

  layout() {
    if (!this.square) return;
    const k = this.scale();
    const { x, y, side } = this.square;
    Object.assign(this.box.style, {
      left: `${x * k}px`, top: `${y * k}px`, width: `${side * k}px`, height: `${side * k}px`,
    });
  }
}
